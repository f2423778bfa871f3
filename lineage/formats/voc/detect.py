"""How sure we are that a path is Pascal VOC XML (a scored probe, never raises)."""

from __future__ import annotations

from itertools import islice
from pathlib import Path

from .layout import ANNOTATIONS, is_dataset_root
from .xmlsafe import root_tag

_VOC_TAGS = {"object", "bndbox", "filename", "size"}


def _is_voc(xml: Path) -> bool:
    root, seen = root_tag(xml)
    return root == "annotation" and bool(seen & _VOC_TAGS)


def detect(path: Path) -> float:
    try:
        path = Path(path)
        if path.is_file():
            return 0.9 if path.suffix.lower() == ".xml" and _is_voc(path) else 0.0
        if not path.is_dir():
            return 0.0
        if is_dataset_root(path):
            sample = list(islice((path / ANNOTATIONS).rglob("*.xml"), 5))
            return 0.95 if sample and any(_is_voc(p) for p in sample) else 0.0
        sample = list(islice(path.rglob("*.xml"), 5))
        if not sample:
            return 0.0
        hits = sum(_is_voc(p) for p in sample)
        return 0.8 * hits / len(sample)
    except OSError:
        return 0.0
