"""Agreement between annotators over one revision of the store, figure by figure.

``agreement(repo, rev, by=...)`` returns an Arrow table, one row per figure: the keys of
its subject (an annotator pair, an annotator, a class), ``figure``, ``value``,
``n_items`` (what the figure rests on) and ``note`` (why it is undefined, or a caution
when it rests on fewer than ``agreement_stats.MIN_ITEMS`` items).

Who counts as a rater, and on what:

* Each current label (``labels`` view) counts for the annotator who created it, as
  that annotator last drew it: a reviewer's later fix is not the creator's work, nor
  an independent label by the reviewer. Labels created by a model (``source`` model)
  or with no annotator are left out: predictions are not annotators.
* An annotator *labelled* an asset when they have any label on it. Assets labelled
  by two or more annotators are the shared items; an annotator's objects on such an
  asset are compared with each other annotator's (an annotator with only an image-level
  label there has drawn no object, so the other's objects count as misses or extras).
* **Objects** (every shape but ``classification``) are matched per annotator pair and
  asset by ``object_match.match_many`` (IoU, OKS for keypoints, optimal one-to-one),
  the alphabetically first annotator of the pair being the reference A.
* **Image-level classes**: an annotator's rating of an asset is the set of their
  ``classification`` labels' classes, joined with ``+`` (multi-label answers are one
  category). Items are assets with two ratings or more.
* **Gold**: Label Studio ``ground_truth`` annotations (``attributes.gold = true``):
  on an asset with gold labels, the gold annotator's labels are the reference for every
  other annotator there; and reviews of kind ``gold``: a label revision agrees with gold
  when every gold review of it accepts it.
* **Rejection rate**: as the audit's ``limits.rejection_rate`` check counts it: label
  revisions an annotator made that had a ``review`` pass, rejected when any verdict is
  ``reject``.
* **Fix IoU**: a label revision that got a ``fix`` or ``reject`` verdict, against the
  first later revision of the label by someone else (``geometry.iou_pairs``); a low
  mean means reviewers moved the annotator's geometry far.

Everything is SQL over the views (in the snapshot's connection) and NumPy; Python
loops only over annotator pairs, classes and (in ``match_many``) asset groups.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from lineage import geometry
from lineage.audit.agreement_stats import (
    Agreement,
    cohen_kappa_result,
    fleiss_kappa_result,
    krippendorff_alpha_nominal_result,
    reliability_note,
)
from lineage.audit.object_match import MatchSummary, match_many
from lineage.errors import InputError

if TYPE_CHECKING:
    from lineage.query.snapshot import Snapshot

BY = ("pair", "annotator", "class")
KEYS = {"pair": ("annotator_a", "annotator_b"), "annotator": ("annotator_id",), "class": ("class_name",)}  # fmt: skip
_GEOMETRY = ("shape", "bbox", "rotation", "polygon", "keypoints", "mask_rle")
_BOX_COLUMNS = ("class_name", "shape", "bbox", "rotation")  # what match_many's box path reads


def check_options(by: str, iou_threshold: float) -> None:
    """Refuse an unknown grouping or an IoU threshold outside [0, 1]."""
    if by not in BY:
        raise InputError(f"by must be one of {', '.join(BY)}, not '{by}'", field="by")
    if not 0.0 <= iou_threshold <= 1.0 or math.isnan(iou_threshold):
        raise InputError(
            f"iou_threshold must be between 0 and 1, not {iou_threshold}", field="iou_threshold"
        )


def agreement(snap: Snapshot, *, by: str = "pair", iou_threshold: float = 0.5) -> pa.Table:
    """Agreement figures of an open revision per annotator pair, annotator or class.

    ``by="pair"``: object precision / recall / F1, mean IoU, class agreement and Cohen's
    kappa of matched objects' classes, Cohen's kappa of image-level classes.
    ``by="annotator"``: object F1 and mean IoU against the others, agreement (and
    kappa) with the others' majority class, agreement with gold, rejection rate, mean
    IoU of fixes. ``by="class"``: Fleiss' kappa and Krippendorff's alpha of image-level
    classes over all annotators (``class_name`` null), and per class the class-aware
    object F1 and mean IoU and the one-vs-rest alpha of image-level labels.
    """
    check_options(by, iou_threshold)
    data = _prepare(snap.con)
    out = _Figures(KEYS[by])
    if by == "pair":
        _pair_figures(data, iou_threshold, out)
    elif by == "annotator":
        _annotator_rows(data, iou_threshold, out)
    else:
        _class_figures(data, iou_threshold, out)
    return out.table()


def annotator_figures(snap: Snapshot) -> dict[str, dict]:
    """Per annotator, what the audit's limits need: ``rejection_rate`` and ``n_reviewed``,
    ``agreement`` and ``n_items``, and ``agreement_figure`` naming which agreement it is.

    ``agreement`` is the annotator's object F1 against the others when they have objects
    on shared assets (``object_f1_vs_others``), else Cohen's kappa of their image-level
    classes against the others' majority (``consensus_kappa``); nan with ``n_items`` 0
    when neither exists.
    """
    return _annotator_dict(snap)


def _annotator_dict(snap: Snapshot) -> dict[str, dict]:
    rows = agreement(snap, by="annotator").to_pylist()
    figures: dict[str, dict[str, tuple[float, int]]] = {}
    for r in rows:
        figures.setdefault(r["annotator_id"], {})[r["figure"]] = (r["value"], r["n_items"])
    out = {}
    for who, f in figures.items():
        rate, reviewed = f.get("rejection_rate", (math.nan, 0))
        name = (
            "object_f1_vs_others" if f.get("object_f1_vs_others", (0, 0))[1] else "consensus_kappa"
        )
        value, n = f.get(name, (math.nan, 0))
        out[who] = {
            "rejection_rate": rate,
            "n_reviewed": reviewed,
            "agreement": value,
            "n_items": n,
            "agreement_figure": name,
        }
    return out


# --------------------------------------------------------------------------- figures


@dataclass
class _Figures:
    """Rows of the result: keys of the subject, figure, value, n_items, note."""

    keys: tuple[str, ...]
    rows: list[tuple] = field(default_factory=list)

    def add(
        self,
        key: tuple,
        figure: str,
        value: float,
        n_items: int,
        why: str | None = None,
        scope: str | None = None,
    ) -> None:
        """One figure; ``why`` explains a nan value, ``scope`` says what it covers."""
        value = float(value) if value is not None else math.nan
        if math.isnan(value):
            caution = why or "undefined: nothing to compare"
        else:
            caution = reliability_note(int(n_items))  # type: ignore[assignment]  # checked before use
        note = "; ".join(n for n in (scope, caution) if n) or None
        self.rows.append((*key, figure, value, int(n_items), note))

    def count(self, key: tuple, figure: str, n: int) -> None:
        """A count (no estimate, so no caution): value and n_items are both ``n``."""
        self.rows.append((*key, figure, float(n), int(n), None))

    def agreement(self, key: tuple, figure: str, result: Agreement) -> None:
        self.add(key, figure, result.value, result.n_items, result.undefined)

    def table(self) -> pa.Table:
        names = [*self.keys, "figure", "value", "n_items", "note"]
        types = [pa.string()] * (len(self.keys) + 1) + [pa.float64(), pa.int64(), pa.string()]
        cols = list(zip(*self.rows, strict=True)) if self.rows else [()] * len(names)
        return pa.table(
            [pa.array(list(c), t) for c, t in zip(cols, types, strict=True)],
            schema=pa.schema(list(zip(names, types, strict=True))),
        )


def _objects(out: _Figures, key: tuple, s: MatchSummary, prefix: str = "object") -> None:
    """P/R/F1 and mean IoU of a match summary (only when there were objects)."""
    if not s.n_a and not s.n_b:
        return
    out.add(key, f"{prefix}_precision", s.precision, s.n_b, "B has no object")
    out.add(key, f"{prefix}_recall", s.recall, s.n_a, "A has no object")
    out.add(key, f"{prefix}_f1", s.f1, s.tp + s.fp + s.fn)
    out.add(key, f"{prefix}_mean_iou", s.mean_iou, s.tp, "no matched objects")


# --------------------------------------------------------------------------- data


@dataclass
class _Data:
    """The revision's raters, objects and ratings, staged as temp tables on ``con``."""

    con: duckdb.DuckDBPyConnection
    objects: pa.Table  # rows of _ag_obj in _row order
    sizes: dict  # asset -> (height, width), for assets with regions

    def arrow(self, sql: str) -> pa.Table:
        return self.con.sql(sql).to_arrow_table()


