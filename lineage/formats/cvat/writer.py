"""Write the current state of a revision as CVAT for images 1.1 (``annotations.xml``).

Streams with ``XMLGenerator`` as CVAT's own dumper does. CVAT has no field for who
made a shape or lineage's label id, so both travel as ``<attribute>``s
(``lineage.annotator_id``, ``lineage.label_id``, ``lineage.guideline_version``), declared
in the label specs so CVAT accepts the file; the reader maps them back.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from xml.sax.saxutils import XMLGenerator

from lineage.formats.base import ExportInput, ExportOptions, ExportResult, canonical_json
from lineage.formats.cvat.mask import coco_to_cvat
from lineage.formats.cvat.shapes import ANNOTATOR_ATTR, GUIDELINE_ATTR, LABEL_ATTR
from lineage.formats.pseudonym import pseudonym

# Attributes that are XML attributes of the shape or lineage bookkeeping, never <attribute>s.
_NOT_EXPORTED = {"occluded", "z_order", "group_id"}
_SOURCES = {"human": "manual", "model": "auto", "assisted": "semi-auto"}
_TAGS = {
    "box": "box",
    "polygon": "polygon",
    "polyline": "polyline",
    "points": "points",
    "mask": "mask",
    "keypoints": "skeleton",
    "classification": "tag",
}


def _num(v: float) -> str:
    return repr(round(float(v), 6))


def _value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float | str):
        return str(v)
    return canonical_json(v)


class _Xml:
    """Indented element writer over XMLGenerator."""

    def __init__(self, fh):
        self.gen = XMLGenerator(fh, "utf-8")
        self.level = 0
        self.started = False

    def _indent(self):
        if self.started:  # the XML declaration already ends its line
            self.gen.ignorableWhitespace("\n" + "  " * self.level)
        self.started = True

    def open(self, tag: str, attrs: dict | None = None):
        self._indent()
        self.gen.startElement(tag, attrs or {})
        self.level += 1

    def close(self, tag: str):
        self.level -= 1
        self._indent()
        self.gen.endElement(tag)

    def leaf(self, tag: str, text: str = "", attrs: dict | None = None):
        self._indent()
        self.gen.startElement(tag, attrs or {})
        self.gen.characters(text)
        self.gen.endElement(tag)


def _attr_specs(labels: list[dict]) -> dict[str, dict[str, tuple[str, list[str]]]]:
    """Per class, the spec of every attribute seen: (input_type, values) from its values."""
    seen: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    for row in labels:
        for k, v in row["attrs"].items():
            seen[row["class_name"] or ""][k].append(v)
    specs: dict[str, dict[str, tuple[str, list[str]]]] = {}
    for cls, attrs in seen.items():
        out = {}
        for name, values in sorted(attrs.items()):
            if all(isinstance(v, bool) for v in values):
                out[name] = ("checkbox", ["false", "true"])
            elif all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
                lo, hi = min(values), max(values)
                out[name] = ("number", [_value(lo), _value(hi), "1"])
            else:
                out[name] = ("text", [""])
        specs[cls] = out
    return specs


def _svg(names: list[str], edges: list) -> str:
    """A skeleton drawing CVAT accepts: nodes on a circle, edges as lines."""
    parts, pos = [], {}
    for i in range(1, len(names) + 1):
        a = 2 * math.pi * (i - 1) / max(len(names), 1)
        x, y = 50 + 40 * math.cos(a), 50 + 40 * math.sin(a)
        pos[i] = (x, y)
    for a, b in edges or []:
        if a in pos and b in pos:
            (x1, y1), (x2, y2) = pos[a], pos[b]
            parts.append(
                f'<line x1="{x1:.2f}" y1="{y1:.2f}" x2="{x2:.2f}" y2="{y2:.2f}" stroke="black" '
                f'data-type="edge" data-node-from="{a}" stroke-width="0.5" data-node-to="{b}"></line>'
            )
    for i, name in enumerate(names, start=1):
        x, y = pos[i]
        parts.append(
            f'<circle r="1.5" stroke="black" fill="#b3b3b3" cx="{x:.2f}" cy="{y:.2f}" '
            f'stroke-width="0.1" data-type="element node" data-element-id="{i}" '
            f'data-node-id="{i}" data-label-name="{name}"></circle>'
        )
    return "".join(parts)


def _write_labels(xml: _Xml, classes: list[str], keypoints: dict, specs: dict) -> None:
    xml.open("labels")
    for cls in classes:
        names, edges = keypoints.get(cls, (None, None))
        xml.open("label")
        xml.leaf("name", cls)
        xml.leaf("type", "skeleton" if names else "any")
        xml.open("attributes")
        attrs = {
            **specs.get(cls, {}),
            ANNOTATOR_ATTR: ("text", [""]),
            LABEL_ATTR: ("text", [""]),
            GUIDELINE_ATTR: ("text", [""]),
        }
        for name, (input_type, values) in attrs.items():
            xml.open("attribute")
            xml.leaf("name", name)
            xml.leaf("mutable", "True")
            xml.leaf("input_type", input_type)
            xml.leaf("default_value", values[0])
            xml.leaf("values", "\n".join(values))
            xml.close("attribute")
        xml.close("attributes")
        if names:
            xml.leaf("svg", _svg(names, edges))
        xml.close("label")
        for name in names or []:
            xml.open("label")
            xml.leaf("name", name)
            xml.leaf("type", "points")
            xml.leaf("attributes")
            xml.leaf("parent", cls)
            xml.close("label")
    xml.close("labels")


def _shape_attrs(row: dict) -> dict:
    attrs = row["attrs"]
    out = {"label": row["class_name"] or "", "source": _SOURCES.get(row["source"], "manual")}
    if row["shape"] not in ("classification", "keypoints"):
        out["occluded"] = "1" if attrs.get("occluded") else "0"
    if row["external_id"] is not None:
        out["id"] = row["external_id"]
    b = row["bbox"]
    if row["shape"] == "box":
        x, y, w, h = b["x"], b["y"], b["w"], b["h"]
        rot = row["rotation"] or 0.0
        if rot:  # stored corner + angle -> CVAT's unrotated box turned about its centre
            t = math.radians(rot)
            cx = x + w / 2 * math.cos(t) - h / 2 * math.sin(t)
            cy = y + w / 2 * math.sin(t) + h / 2 * math.cos(t)
            x, y = cx - w / 2, cy - h / 2
        out.update(xtl=_num(x), ytl=_num(y), xbr=_num(x + w), ybr=_num(y + h))
        if rot:
            out["rotation"] = _num(rot)
    elif row["shape"] in ("polygon", "polyline", "points"):
        flat = [v for part in row["polygon"] or [] for v in part]
        out["points"] = ";".join(
            f"{_num(x)},{_num(y)}" for x, y in zip(flat[::2], flat[1::2], strict=True)
        )
    elif row["shape"] == "mask":
        runs, left, top, width, height = coco_to_cvat(row["mask_rle"])
        out.update(
            rle=", ".join(map(str, runs)),
            left=str(left),
            top=str(top),
            width=str(width),
            height=str(height),
        )
    for key in ("z_order", "group_id"):
        if attrs.get(key) is not None:
            out[key] = str(attrs[key])
    return out


def _split_parts(labels: list[dict]) -> int:
    """Give each multi-part polygon or polyline one row per part sharing a group_id
    (as CVAT's own COCO import does); returns how many labels were split."""
    groups = [r["attrs"].get("group_id") for r in labels]
    next_group = max([g for g in groups if isinstance(g, int)], default=0) + 1
    split, out = 0, []
    for row in labels:
        parts = row["polygon"] or []
        if row["shape"] not in ("polygon", "polyline") or len(parts) < 2:
            out.append(row)
            continue
        split += 1
        group = row["attrs"].get("group_id") or next_group
        next_group += group == next_group
        for part in parts:
            out.append({**row, "polygon": [part], "attrs": {**row["attrs"], "group_id": group}})
    labels[:] = out
    return split


def _write_shape(xml: _Xml, row: dict, names: list[str] | None) -> None:
    tag = _TAGS[row["shape"]]
    xml.open(tag, _shape_attrs(row))
    if tag == "skeleton":
        kp = row["keypoints"] or []
        triples = list(zip(kp[::3], kp[1::3], kp[2::3], strict=True))
        labels = (
            names
            if names and len(names) == len(triples)
            else [str(i + 1) for i in range(len(triples))]
        )
        for name, (x, y, v) in zip(labels, triples, strict=True):
            point = {
                "label": name,
                "source": _SOURCES.get(row["source"], "manual"),
                "outside": "1" if v == 0 else "0",
                "occluded": "1" if v == 1 else "0",
                "points": f"{_num(x)},{_num(y)}",
            }
            xml.open("points", point)
            xml.close("points")
    for name, value in sorted(row["attrs"].items()):
        if name not in _NOT_EXPORTED:
            xml.leaf("attribute", _value(value), {"name": name})
    xml.close(tag)


def _rows(data: ExportInput, key: bytes | None) -> list[dict]:
    """Live labels as dicts, their attributes parsed and provenance added to them."""
    labels = []
    for row in data.labels.to_pylist():
        if row.get("op") == "delete":
            continue
        attrs = json.loads(row["attributes"] or "{}")
        who = row.get("annotator_id")
        if who is not None:
            attrs[ANNOTATOR_ATTR] = pseudonym(who, key) if key else who
        attrs[LABEL_ATTR] = row["label_id"]
        if row.get("guideline_version"):
            attrs[GUIDELINE_ATTR] = row["guideline_version"]
        row["attrs"] = attrs
        labels.append(row)
    return labels


def _assets(data: ExportInput, by_asset: dict[str, list[dict]], notes: list[str]) -> dict:
    """Every asset of the revision, plus any a label names that has no asset row."""
    assets = {a["asset_id"]: a for a in data.assets.to_pylist()}
    for asset_id, rows in by_asset.items():
        if asset_id in assets:
            continue
        rle = next((r["mask_rle"] for r in rows if r["mask_rle"]), None)
        assets[asset_id] = {
            "asset_id": asset_id,
            "width": rle["width"] if rle else None,
            "height": rle["height"] if rle else None,
        }
        if rle is None:
            notes.append(f"asset {asset_id!r} has no size on record: written as 0x0")
    return assets


def _label_meta(data: ExportInput, labels: list[dict]) -> tuple[list[str], dict, dict]:
    """Classes (categories first, then any in use), skeletons and attribute specs."""
    categories = data.categories.to_pylist()
    classes = [c["class_name"] for c in categories]
    for row in labels:
        if row["class_name"] is not None and row["class_name"] not in classes:
            classes.append(row["class_name"])
    keypoints = {
        c["class_name"]: (c["keypoint_names"], c["skeleton"])
        for c in categories
        if c.get("keypoint_names")
    }
    for row in labels:  # CVAT needs named skeleton points: number the unnamed ones
        n = len(row["keypoints"] or []) // 3
        if row["shape"] == "keypoints" and len(keypoints.get(row["class_name"], ([],))[0]) < n:
            keypoints[row["class_name"]] = ([str(i + 1) for i in range(n)], None)
    specs = _attr_specs(labels)
    for spec in specs.values():
        for name in (*_NOT_EXPORTED, ANNOTATOR_ATTR, LABEL_ATTR, GUIDELINE_ATTR):  # declared apart
            spec.pop(name, None)
    return classes, keypoints, specs


def write_xml(data: ExportInput, out: Path, options: ExportOptions) -> ExportResult:
    """One ``<image>`` per asset, its labels as CVAT shapes, into ``out/annotations.xml``
    (written to a temporary file first, so a failed export leaves no half file)."""
    labels = _rows(data, options.pseudonymize_key)
    count, notes = len(labels), []
    split = _split_parts(labels)
    if split:
        notes.append(
            f"{split} multi-part polygon(s) written as one CVAT shape per part, "
            "grouped by group_id (CVAT shapes have one part)"
        )
    by_asset: dict[str, list[dict]] = defaultdict(list)
    for row in labels:
        by_asset[row["asset_id"]].append(row)
    assets = _assets(data, by_asset, notes)
    classes, keypoints, specs = _label_meta(data, labels)

    out.mkdir(parents=True, exist_ok=True)
    target = out / "annotations.xml"
    tmp = target.with_suffix(".xml.tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        xml = _Xml(fh)
        xml.gen.startDocument()
        xml.open("annotations")
        xml.leaf("version", "1.1")
        xml.open("meta")
        xml.open("task")
        xml.leaf("name", f"lineage export of {data.revision}")
        xml.leaf("size", str(len(assets)))
        xml.leaf("mode", "annotation")
        xml.leaf("overlap", "0")
        _write_labels(xml, classes, keypoints, specs)
        xml.close("task")
        xml.leaf("dumped", datetime.now(UTC).isoformat())
        xml.close("meta")
        for frame, asset_id in enumerate(sorted(assets)):
            asset = assets[asset_id]
            attrs = {"id": str(frame), "name": asset_id}
            if asset.get("split"):
                attrs["subset"] = asset["split"]
            attrs["width"] = str(asset.get("width") or 0)
            attrs["height"] = str(asset.get("height") or 0)
            xml.open("image", attrs)
            for row in by_asset.get(asset_id, []):
                _write_shape(xml, row, keypoints.get(row["class_name"], (None, None))[0])
            xml.close("image")
        xml.close("annotations")
        xml.gen.ignorableWhitespace("\n")
        xml.gen.endDocument()
    tmp.replace(target)
    return ExportResult(files=[target], labels=count, notes=notes)
