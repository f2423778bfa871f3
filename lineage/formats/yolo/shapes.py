"""Geometry a YOLO export needs: one polygon out of several parts, polygons out of masks.

A YOLO segmentation line holds one polygon. For objects in several parts Ultralytics'
``convert_coco`` (``merge_multi_segment`` in ``ultralytics/data/converter.py``) joins the parts
into one outline: neighbouring parts are linked at their closest points by a zero-width
bridge, walked out on a forward pass and back on a return pass. ``merge_parts`` does the same.
"""

from __future__ import annotations

import warnings

import numpy as np
import shapely
from pycocotools import mask as mask_utils


def _closest(a: np.ndarray, b: np.ndarray) -> tuple[int, int]:
    d = ((a[:, None, :] - b[None, :, :]) ** 2).sum(-1)
    i, j = np.unravel_index(int(np.argmin(d)), d.shape)
    return int(i), int(j)


def merge_parts(parts: list[np.ndarray]) -> np.ndarray:
    """One (N, 2) outline through every (Ni, 2) part, Ultralytics-style."""
    if len(parts) == 1:
        return parts[0]
    entry = [0] * len(parts)  # where part i is reached from part i - 1
    exit_ = [0] * len(parts)  # where part i leaves for part i + 1
    for i in range(1, len(parts)):
        exit_[i - 1], entry[i] = _closest(parts[i - 1], parts[i])
    last = len(parts) - 1
    out = []
    first = np.roll(parts[0], -exit_[0], axis=0)
    out.append(np.concatenate([first, first[:1]]))  # all of part 0, back to its exit
    for i in range(1, last):  # forward: entry -> exit of each middle part
        p = np.roll(parts[i], -entry[i], axis=0)
        out.append(p[: (exit_[i] - entry[i]) % len(p) + 1])
    end = np.roll(parts[last], -entry[last], axis=0)
    out.append(np.concatenate([end, end[:1]]))  # all of the last part
    for i in range(last - 1, 0, -1):  # return: exit -> entry, the rest of each middle part
        p = np.roll(parts[i], -entry[i], axis=0)
        out.append(np.concatenate([p[(exit_[i] - entry[i]) % len(p) :], p[:1]]))
    return np.concatenate(out)


def mask_polygons(rle: dict) -> list[np.ndarray]:
    """The outer outlines of a COCO RLE mask in pixels (pixel edges), largest first; holes
    are dropped (a YOLO polygon cannot hold them). Built as the union of the mask's row runs."""
    with warnings.catch_warnings():  # pycocotools' own NumPy 2 copy-keyword deprecation
        warnings.simplefilter("ignore", DeprecationWarning)
        m = mask_utils.decode(
            {"size": [int(rle["height"]), int(rle["width"])], "counts": rle["counts"].encode()}
        ).astype(bool)
    padded = np.pad(m, ((0, 0), (1, 1)))
    change = np.diff(padded.astype(np.int8), axis=1)
    ys, x0 = np.nonzero(change == 1)
    _, x1 = np.nonzero(change == -1)
    if len(ys) == 0:
        return []
    union = shapely.unary_union(shapely.box(x0, ys, x1, ys + 1)).simplify(0)
    polys = list(getattr(union, "geoms", [union]))
    polys.sort(key=lambda p: -p.area)
    return [np.asarray(p.exterior.coords)[:-1] for p in polys if p.area > 0]
