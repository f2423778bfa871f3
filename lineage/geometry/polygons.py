"""Polygons: area, box, and rasterising to RLE at the image size (pycocotools)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pycocotools import mask as mask_utils

from lineage.geometry import columns
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


class PolygonColumn:
    """A label table's ``polygon`` column as flat NumPy arrays, read once for many rows.

    The per-row rules are those of ``_part_xy`` / ``polygon_bbox`` / ``_polygon_coco_rle``
    (a part's trailing odd value is ignored; a part with a non-finite coordinate, or of
    fewer than 3 points, covers nothing), computed over the whole column at once, so that
    IoU of thousands of polygons costs C calls, not a Python loop over their points.
    """

    def __init__(self, column: pa.Array | pa.ChunkedArray, n: int):
        arr = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
        self.n = n
        lengths = columns.numbers(pc.list_value_length(arr), 0, np.int64)
        self.nonempty = lengths > 0  # the row has a (possibly unusable) part
        parts = pc.list_flatten(arr)  # a null row gives no parts, whatever its offsets span
        self.part_row = np.repeat(np.arange(n), lengths)
        plen = columns.numbers(pc.list_value_length(parts), 0, np.int64)
        coords = pc.list_flatten(parts)
        self.values = columns.numbers(coords)
        self.start = np.cumsum(plen) - plen  # first value of each part in ``values``
        self.size = plen // 2 * 2  # values that make points (a trailing odd one is ignored)
        part_of = np.repeat(np.arange(len(plen)), plen)
        if np.all(plen % 2 == 0):  # the rule: every value makes a point (x, y in turn)
            pos = None
            bad = ~np.isfinite(self.values)
        else:
            pos = np.arange(len(self.values)) - self.start[part_of]
            bad = (pos < self.size[part_of]) & ~np.isfinite(self.values)
        finite = np.bincount(part_of[bad], minlength=len(plen)) == 0
        self.usable = finite & (self.size >= 6)
        self.has_region = np.bincount(self.part_row[self.usable], minlength=n) > 0
        # envelope of every point of every finite part (polygon_bbox), and of usable parts
        lo, hi = self._part_bounds(part_of, pos)
        self.envelope = self._extent(finite & (self.size > 0), lo, hi)
        self.extent = self._extent(self.usable, lo, hi)

    def _part_bounds(
        self, part_of: np.ndarray, pos: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Per part, (min x, min y) and (max x, max y) of its points (a trailing odd value
        left out; a part with a non-finite coordinate gets NaN or inf, and is never used).
        ``pos``: each value's place in its part; None when no part has an odd value out,
        so the values are (x, y) pairs throughout."""
        parts = len(self.size)
        lo = np.full((parts, 2), np.inf)
        hi = np.full((parts, 2), -np.inf)
        if pos is None:
            xy = self.values.reshape(-1, 2)
            full = np.flatnonzero(self.size > 0)
            if len(full):
                # empty parts between two others span no point: reduceat's runs hold
                first = self.start[full] // 2
                lo[full] = np.minimum.reduceat(xy, first, axis=0)
                hi[full] = np.maximum.reduceat(xy, first, axis=0)
            return lo, hi
        point = pos < self.size[part_of]
        for axis in (0, 1):
            # a part's values are contiguous and parts come in order: reduce each run
            sel = point & (pos % 2 == axis)
            owner, v = part_of[sel], self.values[sel]
            if len(owner) == 0:
                continue
            starts = np.flatnonzero(np.r_[True, owner[1:] != owner[:-1]])
            lo[owner[starts], axis] = np.minimum.reduceat(v, starts)
            hi[owner[starts], axis] = np.maximum.reduceat(v, starts)
        return lo, hi

    def _extent(self, parts: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        """xywh of the points of ``parts`` per row, from the parts' bounds; (0, 0, 0, 0)
        for rows without any."""
        low = np.full((self.n, 2), np.inf)
        high = np.full((self.n, 2), -np.inf)
        chosen = np.flatnonzero(parts & (self.size > 0))
        if len(chosen):
            # parts of a row are contiguous and rows come in order: reduce each run
            rows = self.part_row[chosen]
            starts = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])
            low[rows[starts]] = np.minimum.reduceat(lo[chosen], starts, axis=0)
            high[rows[starts]] = np.maximum.reduceat(hi[chosen], starts, axis=0)
        out = np.concatenate([low, high - low], axis=1)
        return np.where(np.isfinite(out), out, 0.0)

    def rles(self, rows: np.ndarray, height: int, width: int) -> list[dict]:
        """pycocotools RLEs of ``rows`` at the image size: ``_polygon_coco_rle`` of each,
        with every part rasterised in one ``frPyObjects`` call."""
        h, w = int(height), int(width)
        rows = np.asarray(rows, dtype=np.int64)
        order = np.flatnonzero(self.usable)
        order = order[np.isin(self.part_row[order], rows)]
        margin = _FAR * max(h, w, 1)
        x, y, ew, eh = self.extent.T
        far = (x < -margin) | (y < -margin) | (x + ew > w + margin) | (y + eh > h + margin)
        parts: list[list[float]] = []
        owner: list[int] = []
        # the points of these parts as one Python list, sliced per part (much cheaper than
        # a NumPy slice and tolist() per part)
        starts, sizes = self.start[order], self.size[order]
        offsets = np.cumsum(sizes) - sizes
        take = np.repeat(starts - offsets, sizes) + np.arange(int(sizes.sum()))
        flat = self.values[take].tolist()
        for r, s, k in zip(
            self.part_row[order].tolist(), offsets.tolist(), sizes.tolist(), strict=True
        ):
            if far[r]:  # reaches far outside the image: clipped first, as _polygon_coco_rle
                xy = _clip_far(np.array(flat[s : s + k]).reshape(-1, 2), h, w)
                if xy.size < 6:
                    continue
                parts.append(xy.ravel().tolist())
            else:
                parts.append(flat[s : s + k])
            owner.append(r)
        coded = mask_utils.frPyObjects(parts, h, w) if parts and h * w else []
        mine: dict[int, list] = {}
        for r, rle in zip(owner, coded, strict=True):
            mine.setdefault(r, []).append(rle)
        empty = _coco(_empty_rle(h, w))
        out = []
        for r in rows.tolist():
            got = mine.get(r)
            out.append(empty if not got else got[0] if len(got) == 1 else mask_utils.merge(got))
        return out
