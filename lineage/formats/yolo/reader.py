"""Read a YOLO / Ultralytics dataset into incoming label, asset and category tables.

YOLO labels carry no ids, so ``stable_ids`` is False and ``external_id`` null: the store
matches re-imported labels to the previous version by IoU.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from lineage.errors import InputError
from lineage.formats.base import (
    Comparison,
    ImportBatch,
    ImportOptions,
    RecordErrors,
    sha256_file,
    table_from_records,
)
from lineage.formats.sizes import Sizes, image_size, load_sizes, load_splits
from lineage.formats.yolo import layout as layouts
from lineage.formats.yolo.layout import Item, YoloFiles
from lineage.formats.yolo.lines import Grammar, Row, parse

SIZES_FILE = "image_sizes.csv"
SIZES_HINT = "pass --sizes FILE (CSV image,width,height or JSON {name: [w, h]}) or --images DIR"


def read(path: Path, options: ImportOptions) -> ImportBatch:
    """Parse and validate the dataset at ``path`` (data.yaml, dataset root or labels folder)."""
    path = Path(path)
    errors = RecordErrors(options.strict)
    lay = layouts.find(path, options.images)
    if not lay.items:
        raise InputError(
            "no images or label files found",
            file=path,
            hint="point at the data.yaml, the dataset root or a labels folder",
        )
    prefix = bool(options.extra.get("split_prefix"))
    sizes_file = Path(options.sizes) if options.sizes else _bundled_sizes(path)
    sizes = Sizes(load_sizes(sizes_file), load_splits(sizes_file)) if sizes_file else None
    grammar = Grammar(
        names=lay.names,
        kpt_shape=lay.kpt_shape,
        conf=options.extra.get("conf"),
        task=options.extra.get("task"),
    )
    labels: list[dict] = []
    assets: list[dict] = []
    notes = list(lay.notes)
    sources = list(lay.source_files)
    if sizes_file:
        sources.append(sizes_file)
    seen: dict[str, Item] = {}
    for item in lay.items:
        item = _with_image(item, options.images)
        asset_id, size = _resolve(item, sizes, errors)
        if asset_id is None:
            continue
        if prefix and item.split:
            asset_id = f"{item.split}/{asset_id}"
        if asset_id in seen:
            prev = seen[asset_id]
            if item.image is not None and prev.image == item.image:
                notes.append(
                    f"{item.image} is listed in {prev.split} and {item.split}; kept in {prev.split}"
                )
            else:
                message = f"asset id '{asset_id}' also names {prev.image or prev.label}"
                if errors.strict:
                    raise InputError(
                        message,
                        file=item.image or item.label,
                        field="asset_id",
                        hint="splits reuse file names: import with split_prefix=true "
                        "(asset ids become <split>/<name>)",
                    )
                errors.bad(message, file=item.image or item.label, field="asset_id")  # type: ignore[arg-type]  # checked before use
            continue
        seen[asset_id] = item
        asset = _asset(asset_id, item, size)
        if sizes is not None and (key := sizes.key(asset_id)) in sizes.splits:
            asset["split"] = sizes.splits[key]  # the export's own record of the split
        assets.append(asset)
        if item.label is None:
            continue
        sources.append(item.label)
        rows = parse(item.label, grammar, errors)
        if rows and size is None:
            continue  # reported by _resolve
        labels += [_label(asset_id, r, size, lay, options) for r in rows]
    if scored := sum(r["score"] is not None for r in labels):
        notes.append(
            f"{scored} line(s) end with a confidence (Ultralytics save_conf): "
            "read as model predictions with a score"
        )
    return ImportBatch(
        labels=table_from_records("label_events", labels, file=str(path)),
        assets=table_from_records("assets", assets, file=str(path)),
        categories=table_from_records("categories", _categories(lay), file=str(path)),
        source_files=sources,
        skipped=errors.skipped,
        stable_ids=False,
        notes=notes,
        # a YOLO file draws one kind of shape per task (detect, segment, pose): labels
        # of other shapes travel as what that task draws, so only their box is compared
        comparison=_comparison(labels),
    )


def _comparison(labels: list[dict]) -> Comparison:
    shapes = frozenset(r["shape"] for r in labels) or frozenset({"box"})
    drawn = {"polygon": "polygon", "keypoints": "keypoints"}
    columns = (COMPARISON.columns or frozenset()) - {c for s, c in drawn.items() if s not in shapes}
    return replace(COMPARISON, shapes=shapes, columns=columns)


# YOLO carries the class and the geometry (normalised to 6 decimals: 1e-6 of the side,
# plus the centre-to-corner conversion), and a score; nothing of who or under which
# guideline, so those never change on a re-import.
COMPARISON = Comparison(
    columns=frozenset({"asset_id", "class_name", "shape", "bbox", "polygon", "keypoints",
                       "score"}),
    tolerance_rel=1.5e-6,
)  # fmt: skip


def _with_image(item: Item, images: Path | None) -> Item:
    """Look for the image of a label-only item in ``--images`` (same relative stem)."""
    if item.image is not None or images is None:
        return item
    for suffix in sorted(layouts.IMG_FORMATS):
        for cand in (
            images / f"{item.asset_id}.{suffix}",
            images / f"{item.asset_id}.{suffix.upper()}",
        ):
            if cand.is_file():
                return Item(cand.relative_to(images).as_posix(), cand, item.label, item.split)
    return item


def _bundled_sizes(path: Path) -> Path | None:
    """``image_sizes.csv`` beside data.yaml: lineage's own exports write it, so an export
    re-imports without its images."""
    root = path if path.is_dir() else path.parent
    candidate = root / SIZES_FILE
    return candidate if candidate.is_file() else None


def _resolve(item: Item, sizes: Sizes | None, errors: RecordErrors):
    """(asset id, (w, h) or None); (None, None) when the item is skipped."""
    if item.image is not None:
        try:
            return item.asset_id, image_size(item.image)
        except InputError as exc:
            errors.bad(exc.reason, file=item.image, field="image")
            return None, None
    key = sizes.key(item.asset_id) if sizes else None
    if key is not None:
        # a label file without its image: the sizes file names the image (and its suffix)
        ext = "" if layouts.is_image(Path(item.asset_id)) else Path(key).suffix
        asset_id = item.asset_id + ext
        return asset_id, sizes.table[key]  # type: ignore[union-attr]  # checked before use
    if item.label is not None and _has_lines(item.label):
        message = f"no image and no size for '{item.asset_id}': cannot convert its normalised coordinates to pixels"
        if errors.strict:
            raise InputError(message, file=item.label, hint=SIZES_HINT)
        errors.bad(message, file=item.label)
        return None, None
    return item.asset_id, None


def _has_lines(label: Path) -> bool:
    try:
        return bool(label.read_bytes().strip())
    except OSError:
        return False


def _asset(asset_id: str, item: Item, size) -> dict:
    img = item.image
    return {
        "asset_id": asset_id,
        "uri": str(img) if img is not None else None,
        "width": size[0] if size else None,
        "height": size[1] if size else None,
        "sha256": sha256_file(img) if img is not None else None,
        "size_bytes": img.stat().st_size if img is not None else None,
        "split": item.split,
    }


def _label(asset_id: str, row: Row, size, lay: YoloFiles, options: ImportOptions) -> dict:
    w, h = size
    scale = np.array([w, h], dtype=np.float64)
    rec: dict[str, Any] = {
        "op": "create",
        "asset_id": asset_id,
        "class_name": lay.names[row.cls],
        "attributes": {},
        "annotator_id": options.annotator,
        "source": "model" if row.conf is not None else options.source,
        "model_version": options.model_version,
        "guideline_version": options.guideline,
        "score": row.conf,
    }
    if row.kind == "polygon":
        pts = row.values.reshape(-1, 2) * scale
        lo, hi = pts.min(axis=0), pts.max(axis=0)
        rec["shape"] = "polygon"
        rec["polygon"] = [pts.ravel().tolist()]
        rec["bbox"] = [float(lo[0]), float(lo[1]), float(hi[0] - lo[0]), float(hi[1] - lo[1])]
        return rec
    cx, cy, bw, bh = row.values[:4]
    rec["shape"] = "box"
    rec["bbox"] = [float((cx - bw / 2) * w), float((cy - bh / 2) * h), float(bw * w), float(bh * h)]
    if row.kind == "pose":
        kpts = _keypoints(row, lay.kpt_shape[1], scale, rec)  # type: ignore[index]  # checked before use
        if kpts is not None:
            rec["shape"] = "keypoints"
            rec["keypoints"] = kpts
    return rec


def _keypoints(row: Row, ndim: int, scale: np.ndarray, rec: dict) -> list[float] | None:
    """x, y, v triples in pixels. ``ndim`` 2: v = 0 at (0, 0) (unlabelled), else 2. In a
    prediction file the third value is the keypoint confidence: kept in attributes, with
    v = 2 where it is >= 0.5 (where Ultralytics draws the point), else 1. None when no
    keypoint is labelled: the line is a plain box written into a pose dataset."""
    k = row.values[4:].reshape(-1, ndim)
    xy = k[:, :2]
    if ndim == 2:
        v = np.where((xy == 0).all(axis=1), 0.0, 2.0)
    elif row.conf is not None:
        rec["attributes"] = {"keypoint_conf": k[:, 2].tolist()}
        v = np.where(k[:, 2] >= 0.5, 2.0, 1.0)
    else:
        v = k[:, 2]
    if not v.any() and not xy.any():
        return None
    return np.column_stack([xy * scale, v]).ravel().tolist()


def _categories(lay: YoloFiles) -> list[dict]:
    return [
        {
            "class_name": name,
            "ordinal": idx,
            "keypoint_names": lay.kpt_names.get(idx),
        }
        for idx, name in lay.names.items()
    ]
