"""IoU between the labels of two label tables, whatever their shapes: boxes, rotated
boxes, polygons and masks (as regions at the image size), keypoints (OKS)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pycocotools import mask as mask_utils

from lineage.errors import GeometryError
from lineage.geometry.boxes import (
    _rotated_envelope,
    _rotated_iou_pairs,
    _rotated_pair,
    box_iou,
    box_iou_pairs,
)
from lineage.geometry.keypoints import _oks_matrix, _sigmas, keypoints_bbox
from lineage.geometry.polygons import _part_xy, _polygon_coco_rle, polygon_bbox
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

        shapes, polys, kps, masks = (
            pylist("shape"),
            pylist("polygon"),
            pylist("keypoints"),
            pylist("mask_rle"),
        )
        rot = (
            table.column("rotation").to_numpy(zero_copy_only=False).astype(np.float64)
            if "rotation" in cols
            else np.zeros(n)
        )
        self.bbox = np.full((n, 4), np.nan)
        if "bbox" in cols and n:
            col = table.column("bbox")
            valid = ~col.is_null().to_numpy(zero_copy_only=False)
            for i, f in enumerate("xywh"):
                v = pc.struct_field(col, f).to_numpy(zero_copy_only=False).astype(np.float64)
                self.bbox[:, i] = np.where(valid, v, np.nan)
        self.kind = np.zeros(n, dtype=np.int8)
        self.is_box = np.zeros(n, dtype=bool)
        self.rot = np.zeros(n)  # non-zero only for rotated boxes
        self.env = self.bbox.copy()
        self.poly: list = [None] * n
        self.mask: list = [None] * n
        self.kps: list = [None] * n
        self.msize = np.full(n, -1, dtype=np.int64)
        for i in range(n):
            self._classify(i, shapes[i], polys[i], kps[i], masks[i], rot[i])
        self.env_ok = np.all(np.isfinite(self.env), axis=1)
        self.env = np.where(np.isfinite(self.env), self.env, 0.0)

    def _classify(self, i: int, shape, poly, kps, mask, rot) -> None:
        has_box = bool(np.all(np.isfinite(self.bbox[i])))
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
                self.env[i] = polygon_bbox(poly)
            if shape == "polygon" and any(
                (xy := _part_xy(p)) is not None and len(xy) >= 3 for p in poly
            ):
                self.poly[i] = poly
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

    def region_rle(self, i: int, size: int, cache: dict) -> dict:
        """Row i's region as a pycocotools RLE at image size ``size`` (a size key)."""
        if self.mask[i] is not None:
            return _coco(self.mask[i])
        key = (i, size)
        if key not in cache:
            h, w = divmod(int(size), 1 << 32)
            cache[key] = _polygon_coco_rle(self.poly[i], h, w)
        return cache[key]


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
    ca: dict = {}
    cb: dict = {}
    for s in np.unique(size[region]):
        sel = region & (size == s)
        ia, ib = np.flatnonzero(sel.any(axis=1)), np.flatnonzero(sel.any(axis=0))
        sub = mask_utils.iou(
            [ra.region_rle(i, s, ca) for i in ia],  # type: ignore[arg-type]  # numpy/duckdb stubs
            [rb.region_rle(j, s, cb) for j in ib],  # type: ignore[arg-type]  # numpy/duckdb stubs
            [0] * len(ib),
        )
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
    ra, rb = _Rows(a), _Rows(b)
    if ra.n != rb.n:
        raise GeometryError(f"iou_pairs needs row-aligned tables, got {ra.n} and {rb.n} rows")
    out = box_iou_pairs(ra.env, rb.env)
    if ra.n == 0:
        return out
    ka, kb = ra.kind, rb.kind
    rot = (ka == _BOX) & (kb == _BOX) & _rotated_pair(ra.rot, ra.is_box, rb.rot, rb.is_box)
    if rot.any():
        out[rot] = _rotated_iou_pairs(ra.bbox[rot], ra.rot[rot], rb.bbox[rot], rb.rot[rot])
    image = _size_keys(heights, widths, ra.n)
    size = _pair_size(ra.msize, rb.msize, image)
    for i in np.flatnonzero((ka == _REGION) & (kb == _REGION) & (size >= 0)):
        s = size[i]
        res = mask_utils.iou([ra.region_rle(i, s, {})], [rb.region_rle(i, s, {})], [0])  # type: ignore[arg-type]  # numpy/duckdb stubs
        out[i] = float(np.asarray(res).ravel()[0])
    for i in np.flatnonzero((ka == _KEYPOINTS) & (kb == _KEYPOINTS)):
        g, d = ra.kps[i], rb.kps[i]
        if g.size == d.size:
            k = g.size // 3
            area = ra.env[i, 2] * ra.env[i, 3]
            out[i] = _oks_matrix(
                g.reshape(1, k, 3),
                d.reshape(1, k, 3),
                np.array([area]),
                ra.ref_box([i]),
                _sigmas(k, None),
            )[0, 0]
    none_a, none_b = ka == _NONE, kb == _NONE
    out[none_a | none_b] = 0.0
    out[none_a & none_b] = 1.0
    return np.where(np.isfinite(out), out, 0.0)


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
