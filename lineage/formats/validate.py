"""Checks every incoming label table passes, whatever its format: vectorised, and
naming the first bad record and field."""

from __future__ import annotations

import duckdb
import numpy as np
import pyarrow as pa

from lineage.errors import InputError
from lineage.store import duck
from lineage.store import schema as schemas

# (field, SQL condition that is TRUE for a bad row, message)
CHECKS = [
    ("asset_id", "asset_id IS NULL OR asset_id = ''", "asset_id is required"),
    (
        "class_name",
        "class_name IS NULL AND coalesce(op, '') <> 'delete'",
        "class_name is required",
    ),
    (
        "bbox",
        "bbox IS NOT NULL AND (NOT isfinite(bbox.x) OR NOT isfinite(bbox.y) "
        "OR NOT isfinite(bbox.w) OR NOT isfinite(bbox.h))",
        "box coordinates must be finite numbers",
    ),
    ("bbox", "bbox.w < 0 OR bbox.h < 0", "box width and height must not be negative"),
    (
        "bbox",
        "shape IN ('box', 'polygon', 'polyline', 'points', 'keypoints', 'mask') "
        "AND bbox IS NULL AND coalesce(op, '') <> 'delete'",
        "a geometric label needs a bbox (or geometry to derive it from)",
    ),
    (
        "polygon",
        "shape = 'polygon' AND (polygon IS NULL OR len(polygon) = 0 "
        "OR list_min(list_transform(polygon, lambda p: len(p))) < 6)",
        "a polygon part needs at least 3 points",
    ),
    (
        "polygon",
        "polygon IS NOT NULL AND list_bool_or(list_transform(polygon, lambda p: len(p) % 2 = 1))",
        "polygon parts need an even number of coordinates",
    ),
    (
        "keypoints",
        "keypoints IS NOT NULL AND len(keypoints) % 3 <> 0",
        "keypoints must be x, y, v triples",
    ),
    ("mask_rle", "shape = 'mask' AND mask_rle IS NULL", "a mask label needs mask_rle"),
    (
        "score",
        "score IS NOT NULL AND NOT isfinite(score)",
        "score must be a finite number",
    ),
]


def validate_labels(labels: pa.Table, *, file: str | None, records: list | None = None) -> None:
    """Raise InputError for the first record that breaks a rule. ``records`` maps row
    index to what to call the record (a line number, an annotation id)."""
    con = duck.connect()
    con.register("t", labels.append_column("_row", pa.array(range(labels.num_rows), pa.int64())))
    for fld, bad, message in CHECKS:
        hit = con.sql(f"SELECT min(_row) FROM t WHERE {bad}").fetchall()[0][0]
        if hit is not None:
            record = records[hit] if records is not None else hit + 1
            raise InputError(message, file=file, record=record, field=fld)
    for name, allowed in schemas.enums("label_events").items():
        if name not in labels.column_names:
            continue
        quoted = ", ".join(f"'{a}'" for a in allowed)
        hit = con.sql(
            f"SELECT min(_row) FROM t WHERE {name} IS NOT NULL AND {name} NOT IN ({quoted})"
        ).fetchall()[0][0]
        if hit is not None:
            record = records[hit] if records is not None else hit + 1
            value = labels.column(name)[hit].as_py()
            raise InputError(
                f"'{value}' is not one of {', '.join(allowed)}",
                file=file,
                record=record,
                field=name,
            )


# A shape may stick out of its image a little (tools round, CVAT lets shapes leave the
# frame); beyond this share of the image's side (and 2 px) it is an input error.
OUTSIDE_TOLERANCE = 0.10
MAX_MASK_SIDE = 1 << 20  # a mask on an image of unknown size: no side beyond this

UNSAFE_ID = (
    "{col} IS NOT NULL AND ({col} IN ('.', '..') OR {col} LIKE '/%' OR {col} LIKE '\\\\%' "
    "OR regexp_matches({col}, '^[A-Za-z]:') OR contains({col}, chr(0)) "
    "OR list_contains(string_split(replace({col}, '\\\\', '/'), '/'), '..'))"
)

ASSET_CHECKS = [
    ("asset_id", UNSAFE_ID.format(col="asset_id"), "asset id {v!r} is not a safe relative path"),
    ("width", "width IS NOT NULL AND width <= 0", "image width must be positive, not {v}"),
    ("height", "height IS NOT NULL AND height <= 0", "image height must be positive, not {v}"),
]

# Label checks run over the labels joined with their image's size: ``_w``, ``_h`` (NULL
# when unknown) and the tolerances ``_tw``, ``_th``.
LABEL_CHECKS = [
    ("asset_id", UNSAFE_ID.format(col="asset_id"), "asset id {v!r} is not a safe relative path"),
    (
        "bbox",
        "_w IS NOT NULL AND bbox IS NOT NULL AND (bbox.x < -_tw OR bbox.y < -_th "
        "OR bbox.x + bbox.w > _w + _tw OR bbox.y + bbox.h > _h + _th)",
        "box {v} lies outside its {w}x{h} image",
    ),
    (
        "mask_rle",
        "mask_rle IS NOT NULL AND _w IS NOT NULL "
        "AND (mask_rle.height <> _h OR mask_rle.width <> _w)",
        "mask size {v} (height x width) differs from its {w}x{h} image",
    ),
    (
        "mask_rle",
        f"mask_rle IS NOT NULL AND (mask_rle.height <= 0 OR mask_rle.width <= 0 "
        f"OR mask_rle.height > {MAX_MASK_SIDE} OR mask_rle.width > {MAX_MASK_SIDE})",
        "mask size {v} is not a plausible image size",
    ),
]

