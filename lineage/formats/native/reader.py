"""Read native JSON Lines or Parquet into the incoming tables."""

from __future__ import annotations

import json
import math
from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from lineage import geometry
from lineage.errors import InputError
from lineage.formats.base import (
    ImportBatch,
    ImportOptions,
    RecordErrors,
    canonical_json,
    finite,
    incoming_schema,
    table_from_records,
)
from lineage.formats.validate import validate_labels

# Every column of the incoming label schema, plus "record" (asset lines) and "revision"
# (written by exports; the store numbers revisions itself).
LABEL_FIELDS = {*incoming_schema("label_events").names, "record", "revision"}
# a native asset record: "record": "asset" and the assets table's columns (one source
# of truth: the schema)
ASSET_FIELDS = {"record"} | {f.name for f in incoming_schema("assets") if f.name != "txn_id"}


def detect(path: Path) -> float:
    if path.is_file() and path.suffix == ".parquet":
        return 0.6
    if path.is_file() and path.suffix in (".jsonl", ".ndjson"):
        try:
            with open(path, encoding="utf-8") as fh:
                first = json.loads(fh.readline())
            return 0.9 if isinstance(first, dict) and "asset_id" in first else 0.3
        except (ValueError, UnicodeDecodeError):
            return 0.0
    return 0.0


def read(path: Path, options: ImportOptions) -> ImportBatch:
    path = Path(path)
    if not path.exists():
        raise InputError("file not found", file=path)
    if path.suffix == ".parquet":
        return _read_parquet(path)
    return _read_jsonl(path, options)


def _read_parquet(path: Path) -> ImportBatch:
    try:
        table = pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputError(f"not a readable Parquet file: {exc}", file=path) from exc
    target = incoming_schema("label_events")
    cols = []
    for f in target:
        if f.name in table.column_names:
            col = table.column(f.name)
            if f.name == "attributes" and not pa.types.is_string(col.type):
                col = pa.array([canonical_json(v or {}) for v in col.to_pylist()], pa.string())
            try:
                cols.append(col.cast(f.type))
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                raise InputError(
                    f"cannot read as {f.type}: {exc}", file=path, field=f.name
                ) from exc
        else:
            cols.append(pa.nulls(table.num_rows, f.type))
    labels = pa.Table.from_arrays(cols, schema=target)
    validate_labels(labels, file=str(path))
    return ImportBatch(labels=labels, source_files=[path], stable_ids=True)


