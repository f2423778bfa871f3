"""One CVAT shape element (``<box>``, ``<polygon>``, ``<mask>``, ``<skeleton>``, ``<tag>`` ...)
to the geometry columns of a label event.

Raises ShapeError naming the XML attribute at fault; the reader adds file and record.
"""

from __future__ import annotations

import json
import math
import re
from xml.etree.ElementTree import Element

import numpy as np

from lineage.formats.base import finite
from lineage.formats.cvat.mask import MaskError, coco_bbox, cvat_to_coco, parse_counts
from lineage.formats.cvat.meta import Meta

SHAPES = ("box", "polygon", "polyline", "points", "mask", "skeleton", "tag")
UNSUPPORTED = ("ellipse", "cuboid")
MIN_POINTS = {"polygon": 3, "polyline": 2, "points": 1}
# Attributes lineage writes as XML attributes of the shape, not as <attribute> children.
BUILTIN = ("occluded", "z_order", "group_id", "keyframe")
# What lineage's own export adds as <attribute>s, since CVAT has no field for them.
ANNOTATOR_ATTR = "lineage.annotator_id"
LABEL_ATTR = "lineage.label_id"
GUIDELINE_ATTR = "lineage.guideline_version"
_INT = re.compile(r"^[+-]?\d+$")


class ShapeSkip(Exception):
    """A shape with nothing lineage can store (reported, never an error)."""


class ShapeError(ValueError):
    """A bad shape; ``field`` is the XML attribute (or attribute name) at fault."""

    def __init__(self, message: str, field: str):
        super().__init__(message)
        self.field = field


def number(el: Element, name: str, default: float | None = None) -> float:
    """A finite float from an XML attribute."""
    raw = el.get(name)
    if raw is None:
        if default is not None:
            return default
        raise ShapeError(f"missing {name}", name)
    try:
        value = float(raw)
    except ValueError:
        raise ShapeError(f"{name}={raw!r} is not a number", name) from None
    if not finite(value):
        raise ShapeError(f"{name}={raw!r} is not a finite number", name)
    return value


def integer(el: Element, name: str, default: int | None = None) -> int:
    raw = el.get(name)
    if raw is None:
        if default is not None:
            return default
        raise ShapeError(f"missing {name}", name)
    if not _INT.match(raw.strip()):
        raise ShapeError(f"{name}={raw!r} is not an integer", name)
    return int(raw)


def flag(el: Element, name: str) -> bool:
    raw = (el.get(name) or "0").strip().lower()
    if raw in ("1", "true"):
        return True
    if raw in ("0", "false", ""):
        return False
    raise ShapeError(f"{name}={raw!r} is not 0 or 1", name)


def points(el: Element, name: str = "points") -> np.ndarray:
    """``"x1,y1;x2,y2"`` as an (n, 2) float array."""
    raw = (el.get(name) or "").strip()
    if not raw:
        raise ShapeError("no points", name)
    parts = raw.replace(";", ",").split(",")
    if len(parts) % 2:
        raise ShapeError(f"{name} has an odd number of coordinates", name)
    try:
        xy = np.array(parts, dtype=np.float64).reshape(-1, 2)
    except ValueError:
        raise ShapeError(f"{name}={raw[:40]!r} holds a value that is not a number", name) from None
    if not np.isfinite(xy).all():
        raise ShapeError(f"{name} holds a value that is not finite", name)
    return xy


def envelope(xy: np.ndarray) -> list[float]:
    lo, hi = xy.min(axis=0), xy.max(axis=0)
    return [float(lo[0]), float(lo[1]), float(hi[0] - lo[0]), float(hi[1] - lo[1])]


def typed_attribute(name: str, value: str, input_type: str | None):
    """An ``<attribute>`` value typed as its spec says (checkbox -> bool, number -> number)."""
    if input_type == "checkbox":
        low = value.strip().lower()
        if low in ("true", "1"):
            return True
        if low in ("false", "0", ""):
            return False
        raise ShapeError(f"checkbox attribute {name}={value!r} is not true/false", name)
    if input_type == "number":
        text = value.strip()
        try:
            out = int(text) if _INT.match(text) else float(text)
        except ValueError:
            raise ShapeError(f"number attribute {name}={value!r} is not a number", name) from None
        if not finite(out):
            raise ShapeError(f"number attribute {name}={value!r} is not finite", name)
        return out
    if value[:1] in ("{", "["):  # a structured value our writer wrote as JSON text
        try:
            parsed = json.loads(value)
        except ValueError:
            return value
        return parsed if isinstance(parsed, dict | list) else value
    return value


