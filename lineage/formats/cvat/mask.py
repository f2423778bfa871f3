"""CVAT's mask RLE to and from the canonical COCO RLE of the whole image.

CVAT writes a mask as ``rle="c0, c1, c2, ..."`` with ``left``, ``top``, ``width`` and
``height``: run lengths over the mask's box only, row-major, alternating and starting
with background (the first count may be 0). The store keeps masks as pycocotools
compressed RLE over the full image (column-major), so both directions live here.
"""

from __future__ import annotations

import numpy as np

from lineage.geometry import rle_bbox, rle_decode, rle_encode

# Masks are decoded onto the full image: refuse sizes no real image has, so a forged
# header cannot make the reader allocate gigabytes.
MAX_PIXELS = 1 << 28


class MaskError(ValueError):
    """A CVAT mask that cannot be decoded; ``field`` names the offending XML attribute."""

    def __init__(self, message: str, field: str):
        super().__init__(message)
        self.field = field


def parse_counts(text: str) -> np.ndarray:
    """The run lengths of a CVAT ``rle`` attribute ("3, 5, 2"), as non-negative int64."""
    try:
        counts = np.array([int(c) for c in text.replace(",", " ").split()], dtype=np.int64)
    except ValueError as exc:
        raise MaskError(f"rle has a non-integer count ({exc})", "rle") from exc
    if counts.size == 0:
        raise MaskError("rle is empty", "rle")
    if (counts < 0).any():
        raise MaskError("rle has a negative count", "rle")
    return counts


def decode_box(counts: np.ndarray, width: int, height: int) -> np.ndarray:
    """The ``height`` x ``width`` boolean mask that CVAT run lengths describe."""
    total = int(counts.sum())
    if total != width * height:
        raise MaskError(
            f"rle counts add up to {total}, not width*height = {width}*{height} = {width * height}",
            "rle",
        )
    values = (np.arange(counts.size) % 2).astype(bool)  # background first
    return np.repeat(values, counts).reshape(height, width)


def coco_rle(full: np.ndarray) -> dict:
    """Canonical COCO compressed RLE ({height, width, counts}) of a full-image mask."""
    return rle_encode(full)


def coco_bbox(rle: dict) -> list[float]:
    """The tight [x, y, w, h] envelope of a COCO RLE."""
    return list(rle_bbox(rle))


def cvat_to_coco(
    counts: np.ndarray, left: int, top: int, width: int, height: int, image_w: int, image_h: int
) -> dict:
    """Decode a CVAT mask and place it on an ``image_h`` x ``image_w`` canvas as COCO RLE."""
    if image_w * image_h > MAX_PIXELS:
        raise MaskError(
            f"a {image_w}x{image_h} image is beyond the {MAX_PIXELS} pixels a mask may cover",
            "width",
        )
    if left < 0 or top < 0 or left + width > image_w or top + height > image_h:
        raise MaskError(
            f"mask box left={left} top={top} width={width} height={height} "
            f"leaves the {image_w}x{image_h} image",
            "left",
        )
    box = decode_box(counts, width, height)
    full = np.zeros((image_h, image_w), dtype=bool)
    full[top : top + height, left : left + width] = box
    return coco_rle(full)


def coco_to_cvat(rle: dict) -> tuple[list[int], int, int, int, int]:
    """CVAT run lengths and (left, top, width, height) of a COCO RLE, over its tight box.

    An empty mask becomes one background pixel at the origin, which CVAT accepts."""
    full = rle_decode(rle).astype(bool)
    rows = np.flatnonzero(full.any(axis=1))
    cols = np.flatnonzero(full.any(axis=0))
    if rows.size == 0:
        return [1], 0, 0, 1, 1
    top, left = int(rows[0]), int(cols[0])
    height, width = int(rows[-1]) - top + 1, int(cols[-1]) - left + 1
    flat = full[top : top + height, left : left + width].ravel()
    change = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    edges = np.concatenate(([0], change, [flat.size]))
    runs = np.diff(edges).tolist()
    if flat[0]:
        runs.insert(0, 0)  # CVAT counts start with background
    return runs, left, top, width, height