def _read_jsonl(path: Path, options: ImportOptions) -> ImportBatch:
    errors = RecordErrors(options.strict)
    labels, lines, assets = [], [], []
    with open(path, "rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            if not raw.strip():
                continue
            try:
                obj = json.loads(raw.decode("utf-8-sig"))
            except (ValueError, UnicodeDecodeError, RecursionError) as exc:
                errors.bad(f"not valid JSON ({exc})", file=path, record=f"line {lineno}")
                continue
            if not isinstance(obj, dict):
                errors.bad("each line must be a JSON object", file=path, record=f"line {lineno}")
                continue
            try:
                if obj.get("record", "label") == "asset":
                    assets.append(_asset(obj))
                else:
                    labels.append(_label(obj))
                    lines.append(f"line {lineno}")
            except _Bad as bad:
                errors.bad(bad.message, file=path, record=f"line {lineno}", field=bad.field)
    label_table = table_from_records("label_events", labels, file=str(path))
    validate_labels(label_table, file=str(path), records=lines)
    asset_table = table_from_records("assets", assets, file=str(path)) if assets else None
    return ImportBatch(
        labels=label_table,
        assets=asset_table,
        source_files=[path],
        skipped=errors.skipped,
        stable_ids=True,
        record_names=lines,
    )


class _Bad(Exception):
    def __init__(self, message: str, field: str | None = None):
        self.message, self.field = message, field


def _label(obj: dict) -> dict:
    unknown = set(obj) - LABEL_FIELDS
    if unknown:
        name = sorted(unknown)[0]
        raise _Bad(f"unknown field (known: {', '.join(sorted(LABEL_FIELDS - {'record'}))})", name)
    op = obj.get("op")
    if op not in (None, "create", "update", "delete"):
        raise _Bad(f"'{op}' is not one of create, update, delete", "op")
    if op == "delete":
        if not obj.get("label_id"):
            raise _Bad("a delete must name the label_id", "label_id")
        if not obj.get("asset_id"):
            raise _Bad("asset_id is required", "asset_id")
        return {
            "label_id": obj["label_id"],
            "op": "delete",
            "asset_id": str(obj["asset_id"]),
            "created_at": _time(obj.get("created_at"), "created_at"),
        }
    for req in ("asset_id", "class_name"):
        if obj.get(req) in (None, ""):
            raise _Bad(f"{req} is required", req)
        if not isinstance(obj[req], str | int):
            raise _Bad(f"{req} must be a string", req)
    rec = {k: obj.get(k) for k in LABEL_FIELDS - {"record", "revision"}}
    rec["asset_id"], rec["class_name"] = str(obj["asset_id"]), str(obj["class_name"])
    bbox = obj.get("bbox")
    if bbox is not None:
        if not (isinstance(bbox, list) and len(bbox) == 4 and all(finite(v) for v in bbox)):
            raise _Bad("bbox must be [x, y, w, h], four finite numbers", "bbox")
        if bbox[2] < 0 or bbox[3] < 0:
            raise _Bad("box width and height must not be negative", "bbox")
    poly = obj.get("polygon")
    if poly is not None:
        if isinstance(poly, list) and poly and all(finite(v) for v in poly):
            poly = [poly]  # one part, given flat
        if not (
            isinstance(poly, list)
            and poly
            and all(isinstance(p, list) and all(finite(v) for v in p) for p in poly)
        ):
            raise _Bad(
                "polygon must be a list of parts, each a flat list of x, y numbers", "polygon"
            )
        rec["polygon"] = [[float(v) for v in p] for p in poly]
    kps = obj.get("keypoints")
    if kps is not None:
        if not (isinstance(kps, list) and all(finite(v) for v in kps)):
            raise _Bad("keypoints must be a flat list of x, y, v numbers", "keypoints")
        rec["keypoints"] = [float(v) for v in kps]
    rle = obj.get("mask_rle")
    if rle is not None:
        rec["mask_rle"] = _mask(rle)
    for num in ("score", "rotation"):
        v = obj.get(num)
        if v is not None and not finite(v):
            raise _Bad(f"{num} must be a finite number", num)
    attrs = obj.get("attributes")
    if attrs is not None and not isinstance(attrs, dict):
        raise _Bad("attributes must be a JSON object", "attributes")
    rec["created_at"] = _time(obj.get("created_at"), "created_at")
    rec["shape"] = obj.get("shape") or _infer_shape(rec)
    if rec["bbox"] is None:
        rec["bbox"] = _envelope(rec)
    return rec


def _infer_shape(rec: dict) -> str:
    if rec.get("mask_rle") is not None:
        return "mask"
    if rec.get("keypoints") is not None:
        return "keypoints"
    if rec.get("polygon") is not None:
        return "polygon"
    if rec.get("bbox") is not None:
        return "box"
    return "classification"


def _envelope(rec: dict):
    if rec.get("polygon"):
        return list(geometry.polygon_bbox(rec["polygon"]))
    if rec.get("mask_rle"):
        return list(geometry.rle_bbox(rec["mask_rle"]))
    if rec.get("keypoints"):
        env = geometry.keypoints_bbox(rec["keypoints"])
        return list(env) if env is not None else None
    return None


def _mask(rle) -> dict:
    if not isinstance(rle, dict):
        raise _Bad("mask_rle must be an object with size and counts", "mask_rle")
    size = rle.get("size") or [rle.get("height"), rle.get("width")]
    if not (
        isinstance(size, list)
        and len(size) == 2
        and all(isinstance(v, int) and v > 0 for v in size)
    ):
        raise _Bad("mask_rle.size must be [height, width]", "mask_rle")
    counts = rle.get("counts")
    if not isinstance(counts, str | list):
        raise _Bad("mask_rle.counts must be a COCO RLE string or list", "mask_rle")
    try:
        return geometry.rle_from_coco({"size": size, "counts": counts}, size[0], size[1])
    except Exception as exc:  # noqa: BLE001 - pycocotools raises plain exceptions
        raise _Bad(f"mask_rle is not a valid RLE: {exc}", "mask_rle") from exc


def _asset(obj: dict) -> dict:
    unknown = set(obj) - ASSET_FIELDS
    if unknown:
        raise _Bad("unknown asset field", sorted(unknown)[0])
    if not obj.get("asset_id"):
        raise _Bad("asset_id is required", "asset_id")
    for dim in ("width", "height"):
        v = obj.get(dim)
        if v is not None and not (isinstance(v, int) and v > 0):
            raise _Bad(f"{dim} must be a positive integer", dim)
    if obj.get("empty") is not None and not isinstance(obj["empty"], bool):
        raise _Bad("empty must be true or false", "empty")
    return {k: obj.get(k) for k in ASSET_FIELDS - {"record"}}


def _time(value, field: str):
    if value is None:
        return None
    if isinstance(value, int | float) and math.isfinite(value):
        return datetime.fromtimestamp(value).astimezone()
    if isinstance(value, str):
        try:
            dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise _Bad(f"'{value}' is not an ISO 8601 time", field) from None
        return dt if dt.tzinfo else dt.astimezone()
    raise _Bad("must be an ISO 8601 time", field)
