"""Label identity: turn incoming label records into label events.

The rule (documented in the README):

1. A record that names a ``label_id`` is that label (created with that id if new).
2. A record with an ``external_id`` (the source tool's stable id) is the live label
   on the same asset with the same external id.
3. Otherwise, when ids are not stable (YOLO, VOC, CVAT shapes, re-numbered COCO),
   each asset's remaining records are matched to its remaining live labels by IoU
   with an optimal one-to-one assignment: same class first, then across classes (a
   relabel), keeping pairs with IoU >= ``iou_threshold``.
4. Unmatched records are new labels. In ``snapshot`` mode, live labels on the
   imported assets that nothing matched are deleted; ``patch`` mode keeps them.
5. A matched record whose content equals its label's current revision makes no event,
   so re-importing an unchanged export adds nothing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from lineage.errors import InputError
from lineage.store import duck, ids
from lineage.store import schema as schemas
from lineage.store.content import CONTENT
from lineage.store.incoming import EVERYTHING, Comparison


@dataclass
class MatchReport:
    created: int = 0
    updated: int = 0
    deleted: int = 0
    unchanged: int = 0
    matched_by: dict[str, int] = field(default_factory=dict)
    moved_iou: list[float] = field(default_factory=list)  # IoU of IoU-matched updates

    def add(self, other: MatchReport) -> None:
        """Count ``other`` (another part of the same import) in."""
        self.created += other.created
        self.updated += other.updated
        self.deleted += other.deleted
        self.unchanged += other.unchanged
        for how, n in other.matched_by.items():
            self.matched_by[how] = self.matched_by.get(how, 0) + n
        self.moved_iou += other.moved_iou


def resolve(
    incoming: pa.Table,
    current: pa.Table,
    *,
    txn_id: str,
    use_ids: bool,
    use_iou: bool,
    iou_scope: str = "all",
    snapshot_assets: list[str] | None,
    iou_threshold: float = 0.5,
    sizes: dict[str, tuple[int, int]] | None = None,
    file: str | None = None,
    records: list[str] | None = None,
    comparison: Comparison = EVERYTHING,
) -> tuple[pa.Table, MatchReport]:
    """Label events for ``incoming`` (incoming label schema) against ``current`` (the
    latest revision of every label, deleted ones included).

    ``use_ids``: match external ids (the source's ids are stable). ``use_iou``: match
    the rest by IoU; ``iou_scope="unidentified"`` limits that to labels without an
    external id (a stable-id format's id-less shapes, e.g. CVAT boxes, and labels that
    never came from the tool)."""
    report = MatchReport()
    con = duck.connect()
    n = incoming.num_rows
    inc = incoming.append_column("_i", pa.array(np.arange(n, dtype=np.int64)))
    inc = inc.append_column("_tol", _tolerances(incoming, comparison, sizes or {}))
    con.register("inc", inc)
    con.register("cur", current)
    assigned = np.asarray(inc.column("label_id").to_numpy(zero_copy_only=False), dtype=object)
    how = np.where(_present(assigned), "label_id", None).astype(object)  # type: ignore[call-overload]  # numpy/duckdb stubs
    is_delete = np.asarray(
        pc.fill_null(pc.equal(inc.column("op"), "delete"), False).to_numpy(zero_copy_only=False),
        dtype=bool,
    )
    no_ext = np.asarray(inc.column("external_id").is_null().to_numpy(zero_copy_only=False))
    bad = is_delete & (how == None) & no_ext  # noqa: E711 - elementwise
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError(
            "a delete must name the label_id",
            file=file,
            record=records[i] if records else i + 1,
            field="label_id",
        )

    # 1b. a label id this store has never seen (another repository's, e.g. after a trip
    # through a format that cannot carry ids) is matched like an id-less record first,
    # and names a new label only when nothing matches
    foreign = np.zeros(n, dtype=bool)
    if current.num_rows and (how == "label_id").any():
        known = pc.is_in(
            pa.array(assigned, pa.string()), value_set=current.column("label_id")
        ).to_numpy(zero_copy_only=False)
        foreign = (how == "label_id") & ~known & ~is_delete
        if foreign.any():
            ids_ = inc.column("label_id").to_numpy(zero_copy_only=False)
            masked = pa.array(np.where(foreign, None, ids_), pa.string())
            con.register(
                "inc", inc.set_column(inc.schema.get_field_index("label_id"), "label_id", masked)
            )
            assigned[foreign] = None
            how[foreign] = None

    # 2. external ids, on the same asset, against live labels
    if use_ids and current.num_rows:
        # the tool's id of the label, or the label's own id (our exports write label ids
        # as the tool's ids, e.g. Label Studio region ids)
        pairs = con.sql(
            """
            WITH keyed AS (
                SELECT _i, asset_id, external_id,
                       -- a Label Studio prediction's id is "<region id>@model:<version>"
                       regexp_replace(external_id, '@model:.*$', '') AS region
                FROM inc WHERE label_id IS NULL AND external_id IS NOT NULL
            ), live AS (SELECT * FROM cur WHERE op <> 'delete')
            SELECT _i, label_id FROM (
                SELECT k._i, c.label_id, 1 AS pref FROM keyed k JOIN live c
                  ON k.external_id = c.external_id AND k.asset_id = c.asset_id
                UNION ALL
                SELECT k._i, c.label_id, 2 AS pref FROM keyed k JOIN live c
                  ON k.region = c.external_id AND k.asset_id = c.asset_id
                UNION ALL
                SELECT k._i, c.label_id, 3 AS pref FROM keyed k JOIN live c
                  ON k.region = c.label_id AND k.asset_id = c.asset_id
            )
            QUALIFY row_number() OVER (PARTITION BY _i ORDER BY pref) = 1
            """
        ).fetchnumpy()
        rows, lids = pairs["_i"], np.asarray(pairs["label_id"], dtype=object)
        free = how[rows] == None  # noqa: E711
        assigned[rows[free]] = lids[free]
        how[rows[free]] = "external_id"

    # 3. IoU matching per asset, for what is left
    if use_iou and current.num_rows:
        _match_by_iou(con, inc, assigned, how, iou_threshold, sizes or {}, report, iou_scope)

    # 4. new labels (a foreign id that nothing matched keeps its id)
    keep = foreign & (how == None)  # noqa: E711
    if keep.any():
        assigned[keep] = np.asarray(inc.column("label_id").to_numpy(zero_copy_only=False))[keep]
        how[keep] = "label_id"
    fresh = how == None  # noqa: E711
    if (fresh & is_delete).any():
        i = int(np.flatnonzero(fresh & is_delete)[0])
        raise InputError(
            "delete of a label that does not exist",
            file=file,
            record=records[i] if records else i + 1,
            field="external_id",
        )
    named_deletes = np.flatnonzero(is_delete & ~fresh)
    if named_deletes.size:
        known = pc.is_in(
            pa.array(assigned[named_deletes], pa.string()), value_set=current.column("label_id")
        ).to_numpy(zero_copy_only=False)
        if not known.all():
            i = int(named_deletes[np.flatnonzero(~known)[0]])
            raise InputError(
                f"delete of a label that does not exist ('{assigned[i]}')",
                file=file,
                record=records[i] if records else i + 1,
                field="label_id",
            )
    assigned[fresh] = ids.label_ids(int(fresh.sum()))
    how[fresh] = "new"
    kinds, counts = np.unique(how.astype(str), return_counts=True)
    report.matched_by = {str(k): int(c) for k, c in zip(kinds, counts, strict=True)}

    inc = inc.set_column(
        inc.schema.get_field_index("label_id"), "label_id", pa.array(assigned, pa.string())
    )
    con.register("inc", inc)

    # 5. snapshot deletes: live labels on the imported assets that nothing matched
    deletes = pa.table({"label_id": pa.array([], pa.string())})
    if snapshot_assets is not None and current.num_rows:
        con.register("snap_assets", pa.table({"asset_id": pa.array(snapshot_assets, pa.string())}))
        deletes = con.sql(
            """
            SELECT cur.label_id FROM cur
            JOIN snap_assets USING (asset_id)
            WHERE cur.op <> 'delete'
              AND cur.label_id NOT IN (SELECT label_id FROM inc)
              {drawable}
            """.format(
                drawable=""
                if comparison.shapes is None
                else f"AND ({_kind('cur.')}) IN ({_sql_list(comparison.shapes)})"
            )
        ).to_arrow_table()
    con.register("dels", deletes)

    if current.num_rows == 0 and not is_delete.any() and not _has_repeats(inc):
        events = _all_new(inc)  # a first import: every record is a new label
    else:
        given = {c.removeprefix("_given_") for c in inc.column_names if c.startswith("_given_")}
        sql = _EVENTS_SQL if _has_repeats(inc) else single_events_sql(comparison, given)
        events = con.sql(sql).to_arrow_table()
    events = events.append_column("txn_id", pa.array([txn_id] * events.num_rows, pa.string()))
    op_counts = dict(
        zip(
            *np.unique(
                events.column("op").to_numpy(zero_copy_only=False).astype(str), return_counts=True
            ),
            strict=True,
        )
    )
    report.created = int(op_counts.get("create", 0))
    report.updated = int(op_counts.get("update", 0))
    report.deleted = int(op_counts.get("delete", 0))
    report.unchanged = n - (report.created + report.updated) - int(is_delete.sum())
    return schemas.conform("label_events", events, file=file), report


def _tolerances(incoming: pa.Table, cmp: Comparison, sizes: dict) -> pa.Array:
    """Per record, how far its coordinates may lie from the label's and still be equal."""
    n = incoming.num_rows
    if not cmp.tolerance_rel or not sizes:
        return pa.array(np.full(n, cmp.tolerance_px))
    side = np.array(
        [max(sizes.get(a, (0, 0))) for a in incoming.column("asset_id").to_pylist()], np.float64
    )
    return pa.array(cmp.tolerance_px + cmp.tolerance_rel * side)


def _all_new(inc: pa.Table) -> pa.Table:
    """Events for records that are all new labels: revision 1, op create (no SQL needed)."""
    n = inc.num_rows
    now = pa.scalar(ids.now(), pa.timestamp("us", tz="UTC"))
    created = pc.fill_null(inc.column("created_at").cast(pa.timestamp("us", tz="UTC")), now)
    cols = {
        "label_id": inc.column("label_id"),
        "revision": pa.array(np.ones(n, dtype=np.int32)),
        "op": pa.array(["create"] * n, pa.string()),
        "created_at": created,
    }
    cols.update({c: inc.column(c) for c in CONTENT})
    return pa.table(cols)


def _present(values: np.ndarray) -> np.ndarray:
    """Which entries of an object array are not None (vectorised through Arrow)."""
    return pa.array(values, pa.string()).is_valid().to_numpy(zero_copy_only=False)


def _has_repeats(inc: pa.Table) -> bool:
    """True when some label gets several records in one file (a native history export)."""
    ids_ = inc.column("label_id")
    return pc.count_distinct(ids_).as_py() != len(ids_)


# Candidate events in file order per label, each compared with the one before it
# (the label's current revision first); unchanged ones are dropped, the rest numbered.
_EVENTS_SQL = """
WITH seq AS (
    SELECT label_id, -1::BIGINT AS _i, revision AS _base, op, created_at, {content}
    FROM cur
    WHERE label_id IN (SELECT label_id FROM inc UNION SELECT label_id FROM dels)
    UNION ALL BY NAME
    SELECT label_id, _i, NULL::INTEGER AS _base, coalesce(op, 'upsert') AS op,
           created_at, {content}
    FROM inc
    UNION ALL BY NAME
    SELECT label_id, 9223372036854775807 AS _i, NULL::INTEGER AS _base, 'delete' AS op,
           NULL AS created_at
    FROM dels
),
filled AS (
    -- a delete carries the label's last content
    SELECT * REPLACE (
        {fill}
    ) FROM seq
),
cmp AS (
    SELECT *,
        {content_hash} AS _h,
        lag({content_hash}) OVER w AS _prev_h,
        lag(op) OVER w AS _prev_op,
        max(_base) OVER (PARTITION BY label_id) AS _start
    FROM filled
    WINDOW w AS (PARTITION BY label_id ORDER BY _i)
),
kept AS (
    SELECT * FROM cmp
    WHERE _i >= 0
      AND NOT (op <> 'delete' AND _prev_h IS NOT NULL AND _h = _prev_h AND _prev_op <> 'delete')
      AND NOT (op = 'delete' AND _prev_op = 'delete')
)
SELECT
    label_id,
    (coalesce(_start, 0) + row_number() OVER (PARTITION BY label_id ORDER BY _i))::INTEGER
        AS revision,
    CASE WHEN op = 'delete' THEN 'delete'
         WHEN _prev_op IS NULL AND _start IS NULL
              AND row_number() OVER (PARTITION BY label_id ORDER BY _i) = 1 THEN 'create'
         ELSE 'update' END AS op,
    coalesce(created_at, now()) AS created_at,
    {content}
FROM kept
ORDER BY _i
"""
_FILL = ",\n        ".join(
    f"CASE WHEN op = 'delete' THEN coalesce({c}, last_value({c} IGNORE NULLS) OVER "
    f"(PARTITION BY label_id ORDER BY _i ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)) "
    f"ELSE {c} END AS {c}"
    for c in CONTENT
)
# Content compared with coordinates rounded to 1e-6 px, so a format that stores percent
# or normalised coordinates round-trips to "unchanged" despite float noise.
_ROUNDED = {
    "bbox": "struct_pack(x := round(bbox.x, 6), y := round(bbox.y, 6), "
    "w := round(bbox.w, 6), h := round(bbox.h, 6))",
    "rotation": "round(rotation, 6)",
    "score": "round(score, 6)",
    "polygon": "list_transform(polygon, lambda p: list_transform(p, lambda v: round(v, 6)))",
    "keypoints": "list_transform(keypoints, lambda v: round(v, 6))",
}


def _content_hash(prefix: str = "") -> str:
    def col(c: str) -> str:
        return _ROUNDED.get(c, c).replace(c, prefix + c) if prefix else _ROUNDED.get(c, c)

    return "hash(struct_pack({}))".format(", ".join(f"{c} := {col(c)}" for c in CONTENT))


_EVENTS_SQL = (
    _EVENTS_SQL.replace("{fill}", _FILL)
    .replace("{content_hash}", _content_hash())
    .replace("{content}", ", ".join(CONTENT))
)

# The common case: each label gets at most one record, so a join with its current
# revision decides create / update / unchanged, with no window over the whole batch.
# "Unchanged" compares only what the format carries (``Comparison``), coordinates within
# the row's tolerance ``_tol``; the external id is the source tool's reference, not
# content: it never makes an event, and an update keeps the label's one when the record
# has none.
_SINGLE_EVENTS_SQL = """
WITH s AS (
    SELECT inc.*, c.label_id IS NOT NULL AS _known, c.revision AS _rev, c.op AS _cur_op,
           {current}
    FROM inc LEFT JOIN cur c ON c.label_id = inc.label_id
)
SELECT
    label_id,
    (coalesce(_rev, 0) + 1)::INTEGER AS revision,
    CASE WHEN op = 'delete' THEN 'delete' WHEN NOT _known THEN 'create' ELSE 'update' END AS op,
    coalesce(created_at, now()) AS created_at,
    {chosen},
    _i
FROM s
WHERE NOT _known
   OR (op = 'delete' AND _cur_op <> 'delete')
   OR (coalesce(op, '') <> 'delete' AND (_cur_op = 'delete' OR NOT ({same})))
UNION ALL
SELECT c.label_id, (c.revision + 1)::INTEGER, 'delete', now(),
       {deleted},
       9223372036854775807 AS _i
FROM cur c JOIN dels USING (label_id)
ORDER BY _i
"""

_GEOMETRY = {"bbox", "rotation", "polygon", "keypoints", "score"}
_SHAPED = {"shape", "rotation", "polygon", "keypoints", "mask_rle"}  # beyond the box


def _kind(prefix: str = "") -> str:
    """SQL: the label's kind of shape, a rotated box apart from a box."""
    return (
        f"CASE WHEN {prefix}shape = 'box' AND coalesce({prefix}rotation, 0) <> 0 "
        f"THEN 'rotated box' ELSE {prefix}shape END"
    )


def _envelope(prefix: str) -> list[str]:
    """SQL: x, y, w, h of the axis-aligned envelope of a (possibly rotated) box, rotated
    clockwise about its top-left corner as every writer draws it."""
    x, y, w, h = (f"{prefix}bbox.{k}" for k in "xywh")
    c, s = (f"{f}(radians(coalesce({prefix}rotation, 0)))" for f in ("cos", "sin"))
    xs = [x, f"{x} + {w} * {c}", f"{x} + {w} * {c} - {h} * {s}", f"{x} - {h} * {s}"]
    ys = [y, f"{y} + {w} * {s}", f"{y} + {w} * {s} + {h} * {c}", f"{y} + {h} * {c}"]
    lo_x, lo_y = f"least({', '.join(xs)})", f"least({', '.join(ys)})"
    return [
        lo_x,
        lo_y,
        f"greatest({', '.join(xs)}) - {lo_x}",
        f"greatest({', '.join(ys)}) - {lo_y}",
    ]


def _envelope_close() -> str:
    """SQL: the record's box equals the envelope of the current label's shape."""
    diffs = [f"abs(({a}) - ({b}))" for a, b in zip(_envelope(""), _envelope("_c_"), strict=True)]
    return f"coalesce(greatest({', '.join(diffs)}) <= _tol + 1e-6, false)"


def _sql_list(values) -> str:
    return ", ".join("'" + v.replace("'", "''") + "'" for v in sorted(values)) or "NULL"


def _close(col: str) -> str:
    """SQL: the record's ``col`` equals the current one's within ``_tol`` (identical
    values, the common case of a re-import, are decided without list work)."""
    return f"CASE WHEN {col} IS NOT DISTINCT FROM _c_{col} THEN true ELSE {_near(col)} END"


def _near(col: str) -> str:
    a, b = col, f"_c_{col}"
    both_null = f"({a} IS NULL AND {b} IS NULL)"
    if col == "bbox":
        diff = (
            f"greatest(abs({a}.x - {b}.x), abs({a}.y - {b}.y), "
            f"abs({a}.w - {b}.w), abs({a}.h - {b}.h))"
        )
        return f"({both_null} OR coalesce({diff} <= _tol, false))"
    if col in ("rotation", "score"):
        tol = "_tol" if col == "rotation" else "1e-6"
        return f"({both_null} OR coalesce(abs({a} - {b}) <= {tol}, false))"
    if col == "keypoints":  # keypoints none of which is labelled are no keypoints

        def none(k: str) -> str:
            visible = (
                f"list_bool_or(list_transform(range(3, len({k}) + 1, 3), lambda i: {k}[i] > 0))"
            )
            return f"({k} IS NULL OR NOT coalesce({visible}, false))"

        both_null = f"({none(a)} AND {none(b)})"
    flat_a, flat_b = (f"flatten({a})", f"flatten({b})") if col == "polygon" else (a, b)
    shape = (
        f"list_transform({a}, lambda p: len(p)) = list_transform({b}, lambda p: len(p))"
        if col == "polygon"
        else f"len({a}) = len({b})"
    )
    diff = f"list_max(list_transform(list_zip({flat_a}, {flat_b}), lambda z: abs(z[1] - z[2])))"
    return f"({both_null} OR coalesce({shape} AND coalesce({diff}, 0) <= _tol, false))"


def _attributes(expr: str, cmp: Comparison) -> str:
    """SQL: attributes JSON without the keys the format derives, and without keys that
    hold their default (``difficult: false`` is the same as no ``difficult``): one merge
    patch whose null values remove keys, ``expr`` referenced once per key."""
    pairs = [f"{_sql_str(key)}, NULL" for key in sorted(cmp.ignore_attributes)]
    for key, values in cmp.attribute_defaults:
        path = _sql_str("$." + json.dumps(key))
        listed = ", ".join(_sql_str(v) for v in values)
        pairs.append(
            f"{_sql_str(key)}, CASE WHEN json_extract_string({expr}, {path}) IN ({listed}) "
            f"THEN NULL ELSE json_extract({expr}, {path}) END"
        )
    if not pairs:
        return expr
    return f"json_merge_patch({expr}, json_object({', '.join(pairs)}))"


def _sql_str(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _same_sql(cmp: Comparison, given: set[str]) -> str:
    """SQL: the record says nothing new about its label, as far as its format can tell.
    ``given``: columns with a ``_given_<column>`` flag: where it is false the record
    did not give that value, so it is no change."""
    terms = []
    plain = []
    for col in CONTENT:
        if col == "external_id" or not cmp.carries(col):
            continue
        if cmp.shapes is not None and col in _SHAPED | {"bbox"}:
            # a label of a shape the format cannot draw travels as its box: compare that
            drawable = f"({_kind('_c_')}) IN ({_sql_list(cmp.shapes)})"
            same = _close(col) if col in _GEOMETRY else f"{col} IS NOT DISTINCT FROM _c_{col}"
            other = _envelope_close() if col == "bbox" else "true"
            terms.append(f"CASE WHEN {drawable} THEN {same} ELSE {other} END")
        elif col in given:
            same = _close(col) if col in _GEOMETRY else f"{col} IS NOT DISTINCT FROM _c_{col}"
            terms.append(f"(NOT _given_{col} OR {same})")
        elif col in _GEOMETRY:
            terms.append(_close(col))
        elif col == "attributes":
            mine = _attributes("attributes", cmp)
            same = f"{mine} IS NOT DISTINCT FROM {_attributes('_c_attributes', cmp)}"
            # equal text needs no JSON work; no attributes is none given (a format or
            # tool that cannot carry them)
            terms.append(
                f"CASE WHEN attributes IS NOT DISTINCT FROM _c_attributes THEN true "
                f"WHEN coalesce({mine}, '{{}}') = '{{}}' THEN true ELSE {same} END"
            )
        else:
            plain.append(col)
    terms = [_for_kept_shapes(t, cmp) for t in terms]
    if plain:
        terms.append(
            f"hash(struct_pack({', '.join(f'{c} := {c}' for c in plain)})) = "
            f"hash(struct_pack({', '.join(f'{c} := _c_{c}' for c in plain)}))"
        )
    return "\n        AND ".join(terms) or "true"


_GEOMETRY_COLUMNS = ("bbox", "rotation", "polygon", "keypoints", "mask_rle")


def _for_kept_shapes(term: str, cmp: Comparison) -> str:
    """``term`` guarded so that it holds for shapes whose column the format does not keep."""
    for shape, kept in cmp.shape_columns:
        dropped = [c for c in _GEOMETRY_COLUMNS if c not in kept and f"_c_{c}" in term]
        if dropped:
            term = f"(_c_shape = '{shape}' OR {term})"
    return term


def single_events_sql(cmp: Comparison, given: frozenset[str] | set[str] = frozenset()) -> str:
    chosen = [
        f"CASE WHEN op = 'delete' THEN _c_{c} ELSE coalesce({c}, _c_{c}) END AS {c}"
        if c == "external_id"
        else f"CASE WHEN op = 'delete' THEN _c_{c} ELSE {c} END AS {c}"
        for c in CONTENT
    ]
    return _SINGLE_EVENTS_SQL.format(
        current=", ".join(f"c.{c} AS _c_{c}" for c in CONTENT),
        chosen=", ".join(chosen),
        same=_same_sql(cmp, set(given)),
        deleted=", ".join(f"c.{c}" for c in CONTENT),
    )


def _match_by_iou(con, inc, assigned, how, threshold, sizes, report, scope) -> None:
    """Hungarian matching of the unassigned records to the unclaimed live labels, per asset.
    ``scope="unidentified"``: only labels without an external id are candidates (a label
    that has one is matched by it, or not at all)."""
    unassigned = np.array([a is None for a in assigned], dtype=bool)
    open_rows = np.flatnonzero(unassigned)
    if open_rows.size == 0:
        return
    claimed = {a for a in assigned if a is not None}
    con.register("open_rows", pa.table({"_i": pa.array(open_rows, pa.int64())}))
    cand = con.sql(
        """
        SELECT cur.* FROM cur
        WHERE cur.op <> 'delete'
          AND cur.asset_id IN (SELECT asset_id FROM inc JOIN open_rows USING (_i))
          {only}
        """.format(only="AND cur.external_id IS NULL" if scope == "unidentified" else "")
    ).to_arrow_table()
    if cand.num_rows == 0:
        return
    if claimed:
        keep = pa.compute.invert(
            pa.compute.is_in(
                cand.column("label_id"), value_set=pa.array(list(claimed), pa.string())
            )
        )
        cand = cand.filter(keep)
    from lineage import geometry

    open_tab = inc.take(pa.array(open_rows))
    by_asset_new = _group(open_tab.column("asset_id").to_pylist())
    by_asset_old = _group(cand.column("asset_id").to_pylist())
    for asset, new_idx in by_asset_new.items():
        old_idx = by_asset_old.get(asset)
        if not old_idx:
            continue
        new = open_tab.take(pa.array(new_idx))
        old = cand.take(pa.array(old_idx))
        h, w = sizes.get(asset, (None, None))
        iou = geometry.iou_matrix(new, old, height=h, width=w)
        new_cls = np.array(new.column("class_name").to_pylist(), dtype=object)
        old_cls = np.array(old.column("class_name").to_pylist(), dtype=object)
        same = new_cls[:, None] == old_cls[None, :]
        taken_new: set[int] = set()
        taken_old: set[int] = set()
        for kind, score in (("iou", np.where(same, iou, 0.0)), ("iou_relabel", iou)):
            masked = score.copy()
            if taken_new:
                masked[list(taken_new), :] = 0.0
            if taken_old:
                masked[:, list(taken_old)] = 0.0
            for r, c in geometry.assign(masked, threshold):
                if r in taken_new or c in taken_old or masked[r, c] < threshold:
                    continue
                taken_new.add(r)
                taken_old.add(c)
                row = int(open_rows[new_idx[r]])
                assigned[row] = old.column("label_id")[c].as_py()
                how[row] = kind
                report.moved_iou.append(float(iou[r, c]))


def _group(values: list) -> dict:
    out: dict = {}
    for i, v in enumerate(values):
        out.setdefault(v, []).append(i)
    return out
