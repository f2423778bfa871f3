"""One VOC annotation element -> an asset row and label rows (boxes not yet converted).

Errors go through ``RecordErrors`` naming the XML file, the record (``annotation``,
``object 3``, ``object 3 part 1``) and the field (``bndbox/xmin``). A bad object is
skipped in lenient mode; a bad part skips only that part.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import Element

from lineage.formats.base import RecordErrors

from . import attrs as A
from .coords import extent

_COORDS = ("xmin", "ymin", "xmax", "ymax")


class _Bad(Exception):
    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass
class Context:
    """What parsing one file needs to know besides the file."""

    errors: RecordErrors
    conv: str
    classes: set[str] | None = None
    tolerance: float = 0.05  # fraction of the image size a box may stick out


@dataclass
class Parsed:
    asset: dict
    labels: list[dict] = field(default_factory=list)  # each with "xyxy": [xmin, ymin, xmax, ymax]
    fallback_filename: bool = False
    source: dict[str, str] = field(default_factory=dict)  # source/* and owner/* texts


def _text(elem: Element | None, tag: str) -> str | None:
    child = elem.find(tag) if elem is not None else None
    if child is None or child.text is None:
        return None
    s = child.text.strip()
    return s or None


def _dimension(root: Element, tag: str, file: Path, errors: RecordErrors) -> int | None:
    raw = _text(root, f"size/{tag}")
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0 or not value.is_integer():
        errors.bad(
            f"image {tag} {raw!r} is not a whole number of pixels",
            file=file,
            record="annotation",
            field=f"size/{tag}",
        )
        return None
    return int(value) or None  # 0 means "unknown" in many exports


def _box(elem: Element) -> list[float]:
    box = elem.find("bndbox")
    if box is None:
        raise _Bad("bndbox", "object has no bndbox")
    out = []
    for tag in _COORDS:
        child = box.find(tag)
        raw = child.text.strip() if child is not None and child.text else ""
        if not raw:
            raise _Bad(f"bndbox/{tag}", f"missing {tag}")
        try:
            value = float(raw)
        except ValueError:
            raise _Bad(f"bndbox/{tag}", f"{tag} {raw!r} is not a number") from None
        if not math.isfinite(value):
            raise _Bad(f"bndbox/{tag}", f"{tag} {raw!r} is not a finite number")
        out.append(value)
    xmin, ymin, xmax, ymax = out
    if xmax < xmin:
        raise _Bad("bndbox/xmax", f"xmax {xmax:g} is less than xmin {xmin:g}")
    if ymax < ymin:
        raise _Bad("bndbox/ymax", f"ymax {ymax:g} is less than ymin {ymin:g}")
    return out


def _check_inside(xyxy: list[float], size: tuple[int | None, int | None], ctx: Context) -> None:
    """Refuse a box far outside the image (more than ``tolerance`` of its size, min 2 px)."""
    for (lo, hi), dim, axis in (
        ((xyxy[0], xyxy[2]), size[0], "x"),
        ((xyxy[1], xyxy[3]), size[1], "y"),
    ):
        if not dim:
            continue
        start, end = extent(lo, hi, ctx.conv)
        slack = max(2.0, ctx.tolerance * dim)
        if start < -slack or end > dim + slack:
            raise _Bad(
                "bndbox",
                f"box {axis}min..{axis}max {lo:g}..{hi:g} lies far outside the image "
                f"({'width' if axis == 'x' else 'height'} {dim})",
            )


def _name(elem: Element, ctx: Context) -> str:
    name = _text(elem, "name")
    if name is None:
        raise _Bad("name", "object has no name")
    if ctx.classes is not None and name not in ctx.classes:
        raise _Bad("name", f"unknown class {name!r} (not in the classes given)")
    return name


def _tool_attributes(elem: Element) -> dict[str, Any]:
    """CVAT / Datumaro ``<attributes><attribute><name/><value/></attribute></attributes>``."""
    out: dict[str, Any] = {}
    for k, attr in enumerate(elem.findall("attributes/attribute"), start=1):
        name = _text(attr, "name")
        if name is None:
            raise _Bad(f"attributes/attribute[{k}]/name", "attribute has no name")
        value_elem = attr.find("value")
        text = value_elem.text if value_elem is not None else None
        if name in A.PROVENANCE_TEXT:  # ids stay text: "0042" is not the number 42
            out[name] = text.strip() if text and text.strip() else None
        else:
            out[name] = A.from_text(text)
    return out


def _provenance(label: dict, attributes: dict[str, Any]) -> None:
    """Move lineage's provenance attributes back into their label columns."""
    if "label_id" in attributes:
        label["label_id"] = str(attributes.pop("label_id"))
    for key in ("annotator_id", "model_version", "guideline_version"):
        if key in attributes and attributes[key] is not None:
            label[key] = str(attributes.pop(key))
    if attributes.get("source") in A.SOURCES:
        label["source"] = attributes.pop("source")
    score = attributes.get("score")
    if isinstance(score, int | float) and not isinstance(score, bool):
        label["score"] = float(attributes.pop("score"))
    created = attributes.get("created_at")
    if isinstance(created, str):
        try:
            ts = datetime.fromisoformat(created)
        except ValueError:
            return
        label["created_at"] = ts if ts.tzinfo else ts.replace(tzinfo=UTC)
        attributes.pop("created_at")
    rotation = attributes.get("rotation")
    if isinstance(rotation, int | float) and not isinstance(rotation, bool):
        label["rotation"] = float(attributes.pop("rotation"))


