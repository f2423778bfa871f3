"""IoU between the labels of two label tables, whatever their shapes: boxes, rotated
boxes, polygons and masks (as regions at the image size), keypoints (OKS)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pycocotools import mask as mask_utils

from lineage.errors import GeometryError
from lineage.geometry import columns
from lineage.geometry.boxes import (
    _rotated_envelope,
    _rotated_iou_pairs,
    _rotated_pair,
    box_iou,
    box_iou_pairs,
)
from lineage.geometry.keypoints import _oks_matrix, _sigmas, keypoints_bbox
from lineage.geometry.polygons import PolygonColumn
from lineage.geometry.rle import _coco, rle_bbox

# Row kinds in a label table.
_NONE, _BOX, _REGION, _KEYPOINTS = 0, 1, 2, 3


class _Rows:
    """The geometry of a label table, column by column, in the form the IoU rules need."""

    def __init__(self, table: pa.Table):
        n = self.n = table.num_rows
        cols = set(table.column_names)

        def pylist(name: str) -> list:
            return table.column(name).to_pylist() if name in cols else [None] * n

        shapes, kps, masks = pylist("shape"), pylist("keypoints"), pylist("mask_rle")
        self.polys = PolygonColumn(
            table.column("polygon")
            if "polygon" in cols
            else pa.nulls(n, pa.list_(pa.list_(pa.float64()))),
            n,
        )
        rot = columns.numbers(table.column("rotation")) if "rotation" in cols else np.zeros(n)
        self.bbox = np.full((n, 4), np.nan)
        if "bbox" in cols and n:
            col = table.column("bbox")
            valid = columns.valid(col)
            for i, f in enumerate("xywh"):
                v = columns.numbers(pc.struct_field(col, f))
                self.bbox[:, i] = np.where(valid, v, np.nan)
        self.kind = np.zeros(n, dtype=np.int8)
        self.is_box = np.zeros(n, dtype=bool)
        self.rot = np.zeros(n)  # non-zero only for rotated boxes
        self.env = self.bbox.copy()
        self.mask: list = [None] * n
        self.kps: list = [None] * n
        self.msize = np.full(n, -1, dtype=np.int64)
        nonempty = self.polys.nonempty.tolist()
        self._has_box = np.all(np.isfinite(self.bbox), axis=1).tolist()
        self._has_region = self.polys.has_region.tolist()
        for i in range(n):
            self._classify(i, shapes[i], nonempty[i], kps[i], masks[i], rot[i])
        # where a region can have pixels: a polygon's usable points (a mask: anywhere)
        drawn = (self.kind == _REGION) & np.array([m is None for m in self.mask], dtype=bool)
        self.extent = np.where(drawn[:, None], self.polys.extent, np.nan)
        self.env_ok = np.all(np.isfinite(self.env), axis=1)
        self.env = np.where(np.isfinite(self.env), self.env, 0.0)

    def _classify(self, i: int, shape, poly, kps, mask, rot) -> None:
        has_box = self._has_box[i]
        if shape is None:  # incoming tables may leave shape empty: read it off the columns
            shape = (
                "mask"
                if mask
                else "polygon"
                if poly
                else "keypoints"
                if kps
                else "box"
                if has_box
                else None
            )
        if shape == "classification" or shape is None:
            return
        if shape == "mask" and mask and mask.get("counts") is not None:
            self.mask[i] = mask
            self.msize[i] = _size_key(mask["height"], mask["width"])
            self.kind[i] = _REGION
            if not has_box:
                self.env[i] = rle_bbox(mask)
            return
        if poly and shape in ("polygon", "polyline", "points"):
            if not has_box:
                self.env[i] = self.polys.envelope[i]
            if shape == "polygon" and self._has_region[i]:
                self.kind[i] = _REGION
            else:
                self.kind[i] = _BOX
            return
        if shape == "keypoints" and kps:
            env = keypoints_bbox(kps)
            if not has_box and env is not None:
                self.env[i] = env
            self.kps[i] = np.asarray(kps, dtype=np.float64)
            self.kind[i] = _KEYPOINTS if len(kps) % 3 == 0 else _BOX
            return
        if has_box:
            self.kind[i] = _BOX
            self.is_box[i] = shape == "box"
            if shape == "box" and rot is not None and np.isfinite(rot) and rot % 360 != 0:
                self.rot[i] = rot
                self.env[i] = _rotated_envelope(self.bbox[i : i + 1], np.array([rot]))[0]

    def ref_box(self, rows) -> np.ndarray:
        """Envelopes of ``rows`` as OKS references: NaN where the row has none."""
        rows = np.asarray(rows, dtype=np.int64)
        return np.where(self.env_ok[rows, None], self.env[rows], np.nan)

    def region_rles(self, rows: np.ndarray, size: int) -> list[dict]:
        """The regions of ``rows`` as pycocotools RLEs at image size ``size`` (a size key):
        masks as stored, polygons rasterised together."""
        h, w = divmod(int(size), 1 << 32)
        rows = np.asarray(rows, dtype=np.int64)
        drawn = [r for r in rows.tolist() if self.mask[r] is None]
        rles = dict(zip(drawn, self.polys.rles(np.array(drawn, dtype=np.int64), h, w), strict=True))
        return [_coco(self.mask[r]) if self.mask[r] is not None else rles[r] for r in rows.tolist()]


def _size_key(h: Any, w: Any) -> int:
    """One int64 for an image size; -1 when unknown."""
    try:
        h, w = int(h), int(w)
    except (TypeError, ValueError, OverflowError):
        return -1
    return h * (1 << 32) + w if h > 0 and w > 0 else -1


def _image_size(height, width, a: _Rows, b: _Rows) -> int:
    """The image size, given or else read from the masks (when they all agree)."""
    key = _size_key(height, width)
    if key >= 0:
        return key
    sizes = set(a.msize[a.msize >= 0].tolist()) | set(b.msize[b.msize >= 0].tolist())
    return sizes.pop() if len(sizes) == 1 else -1


def _pair_size(ma: np.ndarray, mb: np.ndarray, image: np.ndarray) -> np.ndarray:
    """Size to compare two regions at: a mask's own size (both masks must agree), else the image's."""
    size = np.where(ma >= 0, ma, np.where(mb >= 0, mb, image))
    return np.where((ma >= 0) & (mb >= 0) & (ma != mb), -1, size)


def iou_matrix(
    a: pa.Table, b: pa.Table, height: int | None = None, width: int | None = None
) -> np.ndarray:
    """Similarity of every label of ``a`` with every label of ``b`` on one image, (n, m).

    Region (polygon, mask) vs region: mask IoU through pycocotools, at the image size
    (given, else the masks' own); keypoints vs keypoints: OKS with ``a`` as reference
    and its bbox area as scale; no geometry vs no geometry: 1; no geometry vs any: 0;
    anything else (and regions when the size is unknown): IoU of the bbox envelopes,
    exact for rotated box pairs."""
    ra, rb = _Rows(a), _Rows(b)
    out = box_iou(ra.env, rb.env)
    if out.size == 0:
        return out
    ka, kb = ra.kind[:, None], rb.kind[None, :]
    # rotated boxes: exact polygon IoU
    rot = (
        (ka == _BOX)
        & (kb == _BOX)
        & _rotated_pair(ra.rot[:, None], ra.is_box[:, None], rb.rot[None, :], rb.is_box[None, :])
    )
    if rot.any():
        i, j = np.nonzero(rot)
        out[i, j] = _rotated_iou_pairs(ra.bbox[i], ra.rot[i], rb.bbox[j], rb.rot[j])
    # regions: pycocotools mask IoU, one call per image size
    image = _image_size(height, width, ra, rb)
    size = _pair_size(ra.msize[:, None], rb.msize[None, :], np.int64(image))  # type: ignore[arg-type]  # numpy/duckdb stubs
    region = (ka == _REGION) & (kb == _REGION) & (size >= 0)
    for s in np.unique(size[region]):
        sel = region & (size == s)
        ia, ib = np.flatnonzero(sel.any(axis=1)), np.flatnonzero(sel.any(axis=0))
        sub = mask_utils.iou(ra.region_rles(ia, s), rb.region_rles(ib, s), [0] * len(ib))
        block = np.asarray(sub, dtype=np.float64).reshape(len(ia), len(ib))
        out[np.ix_(ia, ib)] = np.where(sel[np.ix_(ia, ib)], block, out[np.ix_(ia, ib)])
    # keypoints: OKS, grouped by skeleton length
    kpa, kpb = np.flatnonzero(ra.kind == _KEYPOINTS), np.flatnonzero(rb.kind == _KEYPOINTS)
    lens_a = np.array([ra.kps[i].size for i in kpa], dtype=np.int64)
    lens_b = np.array([rb.kps[j].size for j in kpb], dtype=np.int64)
    for n3 in np.intersect1d(lens_a, lens_b):
        ia, ib = kpa[lens_a == n3], kpb[lens_b == n3]
        k = int(n3) // 3
        g = np.stack([ra.kps[i] for i in ia]).reshape(-1, k, 3)
        d = np.stack([rb.kps[j] for j in ib]).reshape(-1, k, 3)
        area = ra.env[ia, 2] * ra.env[ia, 3]
        out[np.ix_(ia, ib)] = _oks_matrix(g, d, area, ra.ref_box(ia), _sigmas(k, None))
    # no geometry
    none_a, none_b = ra.kind == _NONE, rb.kind == _NONE
    out[none_a, :] = 0.0
    out[:, none_b] = 0.0
    out[np.ix_(none_a, none_b)] = 1.0
    return np.where(np.isfinite(out), out, 0.0)


def iou_pairs(
    a: pa.Table, b: pa.Table, heights: np.ndarray | None = None, widths: np.ndarray | None = None
) -> np.ndarray:
    """Similarity of ``a[i]`` with ``b[i]`` (e.g. two revisions of one label), (n,), by the
    rules of ``iou_matrix``; ``heights``/``widths`` give each pair's image size (0, NaN or
    None: unknown)."""
    if a.num_rows != b.num_rows:
        raise GeometryError(
            f"iou_pairs needs row-aligned tables, got {a.num_rows} and {b.num_rows} rows"
        )
    rows = np.arange(a.num_rows)
    return iou_index_pairs(a, b, rows, rows, heights, widths)


def iou_index_pairs(
    a: pa.Table,
    b: pa.Table,
    ia: np.ndarray,
    ib: np.ndarray,
    heights: np.ndarray | None = None,
    widths: np.ndarray | None = None,
    groups: np.ndarray | None = None,
) -> np.ndarray:
    """Similarity of ``a[ia[k]]`` with ``b[ib[k]]`` for every k, by the rules of
    ``iou_matrix``; ``heights``/``widths`` per pair. A row in many pairs (the objects of
    one image against each other) is read and rasterised once; ``groups`` (e.g. the
    image of each pair) lets the regions of a group be compared in one call.

    Regions whose points lie more than ``_APART`` pixels apart share no pixel, so their
    IoU is 0 without rasterising; the others are rasterised together, per image size."""
    ra, rb = _Rows(a), _Rows(b)
    ia, ib = np.asarray(ia, dtype=np.int64), np.asarray(ib, dtype=np.int64)
    if groups is not None:
        groups = np.asarray(groups)
    if len(ia) != len(ib) or (groups is not None and len(groups) != len(ia)):
        raise GeometryError(
            f"iou_index_pairs needs as many rows of a as of b (and groups): {len(ia)}, {len(ib)}"
        )
    out = box_iou_pairs(ra.env[ia], rb.env[ib])
    if len(ia) == 0:
        return out
    ka, kb = ra.kind[ia], rb.kind[ib]
    rot = (
        (ka == _BOX)
        & (kb == _BOX)
        & _rotated_pair(ra.rot[ia], ra.is_box[ia], rb.rot[ib], rb.is_box[ib])
    )
    if rot.any():
        i, j = ia[rot], ib[rot]
        out[rot] = _rotated_iou_pairs(ra.bbox[i], ra.rot[i], rb.bbox[j], rb.rot[j])
    size = _pair_size(ra.msize[ia], rb.msize[ib], _size_keys(heights, widths, len(ia)))
    region = (ka == _REGION) & (kb == _REGION) & (size >= 0)
    apart = _apart(ra.extent[ia], rb.extent[ib])
    out[region & apart] = 0.0
    todo = region & ~apart
    for s in np.unique(size[todo]):
        k = np.flatnonzero(todo & (size == s))
        rows_a, at_a = np.unique(ia[k], return_inverse=True)
        rows_b, at_b = np.unique(ib[k], return_inverse=True)
        rles_a, rles_b = ra.region_rles(rows_a, s), rb.region_rles(rows_b, s)
        out[k] = _rle_ious(rles_a, rles_b, at_a, at_b, at_a if groups is None else groups[k])
    for pair in np.flatnonzero((ka == _KEYPOINTS) & (kb == _KEYPOINTS)).tolist():
        i, j = int(ia[pair]), int(ib[pair])
        g, d = ra.kps[i], rb.kps[j]
        if g.size == d.size:
            n = g.size // 3
            area = ra.env[i, 2] * ra.env[i, 3]
            out[pair] = _oks_matrix(
                g.reshape(1, n, 3),
                d.reshape(1, n, 3),
                np.array([area]),
                ra.ref_box([i]),
                _sigmas(n, None),
            )[0, 0]
    none_a, none_b = ka == _NONE, kb == _NONE
    out[none_a | none_b] = 0.0
    out[none_a & none_b] = 1.0
    return np.where(np.isfinite(out), out, 0.0)


def _rle_ious(
    rles_a: list, rles_b: list, at_a: np.ndarray, at_b: np.ndarray, key: np.ndarray
) -> np.ndarray:
    """IoU of ``rles_a[at_a[k]]`` with ``rles_b[at_b[k]]``: one pycocotools call per
    value of ``key`` (an image: its regions of A against its regions of B, as a block;
    pycocotools skips pairs whose boxes do not meet)."""
    if len(np.unique(key)) == len(key):  # one pair per group (a diff): pair by pair
        return np.array(
            [
                np.asarray(mask_utils.iou([rles_a[x]], [rles_b[y]], [0])).ravel()[0]
                for x, y in zip(at_a.tolist(), at_b.tolist(), strict=True)
            ],
            dtype=np.float64,
        )
    out = np.empty(len(at_a))
    order = np.argsort(key, kind="stable")
    sorted_key = key[order]
    starts = np.flatnonzero(np.r_[True, sorted_key[1:] != sorted_key[:-1]])
    for lo, hi in zip(starts.tolist(), [*starts[1:].tolist(), len(order)], strict=True):
        k = order[lo:hi]
        xs, ys = at_a[k], at_b[k]
        ux, uy = np.unique(xs), np.unique(ys)
        block = mask_utils.iou(
            [rles_a[x] for x in ux.tolist()], [rles_b[y] for y in uy.tolist()], [0] * len(uy)
        )
        block = np.asarray(block, dtype=np.float64).reshape(len(ux), len(uy))
        out[k] = block[np.searchsorted(ux, xs), np.searchsorted(uy, ys)]
    return out


# Regions whose points are further apart than this (pixels) share no pixel once
# rasterised: pycocotools sets pixels within one of a polygon's points' range.
_APART = 3.0


def _apart(ea: np.ndarray, eb: np.ndarray) -> np.ndarray:
    """Pairs of extents (xywh) that are more than ``_APART`` apart on x or y (NaN: never)."""
    with np.errstate(invalid="ignore"):
        return (
            (ea[:, 0] + ea[:, 2] + _APART < eb[:, 0])
            | (eb[:, 0] + eb[:, 2] + _APART < ea[:, 0])
            | (ea[:, 1] + ea[:, 3] + _APART < eb[:, 1])
            | (eb[:, 1] + eb[:, 3] + _APART < ea[:, 1])
        )


def _size_keys(heights, widths, n: int) -> np.ndarray:
    if heights is None or widths is None:
        return np.full(n, -1, dtype=np.int64)
    h = np.asarray(heights, dtype=np.float64).ravel()
    w = np.asarray(widths, dtype=np.float64).ravel()
    if h.size != n or w.size != n:
        raise GeometryError(f"heights and widths need one value per pair ({n})")
    ok = np.isfinite(h) & np.isfinite(w) & (h > 0) & (w > 0)
    hi = np.where(ok, h, 0).astype(np.int64)
    wi = np.where(ok, w, 0).astype(np.int64)
    return np.where(ok, hi * (1 << 32) + wi, -1)
