"""The diff between two revisions of the store, as one SQL query over their views.

``diff(repo, a, b)`` opens both revisions on one connection (schema ``a`` and ``b``,
see ``Repo.pair``) and returns a DuckDB relation with one row per changed label:

* ``label_id``, ``asset_id`` (after the change, else before), ``kinds`` (a list of
  ``lineage.changes.Change`` values in Enum order), ``iou`` (for geometry changes);
* ``before`` / ``after``: the label's revision and content (every column of
  ``identity.CONTENT``) with a review summary ``{reviews, passes, verdict,
  reviewed_revision}`` over all the label's review rows; NULL on the side where the
  label is not current (``added`` / ``removed``).

How kinds are decided (the module ``lineage.changes`` lists which column belongs to
which kind):

* A label current in only one state is ``added`` or ``removed`` (plus ``review`` when
  its review rows differ); no other kind is reported for it.
* A geometry change is reported exactly once: ``geometry`` when the IoU of the two
  geometries (``lineage.geometry.iou_pairs``: boxes, rotated boxes, polygons and masks
  at the image size, keypoints by OKS) is >= ``iou_threshold`` (a small adjustment),
  ``moved`` when it is below. ``iou`` is given for both. A label moved to another asset
  is ``moved`` with IoU 0. IoU is computed for the changed pairs only, by the
  ``lineage_iou`` function every opened revision has (``lineage.query.iou``).
* A label whose content and review rows are equal in both states is not a change,
  even when its revision number differs (deleted and restored in between).
* The diff B -> A is the mirror of A -> B: ``added`` <-> ``removed``, ``before`` <->
  ``after``, every other kind and the IoU the same. (OKS of keypoints is not
  symmetric, so the geometry of the lower revision is always its reference.)

Two plans give identical results (the tests check it):

* **Fast path**, when A is an ancestor of B (every file of A is a file of B, as the
  append-only store guarantees along history): only the label events and reviews in
  the segments B added are read, plus A's current rows and reviews of the labels they
  touch. A label's current row in B is its latest new event (revisions only grow).
* **Full comparison** otherwise: the two current states (``a.labels``, ``b.labels``)
  are joined in full, and review rows are compared by ``review_id``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

from lineage.changes import COLUMNS, GEOMETRY_COLUMNS, Change
from lineage.query.iou import IOU_FUNCTION
from lineage.store.content import CONTENT

if TYPE_CHECKING:
    from lineage.query.result import Rows
    from lineage.query.snapshot import Pair

# The fields of ``before`` / ``after``.
ROW_FIELDS = ("revision", *CONTENT)
REVIEW_FIELDS = ("reviews", "passes", "verdict", "reviewed_revision")


def geometry_sql(alias: str) -> str:
    """The geometry struct ``lineage_iou`` takes, from a row (alias) with label columns."""
    return "struct_pack(" + ", ".join(f"{c} := {alias}.{c}" for c in GEOMETRY_COLUMNS) + ")"


def lit(value: str) -> str:
    """A SQL string literal."""
    return "'" + str(value).replace("'", "''") + "'"


def _list_lit(values: Iterable[str]) -> str:
    return "[" + ", ".join(lit(v) for v in values) + "]::VARCHAR[]"


# --------------------------------------------------------------------------- plan


@dataclass(frozen=True)
class Plan:
    """How to read the two states: ``fast`` with the files B added, or in full."""

    fast: bool
    new_files: dict[str, list[Path]] = field(default_factory=dict)


def plan(files_a, files_b, fast: bool | None = None) -> Plan:
    """The fast path when every file of A is a file of B (A is an ancestor of B)."""
    from lineage.store.schema import TABLES

    tables = ("label_events", "reviews")
    a_all = {p for t in TABLES for p in files_a.files(t)}
    b_all = {p for t in TABLES for p in files_b.files(t)}
    ancestor = a_all <= b_all
    if fast is None:
        fast = ancestor
    if fast and not ancestor:
        raise ValueError("the fast path needs A to be an ancestor of B")
    if not fast:
        return Plan(False)
    new = {t: [p for p in files_b.files(t) if p not in set(files_a.files(t))] for t in tables}
    return Plan(True, new)


# --------------------------------------------------------------------------- SQL

_FULL_SOURCES = """
a_cur AS (SELECT * FROM a.labels),
b_cur AS (SELECT * FROM b.labels),
a_rev AS (SELECT * FROM a.reviews),
b_rev AS (SELECT * FROM b.reviews),
review_changed AS (
    SELECT DISTINCT coalesce(x.label_id, y.label_id) AS label_id
    FROM a_rev x FULL JOIN b_rev y ON x.review_id = y.review_id
    WHERE x.review_id IS NULL OR y.review_id IS NULL
)"""

_FAST_SOURCES = """
new_events AS (SELECT * REPLACE (attributes::JSON AS attributes) FROM ({events})),
new_reviews AS ({reviews}),
touched AS (SELECT label_id FROM new_events UNION SELECT label_id FROM new_reviews),
a_cur AS (SELECT * FROM a.labels WHERE label_id IN (SELECT label_id FROM touched)),
b_cur AS (
    SELECT * FROM (
        SELECT * FROM new_events
        QUALIFY row_number() OVER (PARTITION BY label_id ORDER BY revision DESC) = 1
    ) WHERE op <> 'delete'
    UNION ALL BY NAME
    SELECT * FROM a_cur WHERE label_id NOT IN (SELECT label_id FROM new_events)
),
a_rev AS (SELECT * FROM a.reviews WHERE label_id IN (SELECT label_id FROM touched)),
b_rev AS (SELECT * FROM a_rev UNION ALL BY NAME SELECT * FROM new_reviews),
review_changed AS (SELECT DISTINCT label_id FROM new_reviews)"""

_REVIEW_SUMMARY = """
SELECT label_id,
       count(*) AS reviews,
       count(DISTINCT pass) FILTER (WHERE kind = 'review') AS passes,
       arg_max(verdict, struct_pack(r := revision, p := pass, t := reviewed_at, i := review_id))
           AS verdict,
       max(revision) AS reviewed_revision
