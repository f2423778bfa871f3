"""Write the current state of a revision as a VOC dataset.

OUT/Annotations/<stem>.xml per asset (assets without labels too: they are negatives),
OUT/ImageSets/Main/<split>.txt when assets have splits (plus trainval.txt when train and
val exist), OUT/labelmap.txt in Datumaro/CVAT's ``name:color:parts:actions`` layout.

VOC holds axis-aligned boxes only. Polygons, masks, keypoints and point sets are left
out by default: exporting their envelope would make a *box* label that, on re-import,
IoU-matches and replaces the original shape in the label's history. ``extra={"shapes":
"envelope"}`` writes envelopes anyway (for training pipelines), marked ``envelope_of``.
Provenance goes in each object's ``<attributes>`` (label_id, annotator_id, source,
model_version, guideline_version, score, created_at, rotation), as CVAT and Datumaro
write them, since VOC has no field for any of it.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import pyarrow as pa

from lineage.errors import InputError
from lineage.formats.base import ExportInput, ExportOptions, ExportResult, safe_join
from lineage.formats.pseudonym import pseudonym

from . import attrs as A
from . import coords
from .layout import ANNOTATIONS, IMAGES, LABELMAP, SETS

_ENVELOPED = ("polygon", "polyline", "points", "keypoints", "mask")


def write(data: ExportInput, out: Path, options: ExportOptions) -> ExportResult:
    """Write ``data`` under ``out``; returns the files written and what was left out."""
    out = Path(out)
    conv = coords.convention(options.extra)
    shapes = options.extra.get("shapes", "omit")
    if shapes not in ("omit", "envelope"):
        raise InputError(
            f"unknown shapes option {shapes!r}", field="shapes", hint="omit | envelope"
        )
    rows, notes = _exported_rows(data.labels, shapes)
    if rows:
        boxes = np.array([[r["bbox"][k] for k in "xywh"] for r in rows], dtype=np.float64)
        for r, xyxy in zip(rows, coords.to_xyxy(boxes, conv).tolist(), strict=True):
            r["xyxy"] = xyxy
    by_asset: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        by_asset[r["asset_id"]].append(r)
    assets = {a["asset_id"]: a for a in data.assets.to_pylist()}
    for asset_id in by_asset:
        assets.setdefault(asset_id, {"asset_id": asset_id})

    stems = _stems(sorted(assets))  # every name checked before the first file is written
    files: list[Path] = []
    splits: dict[str, list[str]] = defaultdict(list)
    parts_of: dict[str, set[str]] = defaultdict(set)
    for asset_id, stem in stems.items():
        asset = assets[asset_id]
        root = _annotation(asset, by_asset.get(asset_id, []), data.revision, options, parts_of)
        target = safe_join(out / ANNOTATIONS, f"{stem}.xml")
        ET.indent(root, space="\t")
        ET.ElementTree(root).write(target, encoding="utf-8", xml_declaration=False)
        files.append(target)
        if asset.get("split"):
            splits[asset["split"]].append(stem)
    files += _write_splits(out, splits)
    files.append(_write_labelmap(out, data.categories, rows, parts_of))
    sized = sum(1 for a in assets.values() if a.get("width") and a.get("height"))
    if sized:
        notes.append("image depth is not stored; <depth> written as 3 (RGB)")
    if sized < len(assets):
        notes.append(f"{len(assets) - sized} image(s) of unknown size: <size> left out")
    return ExportResult(files=files, labels=len(rows), notes=notes)


def _exported_rows(labels: pa.Table, shapes: str) -> tuple[list[dict], list[str]]:
    rows: list = []
    left_out: defaultdict[str, int] = defaultdict(int)
    for r in labels.to_pylist():
        if r.get("op") == "delete":
            continue
        shape = r.get("shape") or "box"
        if r.get("bbox") is None or shape == "classification":
            left_out[shape] += 1
        elif not r.get("class_name"):
            left_out[f"{shape} without a class"] += 1
        elif shape == "box" or (shape in _ENVELOPED and shapes == "envelope"):
            rows.append(r)
        else:
            left_out[shape] += 1
    notes = []
    for shape, n in sorted(left_out.items()):
        if shape.endswith("without a class"):
            notes.append(f"{n} {shape} left out: every VOC object needs a <name>")
            continue
        hint = " (shapes='envelope' exports their bounding box)" if shape in _ENVELOPED else ""
        notes.append(f"{n} {shape} label(s) left out: VOC holds boxes only{hint}")
    rotated = sum(1 for r in rows if r.get("rotation"))
    if rotated:
        notes.append(
            f"{rotated} rotated box(es): VOC boxes are axis-aligned; rotation kept in <attributes>"
        )
    return rows, notes


def _stem(asset_id: str) -> str:
    p = PurePosixPath(asset_id.replace("\\", "/"))
    return p.with_suffix("").as_posix() if p.suffix else p.as_posix()


def _stems(asset_ids: list[str]) -> dict[str, str]:
    """asset id -> annotation file stem; refuses ids that collide or leave the output."""
    seen: dict[str, str] = {}
    for asset_id in asset_ids:
        stem = _stem(asset_id)
        if stem in seen:
            raise InputError(
                f"assets {seen[stem]!r} and {asset_id!r} would both be written as {stem}.xml",
                field="asset_id",
                hint="VOC names annotation files after the image without its extension",
            )
        rel = stem.replace("\\", "/")
        if (
            rel.startswith("/")
            or ".." in PurePosixPath(rel).parts
            or (len(rel) > 1 and rel[1] == ":")
        ):
            raise InputError(
                f"refusing path {asset_id!r} that leaves the export folder", field="asset_id"
            )
        seen[stem] = asset_id
    return {a: s for s, a in seen.items()}


def _sub(parent: ET.Element, tag: str, text: Any = None) -> ET.Element:
    elem = ET.SubElement(parent, tag)
    if text is not None:
        elem.text = str(text)
    return elem


def _annotation(asset: dict, rows: list[dict], revision: str, options, parts_of) -> ET.Element:
    root = ET.Element("annotation")
    _sub(root, "folder", IMAGES)
    _sub(root, "filename", asset["asset_id"])
    if asset.get("uri"):
        _sub(root, "path", asset["uri"])
    source = _sub(root, "source")
    _sub(source, "database", "Unknown")
    _sub(source, "annotation", f"lineage {revision}")
    _sub(source, "image", "Unknown")
    if asset.get("width") and asset.get("height"):
        size = _sub(root, "size")
        _sub(size, "width", asset["width"])
        _sub(size, "height", asset["height"])
        _sub(size, "depth", 3)
    tags = asset.get("tags") or []
    _sub(root, "segmented", int("segmented" in tags))
    if "verified" in tags:
        root.set("verified", "yes")

    parts = defaultdict(list)
    tops = []
    groups = {_attributes(r).get("group_id") for r in rows if not _attributes(r).get("voc_part")}
    for r in rows:
        a = _attributes(r)
        if a.get("voc_part") and a.get("group_id") is not None and a["group_id"] in groups:
            parts[a["group_id"]].append(r)
        else:
            tops.append(r)
    for r in sorted(tops, key=_order):
        a = _attributes(r)
        nested = sorted(parts.pop(a["group_id"], []), key=_order) if "group_id" in a else []
        _object(root, r, a, nested, options)
        parts_of[r["class_name"]].update(p["class_name"] for p in nested)
    return root


def _attributes(row: dict) -> dict:
    cached = row.get("_attrs")
    if cached is None:
        cached = row["_attrs"] = json.loads(row.get("attributes") or "{}")
    return cached


def _order(row: dict) -> tuple:
    return (row["xyxy"], row.get("class_name") or "", row.get("label_id") or "")


def _bndbox(parent: ET.Element, xyxy: list[float]) -> None:
    box = _sub(parent, "bndbox")
    for tag, v in zip(("xmin", "ymin", "xmax", "ymax"), xyxy, strict=True):
        _sub(box, tag, coords.number_text(v))


def _object(root: ET.Element, r: dict, a: dict, parts: list[dict], options) -> None:
    obj = _sub(root, "object")
    _sub(obj, "name", r.get("class_name") or "")
    if "pose" in a:
        _sub(obj, "pose", a["pose"])
    _sub(obj, "truncated", A.flag_text(a.get("truncated")))
    _sub(obj, "difficult", A.flag_text(a.get("difficult")))
    if "occluded" in a:
        _sub(obj, "occluded", A.flag_text(a["occluded"]))
    _bndbox(obj, r["xyxy"])
    for p in parts:
        part = _sub(obj, "part")
        _sub(part, "name", p.get("class_name") or "")
        _bndbox(part, p["xyxy"])
        pa_ = {k: v for k, v in _attributes(p).items() if k not in ("group_id", "voc_part")}
        _attributes_elem(part, p, pa_, options)
    if isinstance(a.get("actions"), dict):
        actions = _sub(obj, "actions")
        for name, value in sorted(a["actions"].items()):
            _sub(actions, name, A.flag_text(value))
    if isinstance(a.get("point"), list) and len(a["point"]) == 2:
        point = _sub(obj, "point")
        _sub(point, "x", coords.number_text(a["point"][0]))
        _sub(point, "y", coords.number_text(a["point"][1]))
    rest = {k: v for k, v in a.items() if k not in A.NATIVE}
    if r.get("shape") != "box":
        rest["envelope_of"] = r.get("shape")
    _attributes_elem(obj, r, rest, options)


def _attributes_elem(parent: ET.Element, r: dict, rest: dict, options) -> None:
    values = dict(rest)
    key = options.pseudonymize_key
    who = r.get("annotator_id")
    prov = {
        "label_id": r.get("label_id"),
        "annotator_id": pseudonym(who, key) if key and who else who,
        "source": r.get("source"),
        "model_version": r.get("model_version"),
        "guideline_version": r.get("guideline_version"),
        "score": r.get("score"),
        "created_at": r["created_at"].isoformat() if r.get("created_at") else None,
        "rotation": r.get("rotation"),
    }
    values.update({k: v for k, v in prov.items() if v is not None})
    if not values:
        return
    elem = _sub(parent, "attributes")
    for name in sorted(values):
        attr = _sub(elem, "attribute")
        _sub(attr, "name", name)
        _sub(attr, "value", A.to_text(values[name]))


def _write_splits(out: Path, splits: dict[str, list[str]]) -> list[Path]:
    if not splits:
        return []
    lists = {k: sorted(v) for k, v in splits.items()}
    if "train" in lists and "val" in lists and "trainval" not in lists:
        lists["trainval"] = sorted(lists["train"] + lists["val"])
    sets = out.joinpath(*SETS)
    files = []
    for split, stems in sorted(lists.items()):
        target = safe_join(sets, f"{split}.txt")
        target.write_text("".join(f"{s}\n" for s in stems), encoding="utf-8")
        files.append(target)
    return files


def _write_labelmap(out: Path, categories: pa.Table, rows: list[dict], parts_of) -> Path:
    """Classes in ordinal order; a ``background`` line first when ordinals start at 1, so
    the line numbers Datumaro and CVAT give the classes equal the stored ordinals."""
    ordinals = {
        c["class_name"]: c["ordinal"]
        for c in categories.select(["class_name", "ordinal"]).to_pylist()
    }
    for r in rows:
        ordinals.setdefault(r.get("class_name") or "", None)
    ordinals.pop("", None)
    names = sorted(ordinals, key=lambda n: (ordinals[n] is None, ordinals[n] or 0, n))
    known = [v for v in ordinals.values() if v is not None]
    lines = ["# label:color_rgb:parts:actions"]
    if known and min(known) == 1 and "background" not in ordinals:
        lines.append("background:0,0,0::")
    actions: dict[str, set[str]] = defaultdict(set)
    for r in rows:
        acts = _attributes(r).get("actions")
        if isinstance(acts, dict):
            actions[r["class_name"]].update(acts)
    for n in names:
        lines.append(
            f"{n}::{','.join(sorted(parts_of.get(n, ())))}:{','.join(sorted(actions.get(n, ())))}"
        )
    target = safe_join(out, LABELMAP)
    target.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return target
