"""Write the current state of a revision as one COCO instances / keypoints JSON file.

Ids are stable across exports: images are numbered 1..N in asset_id order, categories
keep their source ids (``ordinal``) where they are unique, annotations keep their COCO
ids (``external_id``) where all are unique integers. Provenance rides along as extra
per-annotation fields, which pycocotools ignores and the reader maps back to columns.
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from lineage import geometry
from lineage.errors import InputError
from lineage.formats.base import ExportInput, ExportOptions, ExportResult, LabelSource
from lineage.formats.coco.load import DEFAULT_NAME
from lineage.formats.pseudonym import pseudonymize_labels
from lineage.store import schema as schemas

SPEC_ATTRIBUTES = frozenset({"area", "iscrowd", "num_keypoints"})
PROVENANCE: tuple[str, ...] = ("label_id", "revision", "annotator_id", "source", "model_version")
PROVENANCE += ("guideline_version", "created_at")
NO_SEGMENTATION = {"polyline", "points"}


STREAMS_LABELS = True  # Repo.export hands the labels over as a LabelSource
GEOMETRIC = "shape <> 'classification'"  # what COCO instances can hold
# the labels' COCO ids, where each is a whole number written as one (7, not 007 or 7.0)
ANN_ID = "try_cast(external_id AS BIGINT)"
CANONICAL_ID = f"CAST({ANN_ID} AS VARCHAR) = external_id"


def write(data: ExportInput, out: Path, options: ExportOptions) -> ExportResult:
    """Write ``out`` (a .json path) or ``out/annotations.json`` (a folder). The labels are
    read in (asset_id, label_id) order a batch at a time and written as they come, so
    memory holds a batch of them, not the revision; images, categories and ids are
    settled first, in SQL over all of them."""
    out = Path(out)
    target = out if out.suffix.lower() == ".json" else out / DEFAULT_NAME
    labels = data.stream or LabelSource.of(data.labels)
    notes = _notes(labels)
    image_rows, image_ids = _images(data.assets, labels)
    cat_rows, cat_ids = _categories(data.categories, labels)
    (keep_ids,) = labels.fetch(
        f"SELECT count(*) = count(DISTINCT {ANN_ID}) AND count(*) = count(*) FILTER (WHERE {CANONICAL_ID}) "
        f"FROM {{labels}} WHERE {GEOMETRIC}"
    )[0]
    head = {
        "info": {"description": f"exported by lineage from revision {data.revision}"},
        "licenses": [],
        "images": image_rows,
        "categories": cat_rows,
    }
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".tmp")
    n = 0
    rows = (
        f"SELECT * REPLACE (attributes::VARCHAR AS attributes), {ANN_ID} AS _ann_id "
        f"FROM {{labels}} WHERE {GEOMETRIC} ORDER BY asset_id, label_id"
    )
    with open(tmp, "wb") as fh:
        fh.write(orjson.dumps(head)[:-1] + b',"annotations":[')
        for batch in labels.batches(rows, BATCH):
            ann_ids = (
                batch.column("_ann_id").to_pylist()
                if keep_ids
                else list(range(n + 1, n + batch.num_rows + 1))
            )
            part = schemas.conform("label_events", batch)
            part = pseudonymize_labels(part, options.pseudonymize_key)
            for ann in _annotations(part, ann_ids, image_ids, cat_ids):
                fh.write(b"," if n else b"")
                fh.write(orjson.dumps(ann, option=orjson.OPT_SERIALIZE_NUMPY))
                n += 1
        fh.write(b"]}")
    os.replace(tmp, target)
    return ExportResult(files=[target], labels=n, notes=notes)


def _notes(labels: LabelSource) -> list[str]:
    """What COCO instances cannot hold of the labels."""
    dropped, lines = labels.fetch(
        "SELECT count(*) FILTER (WHERE shape = 'classification'), "
        f"count(*) FILTER (WHERE shape IN ({', '.join(repr(s) for s in sorted(NO_SEGMENTATION))})) "
        "FROM {labels}"
    )[0]
    notes = []
    if dropped:
        notes.append(
            f"{dropped} classification labels left out: COCO instances has no image-level labels"
        )
    if lines:
        notes.append(
            f"{lines} polyline/points labels written as boxes only: COCO has no such shape"
        )
    return notes


BATCH = 50_000  # labels turned into Python dicts at a time


def _images(assets: pa.Table, labels: LabelSource) -> tuple[list[dict], dict[str, int]]:
    """Images keep the COCO ids they came with (where whole and unique), the rest are
    numbered after them in asset_id order; sizes from assets, else from a mask (the
    first in label order)."""
    cols = ["asset_id", "uri", "width", "height", "external_id"]
    known = {r["asset_id"]: r for r in assets.select(cols).to_pylist()}
    masks = labels.fetch(
        "SELECT asset_id, arg_min(mask_rle.width, label_id), arg_min(mask_rle.height, label_id) "
        f"FROM {{labels}} WHERE {GEOMETRIC} AND mask_rle IS NOT NULL GROUP BY asset_id"
    )
    for a, width, height in masks:
        if known.get(a, {}).get("width") is None:
            known[a] = {**known.get(a, {}), "width": width, "height": height}
    used = labels.fetch(f"SELECT DISTINCT asset_id FROM {{labels}} WHERE {GEOMETRIC}")
    names = sorted(set(known) | {a for (a,) in used})
    kept: dict = {}
    for name in names:
        ext = str(known.get(name, {}).get("external_id") or "")
        if ext.isdigit() and int(ext) < 2**53:
            kept.setdefault(int(ext), []).append(name)
    ids = {found[0]: i for i, found in kept.items() if len(found) == 1}
    next_id = max(ids.values(), default=0) + 1
    for name in names:
        if name not in ids:
            ids[name], next_id = next_id, next_id + 1
    rows = []
    for name in names:
        row: dict[str, Any] = {"id": ids[name], "file_name": name}
        info = known.get(name, {})
        if info.get("width") is not None and info.get("height") is not None:
            row.update(width=info["width"], height=info["height"])
        if info.get("uri"):
            row["coco_url"] = info["uri"]
        rows.append(row)
    return rows, ids


def _categories(categories: pa.Table, labels: LabelSource) -> tuple[list[dict], dict[str, int]]:
    """Categories with their source ids where unique, new ids (after the largest) for the
    rest in name order: 1..K when the source had none."""
    known = {r["class_name"]: r for r in categories.to_pylist()}
    used = {
        c
        for (c,) in labels.fetch(
            f"SELECT DISTINCT class_name FROM {{labels}} WHERE {GEOMETRIC} AND class_name IS NOT NULL"
        )
    }
    names = sorted(set(known) | used)
    ordinals = [known.get(n, {}).get("ordinal") for n in names]
    counts = Counter(o for o in ordinals if o is not None)
    unique = {o for o, n in counts.items() if n == 1}
    ids: dict[str, int] = {}
    for name, o in zip(names, ordinals, strict=True):
        if o in unique:
            ids[name] = o
    next_id = max(unique, default=0) + 1
    for name in names:
        if name not in ids:
            ids[name], next_id = next_id, next_id + 1
    rows = []
    for name in sorted(names, key=ids.__getitem__):
        info = known.get(name, {})
        row: dict[str, Any] = {
            "id": ids[name],
            "name": name,
            "supercategory": info.get("supercategory") or "",
        }
        if info.get("keypoint_names"):
            row["keypoints"] = info["keypoint_names"]
            row["skeleton"] = info.get("skeleton") or []
        rows.append(row)
    return rows, ids


COLUMNS: tuple[str, ...] = ("asset_id", "class_name", "shape", "keypoints", "mask_rle", "score")
COLUMNS += ("rotation", "attributes", *PROVENANCE)


def _boxes(labels: pa.Table) -> list[list[float]]:
    """Every bbox as an [x, y, w, h] list, built column-wise (the rows are all geometric)."""
    bbox = labels.column("bbox").combine_chunks()
    parts = [pc.fill_null(bbox.field(k), 0.0).to_numpy() for k in "xywh"]
    return np.column_stack(parts).tolist() if labels.num_rows else []


def _polygons(labels: pa.Table) -> list[list[np.ndarray] | None]:
    """Every polygon as a list of NumPy views of its parts (orjson writes them directly,
    without a Python float per coordinate)."""
    column = labels.column("polygon").combine_chunks()
    if column.null_count == len(column):
        return [None] * len(column)
    parts = column.flatten()
    values = parts.flatten().to_numpy()
    ends = parts.offsets.to_numpy()
    bounds = column.offsets.to_numpy()
    valid = column.is_valid().to_numpy(zero_copy_only=False)
    out: list[list[np.ndarray] | None] = []
    for i, ok in enumerate(valid.tolist()):
        if not ok:
            out.append(None)
            continue
        first, last = bounds[i], bounds[i + 1]
        out.append([values[ends[j] : ends[j + 1]] for j in range(first, last)])
    return out


def _annotations(
    labels: pa.Table, ann_ids: list[int], image_ids: dict[str, int], cat_ids: dict[str, int]
):
    """COCO annotation dicts of ``labels``, one at a time."""
    columns = [labels.column(c).to_pylist() for c in COLUMNS]
    for ann_id, box, polygon, values in zip(
        ann_ids,
        _boxes(labels),
        _polygons(labels),
        zip(*columns, strict=True),
        strict=True,
    ):
        row = dict(zip(COLUMNS, values, strict=True))
        row["polygon"] = polygon
        if row["class_name"] is None:
            raise InputError(
                "a COCO annotation needs a class", record=row["label_id"], field="class_name"
            )
        ann = {
            "id": ann_id,
            "image_id": image_ids[row["asset_id"]],
            "category_id": cat_ids[row["class_name"]],
            "bbox": box,
        }
        yield _annotation(ann, row)


def _annotation(ann: dict[str, Any], row: dict) -> dict[str, Any]:
    """Complete one COCO annotation (ids and bbox set) from its label row."""
    attrs = orjson.loads(row["attributes"] or "{}")
    ann["iscrowd"] = int(attrs.get("iscrowd", 0) or 0)
    segmentation: Any = []
    if row["shape"] not in NO_SEGMENTATION:
        if row["polygon"]:
            segmentation = row["polygon"]
        elif row["mask_rle"]:
            segmentation = geometry.rle_to_coco(row["mask_rle"])
    ann["segmentation"] = segmentation
    area = attrs.get("area")
    ann["area"] = area if isinstance(area, int | float) else _area(row, segmentation, ann["bbox"])
    kps = row["keypoints"]
    if kps is not None:
        ann["keypoints"] = [int(v) if i % 3 == 2 else v for i, v in enumerate(kps)]
        ann["num_keypoints"] = attrs.get("num_keypoints", sum(1 for v in kps[2::3] if v > 0))
    if row["score"] is not None:
        ann["score"] = row["score"]
    if row["rotation"]:
        ann["rotation"] = row["rotation"]
    for name in PROVENANCE:
        value = row[name]
        if value is None:
            continue
        if name == "created_at":
            value = value.isoformat().replace("+00:00", "Z")
        ann[name] = value
    if not attrs.keys() <= SPEC_ATTRIBUTES:
        ann["attributes"] = {k: v for k, v in attrs.items() if k not in SPEC_ATTRIBUTES}
    return ann


def _area(row: dict, segmentation: Any, bbox: list[float]) -> float:
    """COCO's area when the source gave none: shoelace for polygons, pixels for masks."""
    if isinstance(segmentation, list) and segmentation:
        return geometry.polygon_area([part.tolist() for part in segmentation])
    if isinstance(segmentation, dict):
        return geometry.rle_area(row["mask_rle"])
    return bbox[2] * bbox[3]