FROM {source} GROUP BY label_id"""

_DIFF = """
WITH
{sources},
rs_a AS ({rs_a}),
rs_b AS ({rs_b}),
pairs AS (
    SELECT
        coalesce(y.label_id, x.label_id) AS label_id,
        x.label_id IS NOT NULL AS in_a,
        y.label_id IS NOT NULL AS in_b,
        x.asset_id IS DISTINCT FROM y.asset_id AS asset_changed,
        {geom_x} IS DISTINCT FROM {geom_y} AS geometry_changed,
        {flags},
        rc.label_id IS NOT NULL AS review_changed,
        CASE WHEN x.label_id IS NOT NULL THEN struct_pack({row_x}, reviews := {rs_x}) END
            AS before,
        CASE WHEN y.label_id IS NOT NULL THEN struct_pack({row_y}, reviews := {rs_y}) END
            AS after,
        {geom_x} AS geom_before,
        {geom_y} AS geom_after
    FROM a_cur x
    FULL JOIN b_cur y ON x.label_id = y.label_id
    LEFT JOIN rs_a ra ON ra.label_id = x.label_id
    LEFT JOIN rs_b rb ON rb.label_id = y.label_id
    LEFT JOIN review_changed rc ON rc.label_id = coalesce(y.label_id, x.label_id)
),
candidates AS (
    SELECT * FROM pairs
    WHERE NOT (in_a AND in_b) OR review_changed OR asset_changed OR geometry_changed
       OR {any_flag}
),
measured AS (
    SELECT c.label_id,
           CASE WHEN c.asset_changed THEN 0.0
                WHEN c.before.revision <= c.after.revision
                    THEN {iou}(c.geom_before, c.geom_after, s.height, s.width)
                ELSE {iou}(c.geom_after, c.geom_before, s.height, s.width) END AS iou
    FROM candidates c
    LEFT JOIN b.assets s ON s.asset_id = c.after.asset_id
    WHERE c.in_a AND c.in_b AND (c.geometry_changed OR c.asset_changed)
),
changes AS (
    SELECT
        c.label_id,
        coalesce(c.after.asset_id, c.before.asset_id) AS asset_id,
        list_filter([
            CASE WHEN NOT c.in_a THEN '{added}' END,
            CASE WHEN NOT c.in_b THEN '{removed}' END,
            CASE WHEN m.iou >= {threshold} THEN '{geometry}' END,
            CASE WHEN m.iou < {threshold} THEN '{moved}' END,
            {kind_cases},
            CASE WHEN c.review_changed THEN '{review}' END
        ], lambda k: k IS NOT NULL) AS kinds,
        m.iou,
        c.before,
        c.after
    FROM candidates c
    LEFT JOIN measured m ON m.label_id = c.label_id
)
SELECT * FROM changes
WHERE len(kinds) > 0{filters}
ORDER BY asset_id, label_id
"""


def diff_sql(
    pair,
    *,
    iou_threshold: float = 0.5,
    classes: Sequence[str] = (),
    annotators: Sequence[str] = (),
    fast: bool | None = None,
    plan_: Plan | None = None,
) -> str:
    """The SQL of the diff between the two revisions a pair snapshot holds (schemas
    ``a`` and ``b``, see ``Repo.pair``; every opened revision has ``lineage_iou``).
    ``plan_``: the plan already made for this pair (else made here)."""
    how = plan_ or plan(pair.base, pair.files, fast)
    if how.fast:
        sources = _FAST_SOURCES.format(
            events=_segments_sql("label_events", how.new_files["label_events"]),
            reviews=_segments_sql("reviews", how.new_files["reviews"]),
        )
    else:
        sources = _FULL_SOURCES
    kind_flags = {kind: f"{kind.name.lower()}_changed" for kind in COLUMNS}
    flags = ",\n        ".join(
        f"{_struct('x', cols)} IS DISTINCT FROM {_struct('y', cols)} AS {kind_flags[kind]}"
        for kind, cols in COLUMNS.items()
    )
    kind_cases = ",\n            ".join(
        f"CASE WHEN c.in_a AND c.in_b AND c.{flag} THEN '{kind.value}' END"
        for kind, flag in kind_flags.items()
    )
    filters = ""
    if classes:
        filters += (
            f"\n  AND list_has_any([before.class_name, after.class_name], {_list_lit(classes)})"
        )
    if annotators:
        filters += (
            "\n  AND list_has_any([before.annotator_id, after.annotator_id], "
            f"{_list_lit(annotators)})"
        )
    return _DIFF.format(
        sources=sources.strip(),
        rs_a=_REVIEW_SUMMARY.format(source="a_rev").strip(),
        rs_b=_REVIEW_SUMMARY.format(source="b_rev").strip(),
        geom_x=geometry_sql("x"),
        geom_y=geometry_sql("y"),
        flags=flags,
        any_flag=" OR ".join(kind_flags.values()),
        row_x=", ".join(f"{c} := x.{c}" for c in ROW_FIELDS),
        row_y=", ".join(f"{c} := y.{c}" for c in ROW_FIELDS),
        rs_x=_review_struct("ra"),
        rs_y=_review_struct("rb"),
        iou=IOU_FUNCTION,
        threshold=repr(float(iou_threshold)),
        kind_cases=kind_cases,
        filters=filters,
        added=Change.ADDED.value,
        removed=Change.REMOVED.value,
        review=Change.REVIEW.value,
        geometry=Change.GEOMETRY.value,
        moved=Change.MOVED.value,
    ).strip()


def _struct(alias: str, cols: Sequence[str]) -> str:
    return "struct_pack(" + ", ".join(f"{c} := {alias}.{c}" for c in cols) + ")"


def _review_struct(alias: str) -> str:
    return (
        f"struct_pack(reviews := coalesce({alias}.reviews, 0), "
        f"passes := coalesce({alias}.passes, 0), verdict := {alias}.verdict, "
        f"reviewed_revision := {alias}.reviewed_revision)"
    )


def _segments_sql(table: str, paths: list[Path]) -> str:
    """The rows of some segment files of ``table``, conformed like ``{table}_raw``."""
    empty = f"SELECT * FROM b._empty_{table}"
    if not paths:
        return empty
    files = "[" + ", ".join(lit(str(p)) for p in paths) + "]"
    return f"{empty} UNION ALL BY NAME SELECT * FROM read_parquet({files}, union_by_name = true)"


# --------------------------------------------------------------------------- API


@dataclass
class Diff:
    """An open diff: the relation and the pair snapshot it runs on (close when done)."""

    relation: duckdb.DuckDBPyRelation
    sql: str
    pair: Pair
    fast: bool

    FORMS = ("changes", "flat", "table", "summary")

    def form_sql(self, form: str = "changes") -> str:
        """The SQL of one form: ``changes`` (nested before/after, for JSON), ``flat``
        (one column per value, for CSV), ``table`` (short, for people), ``summary``
        (counts per kind, class, annotator, asset)."""
        if form == "changes":
            return self.sql
        forms = {"flat": flat_sql, "table": table_sql, "summary": summary_sql}
        if form not in forms:
            raise ValueError(f"form must be one of {', '.join(self.FORMS)}, not {form!r}")
        return forms[form](self.sql)

    def rows(self, form: str = "changes") -> Rows:
        """The rows of one form (they share this diff's pair: close the diff)."""
        from lineage.query.result import Rows

        title = f"{self.source['rev']} → {self.target['rev']}"
        return Rows(self.pair, self.form_sql(form), title=title, owns=False)

    @property
    def source(self) -> dict:
        return _side(self.pair.base)

    @property
    def target(self) -> dict:
        return _side(self.pair.files)

    def summary(self) -> dict:
        return summary(self.pair.con, self.sql)

    def materialize(self) -> None:
        """Compute the diff once into a temporary table, for readers that need it twice
        (the summary, then the changes)."""
        self.pair.con.sql(f"CREATE OR REPLACE TEMP TABLE _lineage_diff AS {self.sql}")
        self.sql = "SELECT * FROM _lineage_diff ORDER BY asset_id, label_id"
        self.relation = self.pair.con.sql(self.sql)

    def close(self) -> None:
        self.pair.close()

    def __enter__(self) -> Diff:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _side(files) -> dict:
    return {"rev": files.label, "commit": files.commit}


def open_diff(
    pair: Pair,
    *,
    iou_threshold: float = 0.5,
    classes: Sequence[str] = (),
    annotators: Sequence[str] = (),
    fast: bool | None = None,
) -> Diff:
    """The diff of an open pair (A -> B); closing the Diff closes the pair."""
    how = plan(pair.base, pair.files, fast)
    sql = diff_sql(
        pair, iou_threshold=iou_threshold, classes=classes, annotators=annotators, plan_=how
    )
    return Diff(pair.con.sql(sql), sql, pair, how.fast)


def create_view(pair, name: str = "diff", **options) -> None:
    """Add the diff as a view (``diff`` by default) to a pair snapshot, so user SQL
    (``pair.sql("select kinds, count(*) from diff group by all")``) can query it."""
    pair.con.execute(f"CREATE VIEW main.{name} AS {diff_sql(pair, **options)}")


# --------------------------------------------------------------------------- summary

SUMMARY_GROUPS = {
    "kind": None,
    "class": "coalesce(after.class_name, before.class_name)",
    "annotator": "coalesce(after.annotator_id, before.annotator_id)",
    "asset": "asset_id",
}


def summary_sql(diff_query: str) -> str:
    """Counts of changed labels per kind, class, annotator and asset, plus the total:
    rows ``(dimension, key, labels)``."""
    parts = [
        "SELECT 'total' AS dimension, NULL::VARCHAR AS key, count(*) AS labels, 0 AS _g FROM d",
        "SELECT 'kind', kind, count(*), 1 FROM (SELECT unnest(kinds) AS kind FROM d) GROUP BY kind",
    ]
    for i, (name, expr) in enumerate(list(SUMMARY_GROUPS.items())[1:], start=2):
        parts.append(
            f"SELECT '{name}', coalesce({expr}, '(none)'), count(*), {i} FROM d GROUP BY 2"
        )
    order = " ".join(f"WHEN {lit(k.value)} THEN {i}" for i, k in enumerate(Change))
    return (
        f"WITH d AS (\n{diff_query}\n)\n"
        f"SELECT dimension, key, labels FROM (\n" + "\nUNION ALL\n".join(parts) + "\n)\n"
        f"ORDER BY _g, CASE WHEN _g = 1 THEN CASE key {order} END END, labels DESC, key"
    )


def summary(con: duckdb.DuckDBPyConnection, diff_query: str) -> dict:
    """The summary as one object: ``{labels, kinds, classes, annotators, assets}``."""
    rows = con.sql(summary_sql(diff_query)).fetchall()
    out: dict = {"labels": 0, "kinds": {}, "classes": {}, "annotators": {}, "assets": {}}
    plural = {"kind": "kinds", "class": "classes", "annotator": "annotators", "asset": "assets"}
    for by, key, n in rows:
        if by == "total":
            out["labels"] = n
        else:
            out[plural[by]][key] = n
    return out


# --------------------------------------------------------------------------- output forms


def _arrow(before: str, after: str) -> str:
    """'x → y' when a value changed, else the value (for a readable table)."""
    return (
        f"CASE WHEN before IS NULL THEN {after} WHEN after IS NULL THEN {before} "
        f"WHEN {before} IS DISTINCT FROM {after} "
        f"THEN coalesce({before}, '∅') || ' → ' || coalesce({after}, '∅') ELSE {after} END"
    )


def _bbox_text(side: str) -> str:
    return (
        f"concat_ws(',', round({side}.bbox.x, 2), round({side}.bbox.y, 2), "
        f"round({side}.bbox.w, 2), round({side}.bbox.h, 2))"
    )


def _reviews_text(side: str) -> str:
    return (
        f"CASE WHEN {side}.reviews.reviews = 0 THEN 'unreviewed' ELSE "
        f"{side}.reviews.passes || ' pass(es), ' || coalesce({side}.reviews.verdict, '?') END"
    )


def table_sql(diff_query: str) -> str:
    """The diff for people: one row per label, 'before → after' where a value changed."""
    cols = {
        "kinds": "array_to_string(kinds, ', ')",
        "iou": "round(iou, 3)",
        "class": _arrow("before.class_name", "after.class_name"),
        "bbox": _arrow(_bbox_text("before"), _bbox_text("after")),
        "annotator": _arrow("before.annotator_id", "after.annotator_id"),
        "source": _arrow(
            "concat_ws(' ', before.source, before.model_version)",
            "concat_ws(' ', after.source, after.model_version)",
        ),
        "revision": _arrow("before.revision::VARCHAR", "after.revision::VARCHAR"),
        "reviews": _arrow(_reviews_text("before"), _reviews_text("after")),
    }
    select = ",\n       ".join(f"{expr} AS {name}" for name, expr in cols.items())
    return f"WITH d AS (\n{diff_query}\n)\nSELECT label_id, asset_id,\n       {select}\nFROM d"


def flat_sql(diff_query: str) -> str:
    """The diff with ``before_*`` / ``after_*`` columns instead of structs (for CSV)."""
    fields = [*ROW_FIELDS, *REVIEW_FIELDS]
    cols = []
    for side in ("before", "after"):
        for f in fields:
            src = f"{side}.reviews.{f}" if f in REVIEW_FIELDS else f"{side}.{f}"
            name = f"{side}_review_{f}" if f in REVIEW_FIELDS and f != "reviews" else f"{side}_{f}"
            cols.append(f"{src} AS {name}")
    return (
        f"WITH d AS (\n{diff_query}\n)\nSELECT label_id, asset_id, kinds, iou,\n       "
        + ",\n       ".join(cols)
        + "\nFROM d"
    )
