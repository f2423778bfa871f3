"""Collected COCO columns -> the incoming label_events Arrow table, without per-row dicts."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from lineage import geometry
from lineage.formats.base import ImportOptions, incoming_schema
from lineage.formats.coco.attributes import attributes_column
from lineage.formats.coco.checks import Problems, flat, visible_keypoints
from lineage.formats.coco.collect import Columns
from lineage.formats.coco.load import Categories, Images

SHAPES = pa.array(["box", "polygon", "keypoints", "mask"], pa.string())


def fill_missing_boxes(cols: Columns) -> Problems:
    """Give rows without a bbox (allowed in results files) the envelope of their
    polygon, mask or keypoints; a row with none of these is a problem."""
    found: Problems = {}
    kp_end = np.cumsum(flat(cols.kp_len, np.int64))
    first_part = np.cumsum(flat(cols.parts, np.int64)) - flat(cols.parts, np.int64)
    part_start = np.concatenate([[0], flat(cols.part_end, np.int64)])
    for row in np.flatnonzero(flat(cols.has_bbox, np.uint8) == 0).tolist():
        box = None
        if cols.parts[row]:
            bounds = part_start[first_part[row] : first_part[row] + cols.parts[row] + 1]
            parts = [cols.poly[a:b].tolist() for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
            box = geometry.polygon_bbox(parts)
        elif row in cols.sparse["mask_rle"]:
            box = geometry.rle_bbox(cols.sparse["mask_rle"][row])
        elif cols.has_kp[row]:
            end = int(kp_end[row])
            box = geometry.keypoints_bbox(cols.kp[end - cols.kp_len[row] : end].tolist())
        if box is None:
            found[row] = ("bbox", "no bbox, and no polygon, mask or keypoints to derive it from")
            continue
        cols.bbox[4 * row : 4 * row + 4] = type(cols.bbox)("d", box)
        cols.has_bbox[row] = 1
    return found


def labels_table(
    cols: Columns, images: Images, cats: Categories, options: ImportOptions, drop: set[int]
) -> pa.Table:
    """The incoming label_events table of every collected row but those in ``drop``."""
    schema = incoming_schema("label_events")
    n = len(cols)
    parts = flat(cols.parts, np.int64)
    has_kp = flat(cols.has_kp, np.uint8).astype(bool)
    has_mask = np.zeros(n, bool)
    has_mask[list(cols.sparse["mask_rle"])] = True
    shape = np.where(
        visible_keypoints(cols) > 0, 2, np.where(has_mask, 3, np.where(parts > 0, 1, 0))
    )
    scored = ~np.isnan(flat(cols.score))
    data = {
        "asset_id": pa.array(images.file_name, pa.string()).take(flat(cols.image, np.int64)),
        "class_name": pa.array(cats.name, pa.string()).take(flat(cols.category, np.int64)),
        "shape": SHAPES.take(shape),
        "bbox": _bbox(cols, schema.field("bbox").type),
        "polygon": _polygon(cols, parts),
        "keypoints": _keypoints(cols, has_kp),
        "mask_rle": _sparse(cols.sparse["mask_rle"], n, schema.field("mask_rle").type),
        "score": pa.array(flat(cols.score), pa.float64(), mask=~scored),
        "attributes": attributes_column(
            flat(cols.area), flat(cols.iscrowd, np.uint8), cols.attributes
        ),
        "external_id": _external_ids(cols.ids),
        "created_at": _sparse(cols.sparse["created_at"], n, schema.field("created_at").type),
        "rotation": _sparse(cols.sparse["rotation"], n, pa.float64()),
        "label_id": _sparse(cols.sparse["label_id"], n, pa.string()),
        "annotator_id": _filled(
            {r: options.annotator_map.get(v, v) for r, v in cols.sparse["annotator_id"].items()},
            _constant(options.annotator, n),
        ),
        "source": _filled(cols.sparse["source"], _sources(options.source, scored)),
        "model_version": _filled(cols.sparse["model_version"], _constant(options.model_version, n)),
        "guideline_version": _filled(
            cols.sparse["guideline_version"], _constant(options.guideline, n)
        ),
    }
    table = pa.Table.from_arrays(
        [data.get(f.name, pa.nulls(n, f.type)).cast(f.type) for f in schema], schema=schema
    )
    if drop:
        keep = np.ones(n, bool)
        keep[list(drop)] = False
        table = table.filter(pa.array(keep))
    return table


def _bbox(cols: Columns, kind: pa.DataType) -> pa.Array:
    box = flat(cols.bbox).reshape(-1, 4)
    missing = flat(cols.has_bbox, np.uint8) == 0
    children = [pa.array(np.ascontiguousarray(box[:, j])) for j in range(4)]
    return pa.StructArray.from_arrays(children, fields=list(kind), mask=pa.array(missing))


def _offsets(lengths: np.ndarray) -> pa.Array:
    ends = np.concatenate([[0], np.cumsum(lengths)])
    if len(ends) and ends[-1] >= 2**31:
        raise OverflowError("more than 2**31 coordinates in one file")
    return pa.array(ends.astype(np.int32))


def _polygon(cols: Columns, parts: np.ndarray) -> pa.Array:
    part_len = np.diff(flat(cols.part_end, np.int64), prepend=0)
    inner = pa.ListArray.from_arrays(_offsets(part_len), pa.array(flat(cols.poly)))
    return pa.ListArray.from_arrays(_offsets(parts), inner, mask=pa.array(parts == 0))


def _keypoints(cols: Columns, has_kp: np.ndarray) -> pa.Array:
    return pa.ListArray.from_arrays(
        _offsets(flat(cols.kp_len, np.int64)), pa.array(flat(cols.kp)), mask=pa.array(~has_kp)
    )


def _sparse(values: dict[int, object], n: int, kind: pa.DataType) -> pa.Array:
    if not values:
        return pa.nulls(n, kind)
    full: list = [None] * n
    for row, value in values.items():
        full[row] = value
    return pa.array(full, kind)


def _constant(value: str | None, n: int) -> pa.Array:
    return pa.nulls(n, pa.string()) if value is None else pa.repeat(pa.scalar(value), n)


def _filled(values: dict[int, str], default: pa.Array) -> pa.Array:
    """``default`` with the rows the file gives replaced by the file's values."""
    if not values:
        return default
    full = default.to_pylist()
    for row, value in values.items():
        full[row] = value
    return pa.array(full, pa.string())


def _sources(option: str | None, scored: np.ndarray) -> pa.Array:
    """The option where given; else ``model`` for scored (results-style) rows."""
    if option is not None:
        return _constant(option, len(scored))
    return pa.array(["model", None], pa.string()).take(np.where(scored, 0, 1))


def _external_ids(ids: list) -> pa.Array:
    try:
        return pa.array(ids, pa.int64()).cast(pa.string())
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        return pa.array([None if i is None else str(i) for i in ids], pa.string())
