"""Checks every incoming label table passes, whatever its format: vectorised, and
naming the first bad record and field."""

from __future__ import annotations

import duckdb
import pyarrow as pa

from lineage.errors import InputError
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
    con = duckdb.connect()
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
