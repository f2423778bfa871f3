"""One Label Studio region (the ``result[]`` entries that share an ``id``) -> label fields.

A region is drawn by one geometric control tag (``rectanglelabels``, ``polygonlabels``,
``keypointlabels``, ``brushlabels``, or their unlabelled forms with a ``labels`` sibling)
and may carry per-region answers of other tags under the same id (``choices``,
``textarea``, ``rating``…, "perRegion" in the labelling config). Those answers become
attributes keyed by their tag's ``from_name``; ``ls_types`` remembers each tag's type
so the writer can put them back. A group with no geometry is image-level: each of its
``choices`` is a classification label; anything else is not a label and is skipped.

Coordinates are percent of ``original_width`` / ``original_height``; labels get pixels.
Rectangles keep Label Studio's rotation: bbox is the box before rotation (its top-left
corner is the pivot) and ``rotation`` the clockwise angle in degrees, so the pair is
exact and reversible (``lineage.geometry`` reads the pair the same way for IoU).
Keypoints become ``points`` labels, one point each: a Label Studio keypoint is a
free-standing region with its own id and class, not a member of an ordered, named
skeleton as the ``keypoints`` shape (COCO) means.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lineage.formats.base import finite
from lineage.formats.labelstudio import brush
from lineage.geometry import rle_bbox, rle_encode

GEOMETRY = {
    "rectanglelabels": "box",
    "rectangle": "box",
    "polygonlabels": "polygon",
    "polygon": "polygon",
    "keypointlabels": "points",
    "keypoint": "points",
    "brushlabels": "mask",
    "brush": "mask",
}
_LABEL_KEY = {"box": "rectanglelabels", "polygon": "polygonlabels", "points": "keypointlabels"}
_VALUE_KEY = {"textarea": "text"}  # the value key of a tag's answer, when not the type's name
_SLACK = 10.0  # percent outside 0..100 still accepted (tools round; boxes poke out a little)
_GEOMETRY_KEYS = {"x", "y", "width", "height", "rotation", "points", "rle", "format", "closed"}


class RegionError(ValueError):
    """A region Label Studio could not have written, with the field at fault."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


class Unsupported(ValueError):
    """A region that is not a label lineage stores (skipped and reported, never an error)."""


def region_part(external_id: str) -> str:
    """The Label Studio region id inside an external id (see ``reader``: ``id@scope``,
    ``id#choice``)."""
    for sep in ("@", "#"):
        external_id = external_id.split(sep, 1)[0]
    return external_id


def parse(results: list[dict]) -> list[dict]:
    """Label fields (class_name, shape, bbox, rotation, polygon, mask_rle, score,
    attributes) for one region's results; several for multi-choice classifications."""
    geometric = [r for r in results if r.get("type") in GEOMETRY]
    if not geometric:
        return _image_level(results)
    main = geometric[0]
    label = _geometry(main)
    attrs: dict[str, Any] = _tags(main)
    types: dict[str, str] = {}
    classes = _classes(main)
    for other in results:
        if other is main:
            continue
        kind = other.get("type")
        if kind == "labels" and not classes:
            classes = _classes(other, "labels")
            continue
        if kind in GEOMETRY:
            raise RegionError(f"a second geometry ({kind}) in one region", field="type")
        name = str(other.get("from_name") or kind)
        attrs[name] = _answer(other)
        types[name] = str(kind)
    if len(classes) > 1:
        attrs["extra_labels"] = classes[1:]
    if types:
        attrs["ls_types"] = types
    label["class_name"] = classes[0] if classes else None
    label["attributes"] = attrs
    label["score"] = _score(main)
    return [label]


def _image_level(results: list[dict]) -> list[dict]:
    choices = [r for r in results if r.get("type") == "choices"]
    if not choices:
        kinds = ", ".join(sorted({str(r.get("type")) for r in results}))
        raise Unsupported(
            f"'{kinds}' result is not a label lineage imports (no geometry, no choices)"
        )
    answers = [(r, _classes(r, "choices")) for r in choices]
    if not all(names for _, names in answers):
        raise RegionError("choices result with no choice", field="value.choices")
    multi = sum(len(names) for _, names in answers) > 1
    out = []
    for r, names in answers:
        for name in names:
            out.append(
                {
                    "class_name": name,
                    "shape": "classification",
                    "attributes": _tags(r),
                    "score": _score(r),
                    "multi": multi,
                }
            )
    return out


def _tags(result: dict) -> dict[str, str | None]:
    """The control and object tag names of a result (kept so an export fits the config)."""
    out = {}
    for key in ("from_name", "to_name"):
        name = result.get(key)
        if name is not None and not isinstance(name, str):
            raise RegionError(f"{key} must be a tag name, not {name!r}", field=key)
        out[key] = name
    return out


def _value(result: dict) -> dict:
    value = result.get("value")
    if not isinstance(value, dict):
        raise RegionError("value must be an object", field="value")
    return value


