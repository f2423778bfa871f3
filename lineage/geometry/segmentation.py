"""A COCO ``segmentation`` of any form (polygon parts, one unnested part, an RLE
object, a list of RLE parts) as one checked RLE."""

from __future__ import annotations

from typing import Any

from lineage.errors import GeometryError, InputError
from lineage.geometry.polygons import polygon_to_rle
from lineage.geometry.rle import _merge, _rle_from_dict


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