def _object(elem: Element, size, ctx: Context) -> dict:
    name = _name(elem, ctx)
    xyxy = _box(elem)
    _check_inside(xyxy, size, ctx)
    attributes: dict[str, Any] = {}
    for tag in A.FLAGS:
        value = A.flag(_text(elem, tag))
        if value is not None or tag != "occluded":
            attributes[tag] = False if value is None else value  # VOC's core flags default to 0
    pose = _text(elem, "pose")
    if pose is not None:
        attributes["pose"] = pose
    actions = elem.find("actions")
    if actions is not None:
        attributes["actions"] = {a.tag: A.flag(a.text) for a in actions}
    point = elem.find("point")
    if point is not None:
        try:
            attributes["point"] = [float(_text(point, "x")), float(_text(point, "y"))]  # type: ignore[arg-type]  # checked before use
        except (TypeError, ValueError):
            raise _Bad("point", "point needs numeric x and y") from None
    label = {"class_name": name, "shape": "box", "xyxy": xyxy}
    extra = _tool_attributes(elem)
    _provenance(label, extra)
    attributes.update(extra)
    label["attributes"] = attributes  # type: ignore[assignment]  # checked before use
    return label


def _part(elem: Element, size, group: Any, ctx: Context) -> dict:
    name = _name(elem, ctx)
    xyxy = _box(elem)
    _check_inside(xyxy, size, ctx)
    label = {"class_name": name, "shape": "box", "xyxy": xyxy}
    extra = _tool_attributes(elem)
    _provenance(label, extra)
    extra.update({"group_id": group, "voc_part": True})
    label["attributes"] = extra  # type: ignore[assignment]  # checked before use
    return label


def parse(root: Element, file: Path, item_id: str, ctx: Context) -> Parsed | None:
    """The asset and labels of one annotation; None when the file itself is refused."""
    errors = ctx.errors
    if root.tag != "annotation":
        errors.bad(
            f"root element is <{root.tag}>, not <annotation>: not a VOC annotation",
            file=file,
            record="annotation",
            field="annotation",
        )
        return None
    filename = _text(root, "filename")
    fallback = filename is None
    width = _dimension(root, "width", file, errors)
    height = _dimension(root, "height", file, errors)
    tags = []
    if A.flag(_text(root, "segmented")) is True:
        tags.append("segmented")
    if (root.get("verified") or "").lower() == "yes":  # labelImg's "verified" toggle
        tags.append("verified")
    asset = {
        "asset_id": filename or f"{item_id}.jpg",
        "uri": _text(root, "path"),
        "width": width,
        "height": height,
        "tags": tags or None,
    }
    parsed = Parsed(asset=asset, fallback_filename=fallback)
    for key in ("source/database", "source/annotation", "source/image", "owner/name"):
        if (value := _text(root, key)) is not None:
            parsed.source[key] = value
    size = (width, height)
    for i, elem in enumerate(root.findall("object"), start=1):
        record = f"object {i}"
        try:
            label = _object(elem, size, ctx)
        except _Bad as bad:
            errors.bad(bad.message, file=file, record=record, field=bad.field)
            continue
        parsed.labels.append(label)
        parts = elem.findall("part")
        if not parts:
            continue
        group = label["attributes"].setdefault("group_id", i)
        for j, part in enumerate(parts, start=1):
            try:
                parsed.labels.append(_part(part, size, group, ctx))
            except _Bad as bad:
                errors.bad(bad.message, file=file, record=f"{record} part {j}", field=bad.field)
    for label in parsed.labels:
        label["asset_id"] = asset["asset_id"]
    return parsed
