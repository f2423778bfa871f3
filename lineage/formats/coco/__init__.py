"""COCO instances and person-keypoints files (and COCO results lists): detect, read, write.

* ``read`` parses the file once (orjson), checks every record, and returns labels
  (box, polygon, mask RLE, keypoints), images as assets and categories.
* ``write`` gives one COCO JSON file that pycocotools loads, with lineage's provenance
  as extra per-annotation fields.
"""

from __future__ import annotations

from pathlib import Path

from lineage.formats.coco.reader import read
from lineage.formats.coco.writer import STREAMS_LABELS, write

__all__ = ["STREAMS_LABELS", "detect", "read", "write"]

_HEAD = 1 << 16


def detect(path: Path) -> float:
    """How sure we are that ``path`` is COCO, from the first 64 KiB of its JSON:
    0.9 for an object with ``images`` (and ``annotations``/``categories``) keys,
    0.6 for a list of detections (``image_id``, ``category_id``, ``bbox``/``segmentation``)."""
    path = Path(path)
    if path.is_dir():
        candidate = path / "annotations.json"
        found = [candidate] if candidate.is_file() else sorted(path.glob("*.json"))
        return max((detect(p) for p in found[:3]), default=0.0)
    if path.suffix.lower() != ".json" or not path.is_file():
        return 0.0
    try:
        with open(path, "rb") as fh:
            head = fh.read(_HEAD)
    except OSError:
        return 0.0
    text = head.lstrip()
    if text.startswith(b"{"):
        if b'"images"' in head and (b'"annotations"' in head or b'"categories"' in head):
            return 0.9
        if b'"images"' in head and b'"file_name"' in head:
            return 0.7
        return 0.0
    if text.startswith(b"[") and b'"image_id"' in head and b'"category_id"' in head:
        return 0.6
    return 0.0