def attributes(el: Element, meta: Meta, label: str | None) -> dict:
    """``<attribute name=..>`` children plus occluded / z_order / group_id."""
    spec = meta.labels[label].attributes if label in meta.labels else {}
    out: dict = {}
    for child in el.findall("attribute"):
        name = child.get("name")
        if name is None:
            raise ShapeError("<attribute> without a name", "attribute")
        out[name] = typed_attribute(name, child.text or "", spec.get(name))
    if el.get("occluded") is not None:
        out["occluded"] = flag(el, "occluded")
    for key in ("z_order", "group_id"):
        if el.get(key) is not None:
            out[key] = integer(el, key)
    return out


def _box(el: Element) -> dict:
    xtl, ytl, xbr, ybr = (number(el, k) for k in ("xtl", "ytl", "xbr", "ybr"))
    if xbr < xtl:
        raise ShapeError(f"xbr={xbr} is left of xtl={xtl}", "xbr")
    if ybr < ytl:
        raise ShapeError(f"ybr={ybr} is above ytl={ytl}", "ybr")
    w, h = xbr - xtl, ybr - ytl
    rotation = number(el, "rotation", 0.0)
    if not rotation:
        return {"bbox": [xtl, ytl, w, h], "rotation": None}
    # CVAT turns the box clockwise about its centre; lineage stores the turned top-left
    # corner with the same angle (Label Studio's convention), so move the corner.
    t = math.radians(rotation)
    cx, cy = xtl + w / 2, ytl + h / 2
    x = cx - w / 2 * math.cos(t) + h / 2 * math.sin(t)
    y = cy - w / 2 * math.sin(t) - h / 2 * math.cos(t)
    return {"bbox": [x, y, w, h], "rotation": rotation}


def _poly(el: Element, tag: str) -> dict:
    xy = points(el)
    if len(xy) < MIN_POINTS[tag]:
        raise ShapeError(f"a {tag} needs {MIN_POINTS[tag]} points, got {len(xy)}", "points")
    return {"bbox": envelope(xy), "polygon": [xy.ravel().tolist()]}


def _mask(el: Element, width: int, height: int) -> dict:
    try:
        rle = cvat_to_coco(
            parse_counts(el.get("rle") or ""),
            integer(el, "left"),
            integer(el, "top"),
            integer(el, "width"),
            integer(el, "height"),
            width,
            height,
        )
    except MaskError as exc:
        raise ShapeError(str(exc), exc.field) from None
    return {"bbox": coco_bbox(rle), "mask_rle": rle}


def _skeleton(el: Element, meta: Meta, label: str | None) -> dict:
    names = meta.keypoint_names(label) if label else []
    found: dict[str, tuple[float, float, int]] = {}
    order: list[str] = []
    for child in el.findall("points"):
        name = child.get("label") or ""
        if names and name not in names:
            raise ShapeError(f"skeleton point {name!r} is not a part of {label!r}", "label")
        if flag(child, "outside"):
            found[name] = (0.0, 0.0, 0)
        else:
            xy = points(child)
            found[name] = (float(xy[0, 0]), float(xy[0, 1]), 1 if flag(child, "occluded") else 2)
        order.append(name)
    keys = names or order
    triples = np.array([found.get(n, (0.0, 0.0, 0)) for n in keys], dtype=np.float64).reshape(-1, 3)
    seen = triples[triples[:, 2] > 0, :2]
    if not len(seen):
        raise ShapeSkip("skeleton with every point outside the image: nothing to place")
    return {
        "keypoints": triples.ravel().tolist(),
        "bbox": envelope(seen),
        "keypoint_names": keys,
    }


def parse_shape(el: Element, meta: Meta, width: int, height: int) -> dict:
    """Label columns (class_name, shape, bbox, rotation, polygon, keypoints, mask_rle,
    attributes as a dict) of one shape element of an image of ``width`` x ``height``.
    Raises ShapeError for bad input, ShapeSkip for a shape with nothing to store."""
    tag = el.tag
    label = (el.get("label") or "").strip() or None
    if label is None:
        raise ShapeError("shape has no label", "label")
    if meta.labels and label not in meta.labels:
        raise ShapeError(f"label {label!r} is not among the labels of <meta>", "label")
    row: dict = {"class_name": label, "attributes": attributes(el, meta, label)}
    if tag == "box":
        row.update(shape="box", **_box(el))
    elif tag in MIN_POINTS:
        row.update(shape=tag, **_poly(el, tag))
    elif tag == "mask":
        row.update(shape="mask", **_mask(el, width, height))
    elif tag == "skeleton":
        row.update(shape="keypoints", **_skeleton(el, meta, label))
    elif tag == "tag":
        row.update(shape="classification", bbox=None)
    else:
        raise ShapeError(f"unsupported shape <{tag}>", "tag")
    return row
