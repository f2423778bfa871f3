"""Polygons: area, box, and rasterising to RLE at the image size (pycocotools)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from pycocotools import mask as mask_utils

from lineage.geometry.rle import _canonical_counts, _coco, _counts_from_string, _empty_rle, _rle

# Beyond this distance (in image sizes) from the image, polygon parts are clipped
# before rasterising: pycocotools allocates memory per 1/5 pixel of edge length and
# casts coordinates to C int, so absurd coordinates would exhaust memory or overflow.
_FAR = 4.0


def _part_xy(part: Sequence[float]) -> np.ndarray | None:
    """(k, 2) points of one flat x1, y1, ... part (a trailing odd value is ignored);
    None when it has a non-finite coordinate."""
    arr = np.asarray(part, dtype=np.float64).ravel()
    xy = arr[: arr.size // 2 * 2].reshape(-1, 2)
    return xy if np.all(np.isfinite(xy)) else None


def polygon_area(parts: list[list[float]]) -> float:
    """Shoelace area summed over parts: COCO's ``area`` of a polygon annotation."""
    total = 0.0
    for part in parts or []:
        xy = _part_xy(part)
        if xy is None or len(xy) < 3:
            continue
        x, y = xy[:, 0], xy[:, 1]
        total += 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))
    return total


def polygon_bbox(parts: list[list[float]]) -> tuple[float, float, float, float]:
    """Envelope x, y, w, h of every point of every part ((0, 0, 0, 0) when there is none)."""
    pts = [xy for xy in (_part_xy(p) for p in parts or []) if xy is not None and len(xy)]
    if not pts:
        return (0.0, 0.0, 0.0, 0.0)
    xy = np.concatenate(pts)
    lo, hi = xy.min(axis=0), xy.max(axis=0)
    return (float(lo[0]), float(lo[1]), float(hi[0] - lo[0]), float(hi[1] - lo[1]))


def polygon_to_rle(parts: list[list[float]], height: int, width: int) -> dict:
    """Rasterise polygon parts as pycocotools does (frPyObjects, then merge), canonical RLE.

    Parts of fewer than 3 points or with a non-finite coordinate cover nothing (and are
    not handed to frPyObjects, which would read a 4-number part as a box)."""
    h, w = int(height), int(width)
    merged = _polygon_coco_rle(parts, h, w)
    return _rle(h, w, _canonical_counts(_counts_from_string(merged["counts"])))


def _polygon_coco_rle(parts: list[list[float]], height: int, width: int) -> dict:
    """The rasterisation of ``polygon_to_rle``, left as pycocotools' own RLE object: IoU
    needs no canonical string (re-encoding it is pure Python and slow)."""
    h, w = int(height), int(width)
    usable = []
    for part in parts or []:
        xy = _part_xy(part)
        if xy is None or len(xy) < 3:
            continue
        usable.append(_clip_far(xy, h, w).ravel().tolist())
    usable = [p for p in usable if len(p) >= 6]
    if not usable or h * w == 0:
        return _coco(_empty_rle(h, w))
    return mask_utils.merge(mask_utils.frPyObjects(usable, h, w))


def _clip_far(xy: np.ndarray, h: int, w: int) -> np.ndarray:
    """Clip a part to a window well around the image, only when it reaches far outside it
    (so ordinary polygons go to pycocotools untouched). Sutherland-Hodgman: the parts of
    edges inside the window stay on the same lines."""
    margin = _FAR * max(h, w, 1)
    lo_x, lo_y, hi_x, hi_y = -margin, -margin, w + margin, h + margin
    if (
        xy[:, 0].min() >= lo_x
        and xy[:, 0].max() <= hi_x
        and xy[:, 1].min() >= lo_y
        and xy[:, 1].max() <= hi_y
    ):
        return xy
    for axis, bound, keep_below in (
        (0, lo_x, False),
        (0, hi_x, True),
        (1, lo_y, False),
        (1, hi_y, True),
    ):
        if len(xy) == 0:
            break
        nxt = np.roll(xy, -1, axis=0)
        inside = xy[:, axis] <= bound if keep_below else xy[:, axis] >= bound
        inside_next = np.roll(inside, -1)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            t = (bound - xy[:, axis]) / (nxt[:, axis] - xy[:, axis])
            cross = xy + t[:, None] * (nxt - xy)
        cross[:, axis] = bound
        out = np.stack([xy, cross], axis=1)
        keep = np.stack([inside, inside != inside_next], axis=1)
        xy = out[keep]
    return xy
