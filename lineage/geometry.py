"""Geometry shared by identity matching, diffs, history and agreement: IoU, RLE, OKS.

Which tool for which job, and why:

* **NumPy for boxes.** Box IoU is a few broadcast min/max operations; doing it in
  NumPy over whole (n, m) matrices is as fast as C and gives exactly the numbers
  of pycocotools' ``bbIou`` (same formula, same order of operations; a box with
  w <= 0 or h <= 0 has IoU 0).
* **pycocotools for polygons and masks.** COCO's own evaluation rasterises a
  polygon with ``frPyObjects`` and compares run-length masks with ``iou``; every
  COCO-trained team reads mask IoU through it, so we call the same C code and get
  the same numbers (to the last bit), not an approximation of them. Polygons are
  rasterised at the image size, so region IoU needs it (given, or read from a mask).
* **Shapely only for rotated boxes.** A box with ``rotation`` is compared to another
  box by the exact area of the intersection of the two rotated rectangles
  (vectorised GEOS). Shapely is not used for polygons: its exact polygon IoU would
  disagree with pycocotools' raster IoU that users and the tests compare to.
* **Our own LEB128 codec (NumPy) for COCO's compressed counts.** pycocotools'
  decoder writes past its buffer when the runs do not add up to height x width
  (cocoapi has no check), so every RLE that comes from outside is parsed and
  checked here first, then stored canonically (no empty runs but the first), so
  equal masks have equal strings. Masks are encoded and decoded in NumPy too
  (same strings as pycocotools; its encoder's buffer overflows on runs >= 2**29).

COCO's ``area`` for a polygon annotation is the polygon's (shoelace) area, not a
pixel count: annotation 1768 of instances_val2017 has area 702.1057499999998,
the shoelace area of its polygon, while the rasterised mask has 703 pixels. For
RLE (crowd) annotations COCO's area is the pixel count (integers such as 220834).

Degenerate input never raises and never gives NaN: zero-area boxes, empty or
non-finite polygons and empty tables give IoU 0 (and 0/0 is 0).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pycocotools import mask as mask_utils

from lineage.errors import GeometryError, InputError

# COCOeval's per-keypoint sigmas for the 17 COCO person keypoints.
COCO_SIGMAS = np.array([0.26, 0.25, 0.25, 0.35, 0.35, 0.79, 0.79, 0.72, 0.72, 0.62, 0.62, 1.07, 1.07, 0.87, 0.87, 0.89, 0.89]) / 10.0  # fmt: skip
# Other skeletons get one sigma for every point: COCO's mean.
DEFAULT_SIGMA = float(COCO_SIGMAS.mean())
# Beyond this distance (in image sizes) from the image, polygon parts are clipped
# before rasterising: pycocotools allocates memory per 1/5 pixel of edge length and
# casts coordinates to C int, so absurd coordinates would exhaust memory or overflow.
_FAR = 4.0

# Row kinds in a label table.
_NONE, _BOX, _REGION, _KEYPOINTS = 0, 1, 2, 3


# --------------------------------------------------------------------------- boxes


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


# --------------------------------------------------------------------------- RLE codec


def _counts_from_string(s: str | bytes) -> np.ndarray:
    """Run lengths of a COCO compressed counts string (maskApi.c's rleFrString, in NumPy)."""
    raw = s.encode("ascii") if isinstance(s, str) else bytes(s)
    b = np.frombuffer(raw, dtype=np.uint8).astype(np.int64) - 48
    if b.size == 0:
        return np.zeros(0, dtype=np.int64)
    if b.min() < 0 or b.max() > 63:
        raise GeometryError("counts string has characters outside '0'..'o'")
    more = (b & 0x20) != 0
    if more[-1]:
        raise GeometryError("counts string ends in the middle of a number")
    ends = np.flatnonzero(~more)
    starts = np.concatenate([[0], ends[:-1] + 1])
    lens = ends - starts + 1
    if lens.max() > 7:
        raise GeometryError("counts string holds a number too large for a run length")
    k = np.arange(b.size) - np.repeat(starts, lens)
    vals = np.add.reduceat((b & 0x1F) << (5 * k), starts)
    vals = np.where((b[ends] & 0x10) != 0, vals - (np.int64(1) << (5 * lens)), vals)
    counts = vals.copy()
    counts[1::2] = np.cumsum(vals[1::2])  # each run is stored as a delta to the one two back
    counts[2::2] = np.cumsum(vals[2::2])
    return counts


def _counts_to_string(counts: np.ndarray) -> str:
    """COCO compressed counts string of run lengths (maskApi.c's rleToString, in NumPy)."""
    c = np.asarray(counts, dtype=np.int64)
    if c.size == 0:
        return ""
    x = c.copy()
    x[3:] -= c[1:-2]
    j = np.arange(7)
    # chars per value: the fewest 5-bit groups that hold it as a signed number
    half = np.int64(1) << (5 * (j + 1) - 1)
    fits = (x[:, None] >= -half) & (x[:, None] < half)
    nchars = np.argmax(fits, axis=1) + 1
    chunks = (x[:, None] >> (5 * j)) & 0x1F
    chunks |= np.where(j[None, :] < nchars[:, None] - 1, 0x20, 0)
    keep = j[None, :] < nchars[:, None]
    return (chunks[keep] + 48).astype(np.uint8).tobytes().decode("ascii")


def _canonical_counts(counts: np.ndarray) -> np.ndarray:
    """Drop empty runs (but the first) and merge what they separated: the form encode() gives."""
    c = np.asarray(counts, dtype=np.int64)
    if c.size == 0:
        return np.zeros(1, dtype=np.int64)
    idx = np.arange(c.size)
    keep = (c > 0) | (idx == 0)
    c, v = c[keep], (idx % 2)[keep]
    starts = np.concatenate([[0], np.flatnonzero(np.diff(v)) + 1])
    return np.add.reduceat(c, starts)


def _checked_counts(counts: np.ndarray, height: int, width: int) -> np.ndarray:
    if counts.ndim != 1 or (counts.size and counts.min() < 0):
        raise GeometryError("run lengths must be a flat list of non-negative integers")
    total = int(counts.sum())
    if total != height * width:
        raise GeometryError(
            f"run lengths add up to {total} pixels, not height x width = {height} x {width} "
            f"= {height * width}"
        )
    return _canonical_counts(counts)


def _rle(height: int, width: int, counts: np.ndarray) -> dict:
    return {"height": int(height), "width": int(width), "counts": _counts_to_string(counts)}


def _coco(rle: dict) -> dict:
    """Canonical dict -> the dict pycocotools takes."""
    return {"size": [int(rle["height"]), int(rle["width"])], "counts": rle["counts"]}


def _empty_rle(height: int, width: int) -> dict:
    return _rle(height, width, np.array([height * width], dtype=np.int64))


# --------------------------------------------------------------------------- RLE API


def rle_encode(mask: np.ndarray) -> dict:
    """Binary HxW mask (any non-zero is foreground) -> {"height", "width", "counts": str},
    the string pycocotools' encode gives (computed in NumPy: its C encoder overflows its
    string buffer on runs of 2**29 pixels and more)."""
    m = np.asarray(mask)
    if m.ndim != 2:
        raise InputError(f"a mask must be 2-D (height x width), got shape {m.shape}", field="mask")
    flat = (m != 0).ravel(order="F")  # COCO runs go down the columns
    if flat.size == 0:
        return _rle(m.shape[0], m.shape[1], np.zeros(1, dtype=np.int64))
    edges = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    runs = np.diff(np.concatenate([[0], edges, [flat.size]]))
    if flat[0]:
        runs = np.concatenate([[0], runs])
    return _rle(m.shape[0], m.shape[1], runs)


def rle_decode(rle: dict) -> np.ndarray:
    """Canonical RLE -> uint8 HxW mask. Decoded in NumPy after checking that the runs
    cover exactly height x width (pycocotools' decoder would write past its buffer)."""
    h, w = int(rle["height"]), int(rle["width"])
    try:
        runs = _checked_counts(_counts_from_string(rle["counts"]), h, w)
    except ValueError as exc:
        raise InputError(f"bad mask RLE: {exc}", field="mask_rle") from exc
    flat = np.repeat((np.arange(runs.size) % 2).astype(np.uint8), runs)
    return np.ascontiguousarray(flat.reshape(w, h).T)  # runs are column-major


def rle_to_coco(rle: dict) -> dict:
    """Canonical RLE -> {"size": [h, w], "counts": str} as a COCO json file holds it."""
    return {"size": [int(rle["height"]), int(rle["width"])], "counts": str(rle["counts"])}


def rle_area(rle: dict) -> float:
    """Foreground pixel count."""
    return float(mask_utils.area(_coco(rle)))


def rle_bbox(rle: dict) -> tuple[float, float, float, float]:
    """Pixel envelope x, y, w, h of the foreground ((0, 0, 0, 0) when empty)."""
    if int(rle["height"]) * int(rle["width"]) == 0:
        return (0.0, 0.0, 0.0, 0.0)
    x, y, w, h = mask_utils.toBbox(_coco(rle))
    return (float(x), float(y), float(w), float(h))


def rle_from_coco(segmentation: Any, height: int | None, width: int | None) -> dict:
    """Any COCO ``segmentation`` -> canonical RLE on a ``height`` x ``width`` image.

    Takes polygon parts ``[[x1, y1, ...], ...]``, uncompressed RLE
    ``{"size": [h, w], "counts": [ints]}`` (iscrowd=1 annotations), compressed RLE
    (counts a str or bytes), or a list of RLEs (merged). A flat list of numbers is read
    as one polygon part and ``[]`` as an empty mask. Raises InputError (field
    ``segmentation``) for malformed input; the caller adds file and record.
    """
    try:
        if isinstance(segmentation, dict):
            return _rle_from_dict(segmentation, height, width)
        if isinstance(segmentation, list | tuple):
            if segmentation and all(isinstance(p, dict) for p in segmentation):
                return _merge([_rle_from_dict(p, height, width) for p in segmentation])
            if height is None or width is None:
                raise GeometryError("a polygon needs the image's height and width")
            if segmentation and all(isinstance(v, int | float) for v in segmentation):
                segmentation = [segmentation]  # some exporters write one part, unnested
            parts = [[float(v) for v in p] for p in segmentation]
            return polygon_to_rle(parts, int(height), int(width))
        raise GeometryError(
            f"expected polygon parts or an RLE object, got {type(segmentation).__name__}"
        )
    except (TypeError, ValueError, KeyError, IndexError, OverflowError, UnicodeError) as exc:
        raise InputError(f"bad segmentation: {exc}", field="segmentation") from exc


def _rle_from_dict(seg: dict, height: int | None, width: int | None) -> dict:
    size, counts = seg["size"], seg["counts"]
    if len(size) != 2:
        raise GeometryError(f"size must be [height, width], got {size!r}")
    h, w = _size_int(size[0]), _size_int(size[1])
    if height is not None and width is not None and (h, w) != (int(height), int(width)):
        raise GeometryError(
            f"RLE size [{h}, {w}] differs from the image's [height, width] = [{height}, {width}]"
        )
    if isinstance(counts, str | bytes):
        runs = _counts_from_string(counts)
    elif isinstance(counts, list | tuple | np.ndarray):
        arr = np.asarray(counts, dtype=np.float64)
        if arr.size and not (np.all(np.isfinite(arr)) and np.all(arr == np.round(arr))):
            raise GeometryError("run lengths must be integers")
        runs = arr.astype(np.int64)
    else:
        raise GeometryError(
            f"counts must be a list of integers or a string, got {type(counts).__name__}"
        )
    return _rle(h, w, _checked_counts(runs, h, w))


def _size_int(v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, int | float) or v != int(v) or v < 0:
        raise GeometryError(f"size values must be non-negative integers, got {v!r}")
    return int(v)


def _merge(rles: list[dict]) -> dict:
    if len({(r["height"], r["width"]) for r in rles}) != 1:
        raise GeometryError("RLE parts of one segmentation have different sizes")
    merged = mask_utils.merge([_coco(r) for r in rles])
    return _rle(
        rles[0]["height"],
        rles[0]["width"],
        _canonical_counts(_counts_from_string(merged["counts"])),
    )


# --------------------------------------------------------------------------- polygons


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


# --------------------------------------------------------------------------- keypoints


def keypoints_bbox(kps: list[float]) -> tuple[float, float, float, float] | None:
    """Envelope x, y, w, h of the labelled (v > 0) keypoints; None when none is labelled."""
    arr = np.asarray(kps if kps is not None else [], dtype=np.float64).ravel()
    t = arr[: arr.size // 3 * 3].reshape(-1, 3)
    t = t[(t[:, 2] > 0) & np.isfinite(t[:, 0]) & np.isfinite(t[:, 1])]
    if len(t) == 0:
        return None
    lo, hi = t[:, :2].min(axis=0), t[:, :2].max(axis=0)
    return (float(lo[0]), float(lo[1]), float(hi[0] - lo[0]), float(hi[1] - lo[1]))


def _sigmas(k: int, sigmas: np.ndarray | None) -> np.ndarray:
    if sigmas is not None:
        s = np.asarray(sigmas, dtype=np.float64).ravel()
        if s.size != k:
            raise GeometryError(f"{s.size} sigmas for {k} keypoints")
        return s
    return COCO_SIGMAS if k == 17 else np.full(k, DEFAULT_SIGMA)


def oks(
    a: np.ndarray,
    b: np.ndarray,
    area: float,
    sigmas: np.ndarray | None = None,
    bbox: Sequence[float] | None = None,
) -> float:
    """Object keypoint similarity of ``b`` to reference ``a`` (flat x, y, v arrays), as
    COCOeval.computeOks: ``a`` is the ground truth (its visibility picks the points,
    ``area`` its scale). When ``a`` has no labelled point, COCOeval measures ``b``'s
    distance to ``a``'s ``bbox`` doubled; with no bbox either, the OKS is 0.
    Sigmas default to COCO's for 17 points, else to COCO's mean for every point;
    keypoint lists of different lengths give 0."""
    a = np.asarray(a, dtype=np.float64).ravel()
    b = np.asarray(b, dtype=np.float64).ravel()
    if a.size != b.size or a.size == 0 or a.size % 3:
        return 0.0
    k = a.size // 3
    box = np.asarray(bbox if bbox is not None else [np.nan] * 4, dtype=np.float64).reshape(1, 4)
    out = _oks_matrix(
        a.reshape(1, k, 3), b.reshape(1, k, 3), np.array([float(area)]), box, _sigmas(k, sigmas)
    )
    return float(out[0, 0])


def _oks_matrix(
    g: np.ndarray, d: np.ndarray, area: np.ndarray, box: np.ndarray, sigmas: np.ndarray
) -> np.ndarray:
    """COCOeval.computeOks over (ng, k, 3) references and (nd, k, 3) candidates -> (ng, nd)."""
    var = (sigmas * 2) ** 2
    xg, yg, vg = g[:, None, :, 0], g[:, None, :, 1], g[:, :, 2]
    xd, yd = d[None, :, :, 0], d[None, :, :, 1]
    labelled = vg > 0
    has = labelled.any(axis=1)[:, None, None]  # type: ignore[index]  # numpy/duckdb stubs
    bx, by, bw, bh = (box[:, i, None, None] for i in range(4))
    x0, x1, y0, y1 = bx - bw, bx + bw * 2, by - bh, by + bh * 2
    with np.errstate(invalid="ignore", over="ignore"):
        dx = np.where(has, xd - xg, np.maximum(0, x0 - xd) + np.maximum(0, xd - x1))
        dy = np.where(has, yd - yg, np.maximum(0, y0 - yd) + np.maximum(0, yd - y1))
        e = (dx**2 + dy**2) / var / (area[:, None, None] + np.spacing(1)) / 2
        sim = np.exp(-e)
    sim = np.where(np.isfinite(sim), sim, 0.0)
    weight = np.where(has[:, :, 0], labelled, True)[:, None, :]
    no_ref = ~has[:, :, 0] & ~np.all(np.isfinite(box), axis=1)[:, None]
    out = _div((sim * weight).sum(axis=2), weight.sum(axis=2).astype(np.float64))
    return np.where(no_ref, 0.0, out)


# --------------------------------------------------------------------------- label tables


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


# --------------------------------------------------------------------------- assignment


def assign(score: np.ndarray, threshold: float) -> list[tuple[int, int]]:
    """Optimal one-to-one matching (Hungarian, scipy) of rows to columns maximising the
    total score of the kept pairs, those with score >= ``threshold``; sorted by row.

    Scores under the threshold count as 0 in the optimisation, so a weak pair never
    displaces a strong one only to be dropped afterwards. NaN counts as no match."""
    from scipy.optimize import linear_sum_assignment  # lazy: scipy.optimize takes ~1 s to import

    s = np.asarray(score, dtype=np.float64)
    if s.ndim != 2 or s.size == 0:
        return []
    ok = np.isfinite(s) & (s >= threshold)
    weight = np.where(ok, s, 0.0)
    rows, cols = linear_sum_assignment(weight, maximize=True)
    return [(int(r), int(c)) for r, c in zip(rows, cols, strict=True) if ok[r, c]]


__all__ = [
    "COCO_SIGMAS",
    "assign",
    "box_iou",
    "box_iou_pairs",
    "iou_matrix",
    "iou_pairs",
    "keypoints_bbox",
    "oks",
    "polygon_area",
    "polygon_bbox",
    "polygon_to_rle",
    "rle_area",
    "rle_bbox",
    "rle_decode",
    "rle_encode",
    "rle_from_coco",
    "rle_to_coco",
]