PREPARE = [
    # each current label as its creator last drew it (reviewers' fixes are not the
    # creator's work); human creators only; gold = Label Studio ground truth
    """CREATE OR REPLACE TEMP TABLE _ag_labels AS
WITH per_label AS (
    SELECT label_id, arg_min(annotator_id, revision) AS creator,
           arg_min(source, revision) AS source, arg_max(op, revision) AS last_op
    FROM label_events GROUP BY 1
),
own AS (  -- the creator's latest revision of each live label
    SELECT e.label_id, max(e.revision) AS revision
    FROM label_events e
    JOIN per_label p ON p.label_id = e.label_id AND p.creator = e.annotator_id
    WHERE p.last_op <> 'delete' AND e.op <> 'delete' AND coalesce(p.source, 'human') <> 'model'
    GROUP BY 1
)
SELECT e.label_id, e.asset_id, e.annotator_id, e.class_name, e.shape, e.bbox, e.rotation,
       e.polygon, e.keypoints, e.mask_rle,
       coalesce(lower(e.attributes->>'$.gold') IN ('true', '1'), false) AS gold
FROM label_events e JOIN own o ON o.label_id = e.label_id AND o.revision = e.revision""",
    # who labelled each asset labelled by two annotators or more
    """CREATE OR REPLACE TEMP TABLE _ag_raters AS
SELECT asset_id, annotator_id FROM (
    SELECT asset_id, annotator_id, count(*) OVER (PARTITION BY asset_id) AS raters
    FROM (SELECT DISTINCT asset_id, annotator_id FROM _ag_labels)
) WHERE raters >= 2""",
    """CREATE OR REPLACE TEMP TABLE _ag_pairs AS
SELECT r1.annotator_id AS a, r2.annotator_id AS b, r1.asset_id
FROM _ag_raters r1 JOIN _ag_raters r2
  ON r2.asset_id = r1.asset_id AND r1.annotator_id < r2.annotator_id""",
    # objects on shared assets, numbered so that every (asset, annotator[, class]) is a run
    """CREATE OR REPLACE TEMP TABLE _ag_obj AS
SELECT row_number() OVER (ORDER BY asset_id, annotator_id, class_name NULLS LAST, label_id) - 1
           AS _row, *
FROM _ag_labels
WHERE shape <> 'classification' AND asset_id IN (SELECT asset_id FROM _ag_raters)""",
    """CREATE OR REPLACE TEMP TABLE _ag_groups AS
SELECT asset_id, annotator_id, class_name, min(_row) AS start, count(*) AS n
FROM _ag_obj GROUP BY ALL""",
    """CREATE OR REPLACE TEMP TABLE _ag_runs AS
SELECT asset_id, annotator_id, min(start) AS start, sum(n)::BIGINT AS n
FROM _ag_groups GROUP BY ALL""",
    # image-level ratings: one category per (asset, annotator)
    """CREATE OR REPLACE TEMP TABLE _ag_ratings AS
SELECT asset_id, annotator_id,
       string_agg(DISTINCT coalesce(class_name, ''), '+' ORDER BY coalesce(class_name, ''))
           AS rating,
       bool_or(gold) AS gold
FROM _ag_labels WHERE shape = 'classification' GROUP BY ALL""",
    """CREATE OR REPLACE TEMP TABLE _ag_items AS
SELECT * FROM _ag_ratings WHERE asset_id IN (
    SELECT asset_id FROM _ag_ratings GROUP BY 1 HAVING count(*) >= 2)""",
]


