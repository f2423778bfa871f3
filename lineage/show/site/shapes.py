"""A label's geometry as SVG elements: boxes, rotated boxes, polygons, polylines,
points, keypoints with their skeleton, and masks (the RLE decoded to a PNG used as an
SVG mask over a filled rectangle, so the fill takes the kind's colour from the CSS).

Each element is a dict ``{"tag", "cls", "attrs"}`` the template writes out; every
value is a number or a string the template escapes. Coordinates are pixels of the
image, the SVG's viewBox.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from markupsafe import Markup, escape

from lineage.geometry import rle_decode

Element = dict[str, Any]


def _num(v: float) -> str:
    """A coordinate as short text (2 decimals, no trailing zeros)."""
    return f"{v:.2f}".rstrip("0").rstrip(".")


def _points(flat: Sequence[float]) -> str:
    xs = flat[0::2]
    ys = flat[1::2]
    return " ".join(f"{_num(x)},{_num(y)}" for x, y in zip(xs, ys, strict=False))


def _el(tag: str, cls: str, **attrs: Any) -> Element:
    return {"tag": tag, "cls": cls, "attrs": attrs}


def box(bbox: Mapping[str, float], rotation: float | None) -> Element:
    attrs = {
        "x": _num(bbox["x"]),
        "y": _num(bbox["y"]),
        "width": _num(bbox["w"]),
        "height": _num(bbox["h"]),
    }
    if rotation:
        # clockwise degrees about the top-left corner (SVG's rotate turns clockwise too,
        # since y grows downwards)
        attrs["transform"] = f"rotate({_num(rotation)} {attrs['x']} {attrs['y']})"
        return _el("rect", "shape-rotated-box", **attrs)
    return _el("rect", "shape-box", **attrs)


def keypoints(flat: Sequence[float], skeleton: Sequence[Sequence[int]] | None) -> list[Element]:
    """Labelled points (v > 0) as circles, the skeleton's edges between labelled points
    as lines (COCO: 1-based index pairs)."""
    pts = [(flat[i], flat[i + 1], flat[i + 2]) for i in range(0, len(flat) - 2, 3)]
    out: list[Element] = []
    for a, b in skeleton or ():
        if 1 <= a <= len(pts) and 1 <= b <= len(pts):
            (x1, y1, v1), (x2, y2, v2) = pts[a - 1], pts[b - 1]
            if v1 > 0 and v2 > 0:
                out.append(
                    _el(
                        "line", "shape-skeleton", x1=_num(x1), y1=_num(y1), x2=_num(x2), y2=_num(y2)
                    )
                )
    for x, y, v in pts:
        if v > 0:
            cls = "shape-keypoint" if v >= 2 else "shape-keypoint hidden-point"
            out.append(_el("circle", cls, cx=_num(x), cy=_num(y), r="3"))
    return out


def mask(rle: Mapping[str, Any], mask_id: str, bbox: Mapping[str, float] | None) -> list[Element]:
    """The mask as a luminance mask (white where set) over a rectangle the CSS fills,
    and its box as a faint outline (what a click hits: a mask covers the whole image)."""
    pixels = rle_decode(dict(rle))
    h, w = pixels.shape
    png = _png(pixels)
    uri = "data:image/png;base64," + base64.b64encode(png).decode("ascii")
    size = {"x": "0", "y": "0", "width": str(w), "height": str(h)}
    return [
        {
            "tag": "mask",
            "cls": "",
            "attrs": {"id": mask_id, "maskUnits": "userSpaceOnUse", **size},
            "children": [_el("image", "", href=uri, **size)],
        },
        _el("rect", "shape-mask", mask=f"url(#{mask_id})", **size),
        *([{**box(bbox, None), "cls": "shape-envelope"}] if bbox else []),
    ]


def _png(pixels: np.ndarray) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.fromarray((pixels > 0).astype(np.uint8) * 255).save(out, "PNG")
    return out.getvalue()


def elements(label: Mapping[str, Any], skeletons: Mapping[str, Any], mask_id: str) -> list[Element]:
    """The SVG elements that draw one label (none for a classification)."""
    shape = label["shape"]
    parts = label.get("polygon") or []
    if shape == "mask" and label.get("mask_rle"):
        return mask(label["mask_rle"], mask_id, label.get("bbox"))
    if shape == "keypoints" and label.get("keypoints"):
        return keypoints(label["keypoints"], skeletons.get(label.get("class_name") or ""))
    if shape == "polygon" and parts:
        return [_el("polygon", "shape-polygon", points=_points(p)) for p in parts]
    if shape == "polyline" and parts:
        return [_el("polyline", "shape-polyline", points=_points(p)) for p in parts]
    if shape == "points" and parts:
        return [
            _el("circle", "shape-point", cx=_num(p[i]), cy=_num(p[i + 1]), r="3")
            for p in parts
            for i in range(0, len(p) - 1, 2)
        ]
    if label.get("bbox"):
        return [box(label["bbox"], label.get("rotation"))]
    return []


def markup(elements: Sequence[Element]) -> Markup:
    """The elements as SVG markup, every attribute value escaped (a page draws tens of
    thousands: a template macro per element is ten times slower)."""
    out = []
    for e in elements:
        attrs = "".join(f' {k}="{escape(v)}"' for k, v in e["attrs"].items())
        cls = f' class="{e["cls"]}"' if e["cls"] else ""
        inner = markup(e.get("children", ()))
        out.append(f"<{e['tag']}{cls}{attrs}>{inner}</{e['tag']}>")
    return Markup("".join(out))
