"""COCO run-length masks: our checked LEB128 codec, and area, box, merge."""

from __future__ import annotations

from typing import Any

import numpy as np
from pycocotools import mask as mask_utils

from lineage.errors import GeometryError, InputError


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