def _prepare(con: duckdb.DuckDBPyConnection) -> _Data:
    for sql in PREPARE:
        con.execute(sql)
    # boxes only (the common case): hand the matcher just the columns its box path reads,
    # which makes the per-asset slices half as dear
    [(others,)] = con.execute(
        "SELECT count(*) FROM _ag_obj WHERE shape <> 'box' OR coalesce(rotation, 0) % 360 <> 0"
    ).fetchall()
    cols = ", ".join(("class_name", *_GEOMETRY) if others else _BOX_COLUMNS)
    objects = con.sql(f"SELECT {cols} FROM _ag_obj ORDER BY _row").to_arrow_table()
    sizes = con.sql(
        """SELECT asset_id, height, width FROM assets
        WHERE height > 0 AND width > 0 AND asset_id IN (
            SELECT asset_id FROM _ag_obj WHERE shape IN ('polygon', 'mask'))"""
    ).fetchall()
    return _Data(con, objects.combine_chunks(), {a: (h, w) for a, h, w in sizes})


def _groups(data: _Data, units: pa.Table) -> Iterator[tuple]:
    """``(asset, objects of A, objects of B)`` per row of ``units`` (sa, na, sb, nb)."""
    asset = units.column("asset_id").to_pylist()
    sa, na, sb, nb = (units.column(c).to_numpy().tolist() for c in ("sa", "na", "sb", "nb"))
    obj = data.objects
    for i in range(units.num_rows):
        yield asset[i], obj.slice(sa[i], na[i]), obj.slice(sb[i], nb[i])