def _classes(result: dict, key: str | None = None) -> list[str]:
    value = _value(result)
    key = key or result.get("type")
    names = value.get(key)
    if names is None:
        return []
    if isinstance(names, str):
        return [names]
    if not isinstance(names, list) or not all(isinstance(n, str | int | float) for n in names):
        raise RegionError("labels must be a list of names", field=f"value.{key}")
    return [str(n) for n in names]


def _answer(result: dict) -> Any:
    value = _value(result)
    kind = result.get("type")
    key = _VALUE_KEY.get(kind, kind)  # type: ignore[arg-type]  # checked before use
    if key in value:
        return value[key]
    rest = {k: v for k, v in value.items() if k not in _GEOMETRY_KEYS}
    return rest if len(rest) != 1 else next(iter(rest.values()))


def _score(result: dict) -> float | None:
    score = result.get("score")
    return float(score) if finite(score) else None


def _size(result: dict) -> tuple[int, int]:
    w, h = result.get("original_width"), result.get("original_height")
    for name, v in (("original_width", w), ("original_height", h)):
        if v is None:
            raise RegionError(f"{name} is missing: percent coordinates need it", field=name)
        if not finite(v) or not 0 < v < 1 << 31 or v != int(v):
            raise RegionError(f"{name} must be a positive whole number, not {v!r}", field=name)
    return int(w), int(h)  # type: ignore[arg-type]  # checked before use


def _pct(value: dict, key: str, *, low: float = -_SLACK) -> float:
    v = value.get(key)
    if not finite(v):
        raise RegionError(f"{key} must be a finite number, not {v!r}", field=f"value.{key}")
    if not low <= v <= 100 + _SLACK:
        raise RegionError(f"{key} = {v} is far outside 0..100 percent", field=f"value.{key}")
    return float(v)


def _geometry(result: dict) -> dict:
    shape = GEOMETRY[result["type"]]
    value = _value(result)
    width, height = _size(result)
    sx, sy = width / 100.0, height / 100.0
    out: dict[str, Any] = {"shape": shape, "width": width, "height": height}
    if shape == "box":
        x, y = _pct(value, "x"), _pct(value, "y")
        w, h = _pct(value, "width", low=0.0), _pct(value, "height", low=0.0)
        rotation = value.get("rotation") or 0.0
        if not finite(rotation):
            raise RegionError(
                f"rotation must be a finite number, not {rotation!r}", "value.rotation"
            )
        rotation = float(rotation) % 360.0
        out["bbox"] = [x * sx, y * sy, w * sx, h * sy]
        out["rotation"] = rotation or None
    elif shape == "polygon":
        try:
            xy = np.asarray(value.get("points"), dtype=float)
        except (TypeError, ValueError):
            xy = np.empty((0, 0))
        if xy.ndim != 2 or xy.shape[1] != 2:
            raise RegionError("points must be a list of [x, y] pairs", field="value.points")
        if len(xy) < 3:
            raise RegionError(f"polygon has {len(xy)} points, needs 3", field="value.points")
        if not np.isfinite(xy).all():
            raise RegionError("points must be finite numbers", field="value.points")
        far = (xy < -_SLACK) | (xy > 100 + _SLACK)
        if far.any():
            k = int(np.flatnonzero(far.any(axis=1))[0])
            raise RegionError(
                f"point {k + 1} {xy[k].tolist()} is far outside 0..100 percent",
                field="value.points",
            )
        xy *= (sx, sy)
        out["polygon"] = [xy.ravel().tolist()]
        out["bbox"] = _envelope(xy)
        if value.get("closed") is False:
            out["shape"] = "polyline"
    elif shape == "points":
        x, y = _pct(value, "x") * sx, _pct(value, "y") * sy
        out["polygon"] = [[x, y]]
        out["bbox"] = [x, y, 0.0, 0.0]
    else:
        out.update(_mask(value, width, height))
    return out


def _mask(value: dict, width: int, height: int) -> dict:
    fmt = value.get("format", "rle")
    if fmt != "rle" or "rle" not in value:
        raise Unsupported(f"brush format '{fmt}' without an rle is not read")
    try:
        mask = brush.to_mask(value["rle"], height, width)
    except brush.BrushError as exc:
        raise RegionError(str(exc), field="value.rle") from exc
    rle = rle_encode(mask)
    return {"mask_rle": rle, "bbox": [float(v) for v in rle_bbox(rle)]}


def _envelope(xy: np.ndarray) -> list[float]:
    lo, hi = xy.min(axis=0), xy.max(axis=0)
    return [float(lo[0]), float(lo[1]), float(hi[0] - lo[0]), float(hi[1] - lo[1])]


def label_key(shape: str) -> str:
    """The value key Label Studio names a shape's classes under."""
    return _LABEL_KEY.get(shape, "brushlabels")