# How a bad value is shown in the error
SHOWN = {
    "bbox": "'[' || concat_ws(', ', bbox.x, bbox.y, bbox.w, bbox.h) || ']'",
    "mask_rle": "mask_rle.height || 'x' || mask_rle.width",
}

SIZED = f"""(
    SELECT t.*, s.width AS _w, s.height AS _h,
           GREATEST(2, {OUTSIDE_TOLERANCE} * s.width) AS _tw,
           GREATEST(2, {OUTSIDE_TOLERANCE} * s.height) AS _th
    FROM _t t
    LEFT JOIN (SELECT DISTINCT ON (asset_id) asset_id, width, height FROM _sizes
               WHERE width > 0 AND height > 0) s USING (asset_id)
)"""


def validate_batch(
    con: duckdb.DuckDBPyConnection,
    batch,
    *,
    file: str,
    errors,
    known_sizes: pa.Table | None = None,
    dropped_assets: set[str] | None = None,
) -> set[str]:
    """Checks every format's batch passes, whatever its reader checked: asset ids that
    are safe relative paths, positive image sizes, and shapes inside their image (within
    ``OUTSIDE_TOLERANCE``), using the sizes of the batch's assets, else ``known_sizes``
    (asset_id, width, height of the store). Strict: the first bad record raises; lenient
    (``errors.strict`` off): bad records (and the labels of bad assets) are dropped from
    ``batch`` and reported. Returns the assets dropped; a later part of a file read in
    parts (no assets of its own) passes them as ``dropped_assets``, and its file's
    sizes within ``known_sizes``."""
    dropped_assets = set(dropped_assets or ())
    if batch.assets is not None and batch.assets.num_rows:
        keep = _check(con, batch.assets, ASSET_CHECKS, file, errors, lambda r, a: f"asset {a}")
        dropped_assets |= set(batch.assets.column("asset_id").to_pylist()) - set(
            batch.assets.filter(keep).column("asset_id").to_pylist()
        )
        batch.assets = batch.assets.filter(keep)
    labels = batch.labels
    sizes = [
        t.select(["asset_id", "width", "height"])
        for t in (batch.assets, known_sizes)
        if t is not None and t.num_rows
    ]
    con.register(
        "_sizes",
        pa.concat_tables(sizes, promote_options="permissive")
        if sizes
        else pa.table(
            {
                "asset_id": pa.array([], pa.string()),
                "width": pa.array([], pa.int32()),
                "height": pa.array([], pa.int32()),
            }
        ),
    )
    names = batch.record_names

    def record(row: int, _asset) -> str | int:
        return names[row] if names is not None else row + 1

    keep = _check(con, labels, LABEL_CHECKS, file, errors, record, sized=True)
    if dropped_assets:
        on_bad = pa.compute.is_in(labels.column("asset_id"), pa.array(sorted(dropped_assets)))
        keep = pa.compute.and_(keep, pa.compute.invert(pa.compute.fill_null(on_bad, False)))
    if not pa.compute.all(keep).as_py():
        batch.labels = labels.filter(keep)
        if names is not None:
            batch.record_names = [n for n, k in zip(names, keep.to_pylist(), strict=True) if k]
    batch.skipped += errors.skipped
    errors.skipped = []
    return dropped_assets


def _check(con, table: pa.Table, checks, file, errors, record, *, sized: bool = False):
    """A boolean mask of the rows of ``table`` that pass ``checks``: one scan, each bad
    row reported once, by the first check it fails (in ``checks`` order)."""
    con.register("_t", table.append_column("_row", pa.array(range(table.num_rows), pa.int64())))
    source, size = (SIZED, "_w, _h") if sized else ("_t", "NULL, NULL")
    which = " ".join(f"WHEN {cond} THEN {i}" for i, (_, cond, _) in enumerate(checks))
    shown = " ".join(
        f"WHEN {cond} THEN ({SHOWN.get(fld, fld)})::VARCHAR" for fld, cond, _ in checks
    )
    failing = " OR ".join(f"({cond})" for _, cond, _ in checks)
    hits = con.sql(
        f"SELECT _row, CASE {which} END, CASE {shown} END, {size} FROM {source} "
        f"WHERE {failing} ORDER BY 1"
    ).fetchall()
    for row, check, value, w, h in hits:
        fld, _, message = checks[check]
        errors.bad(
            message.format(v=value, w=w, h=h),
            file=file,
            record=record(row, table.column("asset_id")[row].as_py()),
            field=fld,
        )
    mask = np.ones(table.num_rows, dtype=bool)
    mask[[row for row, *_ in hits]] = False
    return pa.array(mask)