def _runs(column: pa.ChunkedArray | pa.Array) -> list[tuple[object, int, int]]:
    """(value, start, stop) of each run of equal values in a sorted column."""
    arr = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if len(arr) == 0:
        return []
    codes = pc.fill_null(pc.dictionary_encode(arr).indices, -1).to_numpy(zero_copy_only=False)
    starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])
    stops = np.r_[starts[1:], len(codes)]
    values = arr.take(pa.array(starts)).to_pylist()
    return list(zip(values, starts.tolist(), stops.tolist(), strict=True))


_SLICE = "coalesce({g}.start, 0) AS s{s}, coalesce({g}.n, 0) AS n{s}"


def _pair_units(data: _Data) -> pa.Table:
    return data.arrow(
        f"""SELECT p.a, p.b, p.a || chr(0) || p.b AS pair, p.asset_id,
       {_SLICE.format(g="ga", s="a")}, {_SLICE.format(g="gb", s="b")}
FROM _ag_pairs p
LEFT JOIN _ag_runs ga ON ga.asset_id = p.asset_id AND ga.annotator_id = p.a
LEFT JOIN _ag_runs gb ON gb.asset_id = p.asset_id AND gb.annotator_id = p.b
ORDER BY p.a, p.b, p.asset_id"""
    )


def _pair_matches(data: _Data, iou_threshold: float) -> dict[tuple[str, str], MatchSummary]:
    units = _pair_units(data)
    out = {}
    for _, lo, hi in _runs(units.column("pair")):
        part = units.slice(lo, hi - lo)
        a, b = part.column("a")[0].as_py(), part.column("b")[0].as_py()
        out[(a, b)] = match_many(_groups(data, part), iou_threshold, data.sizes)
    return out


# --------------------------------------------------------------------------- by pair


def _pair_figures(data: _Data, iou_threshold: float, out: _Figures) -> None:
    shared = {
        (a, b): n
        for a, b, n in data.con.sql(
            "SELECT a, b, count(*) FROM _ag_pairs GROUP BY ALL ORDER BY a, b"
        ).fetchall()
    }
    matches = _pair_matches(data, iou_threshold)
    image = _pair_kappas(data)
    for key, n in shared.items():
        out.count(key, "shared_assets", n)
        s = matches.get(key)
        if s is not None:
            _objects(out, key, s)
            if s.n_a or s.n_b:
                out.add(
                    key, "object_class_agreement", s.class_agreement, s.tp, "no matched objects"
                )
                out.agreement(key, "object_class_kappa", s.class_kappa)
        if key in image:
            raw, kappa = image[key]
            out.add(key, "image_class_agreement", raw, kappa.n_items)
            out.agreement(key, "image_class_kappa", kappa)


