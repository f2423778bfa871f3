"""Axis-aligned and rotated box IoU (NumPy; shapely for rotated rectangles)."""

from __future__ import annotations

import numpy as np


def _as_boxes(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    return a.reshape(-1, 4) if a.size else np.zeros((0, 4))


def _div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den, with 0 where den is 0 or either side is not finite."""
    with np.errstate(divide="ignore", invalid="ignore"):
        out = num / den
    return np.where(np.isfinite(out) & (den > 0), out, 0.0)


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box of ``a`` (n, 4) with every box of ``b`` (m, 4), xywh -> (n, m)."""
    a, b = _as_boxes(a), _as_boxes(b)
    return _box_iou(a[:, None, :], b[None, :, :])


def box_iou_pairs(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of ``a[i]`` with ``b[i]``, xywh (n, 4) each -> (n,)."""
    return _box_iou(_as_boxes(a), _as_boxes(b))


def _box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    # pycocotools' bbIou, broadcast: no overlap (w or h <= 0) is 0.
    with np.errstate(invalid="ignore", over="ignore"):
        iw = np.minimum(a[..., 2] + a[..., 0], b[..., 2] + b[..., 0]) - np.maximum(
            a[..., 0], b[..., 0]
        )
        ih = np.minimum(a[..., 3] + a[..., 1], b[..., 3] + b[..., 1]) - np.maximum(
            a[..., 1], b[..., 1]
        )
        inter = np.where((iw > 0) & (ih > 0), iw * ih, 0.0)
        union = a[..., 2] * a[..., 3] + b[..., 2] * b[..., 3] - inter
    return _div(inter, union)


def _corners(boxes: np.ndarray, rotation: np.ndarray) -> np.ndarray:
    """(n, 4, 2) corners of boxes rotated clockwise (y down) by degrees about their top-left."""
    x, y, w, h = boxes.T
    t = np.radians(rotation)
    c, s = np.cos(t), np.sin(t)
    dx = np.stack([np.zeros_like(w), w, w, np.zeros_like(w)], axis=1)
    dy = np.stack([np.zeros_like(h), np.zeros_like(h), h, h], axis=1)
    px = x[:, None] + dx * c[:, None] - dy * s[:, None]
    py = y[:, None] + dx * s[:, None] + dy * c[:, None]
    return np.stack([px, py], axis=2)


def _rotated_envelope(boxes: np.ndarray, rotation: np.ndarray) -> np.ndarray:
    pts = _corners(boxes, rotation)
    lo, hi = pts.min(axis=1), pts.max(axis=1)
    return np.concatenate([lo, hi - lo], axis=1)


def _rotated_pair(rot_a, box_a, rot_b, box_b) -> np.ndarray:
    """Two boxes, one of them rotated: compared exactly rather than by envelopes."""
    return box_a & box_b & ((rot_a != 0) | (rot_b != 0))


def _rotated_iou_pairs(a: np.ndarray, ra: np.ndarray, b: np.ndarray, rb: np.ndarray) -> np.ndarray:
    """Exact IoU of rotated rectangles a[i], b[i] (shapely, vectorised)."""
    import shapely

    if len(a) == 0:
        return np.zeros(0)
    ca, cb = _corners(a, ra), _corners(b, rb)
    ca, cb = np.where(np.isfinite(ca), ca, 0.0), np.where(np.isfinite(cb), cb, 0.0)
    pa_, pb_ = shapely.polygons(ca), shapely.polygons(cb)
    with np.errstate(invalid="ignore"):
        inter = shapely.area(shapely.intersection(pa_, pb_))
        union = shapely.area(pa_) + shapely.area(pb_) - inter
    return _div(np.nan_to_num(inter), np.nan_to_num(union))