def _pair_kappas(data: _Data) -> dict[tuple[str, str], tuple[float, Agreement]]:
    """Per pair: raw agreement and Cohen's kappa of image-level ratings on shared items."""
    t = data.arrow(
        """SELECT r1.annotator_id AS a, r2.annotator_id AS b, r1.annotator_id || chr(0) ||
       r2.annotator_id AS pair, r1.rating AS ra, r2.rating AS rb
FROM _ag_items r1 JOIN _ag_items r2
  ON r2.asset_id = r1.asset_id AND r1.annotator_id < r2.annotator_id
ORDER BY a, b, r1.asset_id"""
    )
    ra = t.column("ra").to_numpy(zero_copy_only=False)
    rb = t.column("rb").to_numpy(zero_copy_only=False)
    out = {}
    for _, lo, hi in _runs(t.column("pair")):
        key = (t.column("a")[lo].as_py(), t.column("b")[lo].as_py())
        out[key] = (
            float(np.mean(ra[lo:hi] == rb[lo:hi])),
            cohen_kappa_result(ra[lo:hi], rb[lo:hi]),
        )
    return out


# --------------------------------------------------------------------------- by annotator


def _annotator_rows(data: _Data, iou_threshold: float, out: _Figures) -> None:
    names = [
        r[0]
        for r in data.con.sql(
            """SELECT annotator_id FROM _ag_raters UNION
            SELECT annotator_id FROM _ag_ratings UNION
            SELECT e.annotator_id FROM label_events e JOIN reviews r
                ON r.label_id = e.label_id AND r.revision = e.revision
            WHERE e.annotator_id IS NOT NULL ORDER BY 1"""
        ).fetchall()
    ]
    shared = dict(
        data.con.sql("SELECT annotator_id, count(*) FROM _ag_raters GROUP BY 1").fetchall()
    )
    totals = _vs_others(_pair_matches(data, iou_threshold))
    consensus = _consensus(data)
    gold_objects = _gold_objects(data, iou_threshold)
    gold_classes = dict_rows(data.con, GOLD_CLASSES_SQL)
    gold_reviews = dict_rows(data.con, GOLD_REVIEWS_SQL)
    rejections = dict_rows(data.con, REJECTIONS_SQL)
    fixes = _fix_ious(data)
    for who in names:
        key = (who,)
        out.count(key, "shared_assets", shared.get(who, 0))
        if who in totals:
            tp, fp, fn, iou = totals[who]
            out.add(key, "object_f1_vs_others", _ratio(2 * tp, 2 * tp + fp + fn), tp + fp + fn)
            out.add(key, "object_mean_iou_vs_others", _ratio(iou, tp), tp, "no matched objects")
        if who in consensus:
            raw, kappa = consensus[who]
            out.add(key, "consensus_agreement", raw, kappa.n_items)
            out.agreement(key, "consensus_kappa", kappa)
        if who in gold_objects:
            _objects(out, key, gold_objects[who], prefix="gold_object")
        if who in gold_classes:
            n, agreed = gold_classes[who]
            out.add(key, "gold_class_agreement", _ratio(agreed, n), n)
        if who in gold_reviews:
            n, agreed = gold_reviews[who]
            out.add(key, "gold_review_agreement", _ratio(agreed, n), n)
        if who in rejections:
            n, rejected, fixed = rejections[who]
            out.add(key, "rejection_rate", _ratio(rejected, n), n)
            out.add(key, "fix_rate", _ratio(fixed, n), n)
        if who in fixes:
            n, total = fixes[who]
            out.add(key, "fix_mean_iou", _ratio(total, n), n)


def _ratio(num: float, den: float) -> float:
    return num / den if den else math.nan


def dict_rows(con: duckdb.DuckDBPyConnection, sql: str) -> dict[str, tuple]:
    """First column -> the rest of the row."""
    return {r[0]: tuple(r[1:]) for r in con.sql(sql).fetchall()}


def _vs_others(matches: dict[tuple[str, str], MatchSummary]) -> dict[str, tuple]:
    """Per annotator, (tp, fp, fn, summed IoU) over every pair they are in (F1 is
    symmetric, so which side is the reference does not matter)."""
    totals: dict[str, list[float]] = {}
    for (a, b), s in matches.items():
        if not s.n_a and not s.n_b:
            continue
        for who in (a, b):
            t = totals.setdefault(who, [0, 0, 0, 0.0])
            t[0] += s.tp
            t[1] += s.fp
            t[2] += s.fn
            t[3] += s.mean_iou * s.tp if s.tp else 0.0
    return {k: tuple(v) for k, v in totals.items()}


CONSENSUS_SQL = """
WITH counts AS (SELECT asset_id, rating, count(*) AS n FROM _ag_items GROUP BY ALL),
others AS (  -- how many of the others gave each rating
    SELECT r.asset_id, r.annotator_id, r.rating, c.rating AS other,
           c.n - (c.rating = r.rating)::INTEGER AS n
    FROM _ag_items r JOIN counts c ON c.asset_id = r.asset_id
),
top AS (
    SELECT *, max(n) OVER (PARTITION BY asset_id, annotator_id) AS top FROM others
)
SELECT annotator_id, asset_id, any_value(rating) AS rating, min(other) AS consensus
FROM top WHERE n = top AND top > 0
GROUP BY annotator_id, asset_id
HAVING count(*) = 1  -- a tie among the others is no consensus
ORDER BY annotator_id, asset_id"""


def _consensus(data: _Data) -> dict[str, tuple[float, Agreement]]:
    """Per annotator: share of items where their rating is the others' majority, and
    Cohen's kappa of their ratings against that majority."""
    t = data.arrow(CONSENSUS_SQL)
    mine = t.column("rating").to_numpy(zero_copy_only=False)
    theirs = t.column("consensus").to_numpy(zero_copy_only=False)
    out = {}
    for who, lo, hi in _runs(t.column("annotator_id")):
        a, b = mine[lo:hi], theirs[lo:hi]
        out[who] = (float(np.mean(a == b)), cohen_kappa_result(a, b))
    return out  # type: ignore[return-value]  # numpy/duckdb stubs


def _gold_objects(data: _Data, iou_threshold: float) -> dict[str, MatchSummary]:
    """Per annotator: their objects matched against the gold annotation on each asset
    that has one (gold = reference A)."""
    units = data.arrow(
        f"""WITH gold AS (
    SELECT asset_id, min(annotator_id) AS g FROM _ag_labels WHERE gold GROUP BY 1)
SELECT r.annotator_id AS x, r.asset_id,
       {_SLICE.format(g="ga", s="a")}, {_SLICE.format(g="gb", s="b")}
FROM _ag_raters r JOIN gold ON gold.asset_id = r.asset_id AND r.annotator_id <> gold.g
LEFT JOIN _ag_runs ga ON ga.asset_id = r.asset_id AND ga.annotator_id = gold.g
LEFT JOIN _ag_runs gb ON gb.asset_id = r.asset_id AND gb.annotator_id = r.annotator_id
ORDER BY x, r.asset_id"""
    )
    out = {}
    for who, lo, hi in _runs(units.column("x")):
        s = match_many(_groups(data, units.slice(lo, hi - lo)), iou_threshold, data.sizes)
        if s.n_a or s.n_b:
            out[who] = s
    return out  # type: ignore[return-value]  # numpy/duckdb stubs


GOLD_CLASSES_SQL = """
WITH gold AS (
    SELECT asset_id, min(annotator_id) AS g FROM _ag_ratings WHERE gold GROUP BY 1)
SELECT r.annotator_id, count(*) AS n, count(*) FILTER (WHERE r.rating = gr.rating) AS agreed
FROM _ag_ratings r
JOIN gold ON gold.asset_id = r.asset_id AND r.annotator_id <> gold.g
JOIN _ag_ratings gr ON gr.asset_id = r.asset_id AND gr.annotator_id = gold.g
GROUP BY 1"""

GOLD_REVIEWS_SQL = """
SELECT annotator_id, count(*) AS n, count(*) FILTER (WHERE agreed) AS agreed FROM (
    SELECT e.annotator_id, e.label_id, e.revision, bool_and(r.verdict = 'accept') AS agreed
    FROM label_events e
    JOIN reviews r ON r.label_id = e.label_id AND r.revision = e.revision AND r.kind = 'gold'
    WHERE e.annotator_id IS NOT NULL
    GROUP BY ALL
) GROUP BY 1"""

# The same count as the audit's limits.rejection_rate check (audit.checks.rejection_rates_sql).
REJECTIONS_SQL = """
SELECT annotator_id, count(*) AS n, count(*) FILTER (WHERE rejected) AS rejected,
       count(*) FILTER (WHERE fixed) AS fixed
FROM (
    SELECT e.annotator_id, e.label_id, e.revision,
           bool_or(r.verdict = 'reject') AS rejected, bool_or(r.verdict = 'fix') AS fixed
    FROM label_events e
    JOIN reviews r ON r.label_id = e.label_id AND r.revision = e.revision AND r.kind = 'review'
    WHERE e.annotator_id IS NOT NULL
    GROUP BY ALL
) GROUP BY 1"""


def fixes_sql() -> str:
    """Each label revision that got a fix or reject verdict, with the first later revision
    of the same label by someone else: both geometries and the image size."""
    a = ", ".join(f"a.{c} AS a_{c}" for c in _GEOMETRY)
    b = ", ".join(f"b.{c} AS b_{c}" for c in _GEOMETRY)
    return f"""
WITH flagged AS (
    SELECT DISTINCT e.label_id, e.revision, e.annotator_id
    FROM label_events e
    JOIN reviews r ON r.label_id = e.label_id AND r.revision = e.revision
    WHERE r.verdict IN ('fix', 'reject') AND e.annotator_id IS NOT NULL
      AND e.op <> 'delete' AND e.shape <> 'classification'
),
fixed AS (
    SELECT f.label_id, f.revision, f.annotator_id, min(n.revision) AS next_revision
    FROM flagged f
    JOIN label_events n ON n.label_id = f.label_id AND n.revision > f.revision
     AND n.op <> 'delete' AND n.annotator_id IS DISTINCT FROM f.annotator_id
    GROUP BY ALL
)
SELECT x.annotator_id, x.label_id, x.revision, x.next_revision, {a}, {b},
       s.height, s.width
FROM fixed x
JOIN label_events a ON a.label_id = x.label_id AND a.revision = x.revision
JOIN label_events b ON b.label_id = x.label_id AND b.revision = x.next_revision
LEFT JOIN assets s ON s.asset_id = a.asset_id
ORDER BY x.annotator_id, x.label_id, x.revision"""


def _fix_ious(data: _Data) -> dict[str, tuple[int, float]]:
    """Per annotator: (fixes, summed IoU between the fixed revision and the fix)."""
    t = data.arrow(fixes_sql())
    if t.num_rows == 0:
        return {}

    def side(p: str) -> pa.Table:
        return t.select([f"{p}_{c}" for c in _GEOMETRY]).rename_columns(list(_GEOMETRY))

    iou = geometry.iou_pairs(
        side("a"),
        side("b"),
        t.column("height").to_numpy(zero_copy_only=False).astype(np.float64),
        t.column("width").to_numpy(zero_copy_only=False).astype(np.float64),
    )
    return {
        who: (hi - lo, float(iou[lo:hi].sum()))  # type: ignore[misc]  # numpy/duckdb stubs
        for who, lo, hi in _runs(t.column("annotator_id"))
    }


# --------------------------------------------------------------------------- by class


def _class_figures(data: _Data, iou_threshold: float, out: _Figures) -> None:
    units, codes = _unit_codes(data)
    if len(units):
        out.agreement((None,), "image_krippendorff_alpha", _alpha(units, codes))
        _fleiss(units, codes, out)
    # category of each code: the same order as the dense_rank that numbered them
    ratings = [
        r[0] for r in data.con.sql("SELECT DISTINCT rating FROM _ag_items ORDER BY 1").fetchall()
    ]
    code_of = {name: c for c, name in enumerate(ratings)}
    per_class = _class_matches(data, iou_threshold)
    names = sorted(set(ratings) | set(per_class), key=lambda v: (v is None, v or ""))
    for name in names:
        key = (name,)
        if name in per_class:
            _objects(out, key, per_class[name])
        if name in code_of:
            binary = (codes == code_of[name]).astype(np.float64)
            out.agreement(key, "image_alpha_one_vs_rest", _alpha(units, binary))


def _unit_codes(data: _Data) -> tuple[np.ndarray, np.ndarray]:
    """Image-level items: unit index and category code (sorted categories) per rating."""
    t = data.arrow(
        """SELECT dense_rank() OVER (ORDER BY asset_id) - 1 AS unit,
       dense_rank() OVER (ORDER BY rating) - 1 AS code
FROM _ag_items ORDER BY unit"""
    )
    return (
        t.column("unit").to_numpy().astype(np.int64),
        t.column("code").to_numpy().astype(np.float64),
    )


def _alpha(units: np.ndarray, codes: np.ndarray) -> Agreement:
    """Krippendorff's alpha of ratings given as (unit, code) pairs, sorted by unit.

    Nominal alpha depends only on which values each unit got, not on who gave them, so
    the reliability matrix is built with one row per rating *slot* (first, second, ...
    rating of the unit) rather than one per annotator: as small as the data.
    """
    n_units = int(units.max()) + 1
    starts = np.searchsorted(units, np.arange(n_units))
    slot = np.arange(len(units)) - starts[units]
    matrix = np.full((int(slot.max()) + 1, n_units), np.nan)
    matrix[slot, units] = codes
    return krippendorff_alpha_nominal_result(matrix)


def _fleiss(units: np.ndarray, codes: np.ndarray, out: _Figures) -> None:
    """Fleiss' kappa over the items rated by the most common number of annotators."""
    raters = np.bincount(units)
    counts_of_m = np.bincount(raters)
    m = int(np.flatnonzero(counts_of_m == counts_of_m.max()).max())  # ties: more raters
    keep = raters[units] == m
    k = int(codes.max()) + 1
    items = np.unique(units[keep], return_inverse=True)[1]
    table = np.bincount(items * k + codes[keep].astype(np.int64), minlength=(items.max() + 1) * k)
    result = fleiss_kappa_result(table.reshape(-1, k))
    note = None
    if not keep.all():
        note = (
            f"over the {result.n_items} of {len(raters)} items rated by exactly {m} annotators "
            "(Fleiss' kappa needs the same number of raters per item; see Krippendorff's alpha)"
        )
    out.add((None,), "image_fleiss_kappa", result.value, result.n_items, result.undefined, note)


def _class_matches(data: _Data, iou_threshold: float) -> dict[str | None, MatchSummary]:
    """Per class: objects of that class matched pair by pair (only same-class pairs can
    match), summed over every pair and asset."""
    units = data.arrow(
        f"""WITH cls AS (SELECT DISTINCT asset_id, annotator_id, class_name FROM _ag_groups),
u AS (
    SELECT DISTINCT p.a, p.b, p.asset_id, c.class_name
    FROM _ag_pairs p JOIN cls c ON c.asset_id = p.asset_id AND c.annotator_id IN (p.a, p.b)
)
SELECT u.class_name, u.asset_id, {_SLICE.format(g="ga", s="a")}, {_SLICE.format(g="gb", s="b")}
FROM u
LEFT JOIN _ag_groups ga ON ga.asset_id = u.asset_id AND ga.annotator_id = u.a
 AND ga.class_name IS NOT DISTINCT FROM u.class_name
LEFT JOIN _ag_groups gb ON gb.asset_id = u.asset_id AND gb.annotator_id = u.b
 AND gb.class_name IS NOT DISTINCT FROM u.class_name
ORDER BY u.class_name NULLS LAST, u.a, u.b, u.asset_id"""
    )
    return {
        name: match_many(_groups(data, units.slice(lo, hi - lo)), iou_threshold, data.sizes)  # type: ignore[misc]  # numpy/duckdb stubs
        for name, lo, hi in _runs(units.column("class_name"))
    }
