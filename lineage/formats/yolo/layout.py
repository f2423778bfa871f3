"""Find what a YOLO dataset at PATH holds: class names, keypoint shape, and its items.

PATH may be a data.yaml, a dataset root (with a data.yaml, an ``obj.data``, or ``images/`` +
``labels/``), or a folder of label files.
"""

from __future__ import annotations

from pathlib import Path

from lineage.errors import InputError
from lineage.formats.yolo.darknet import from_labels_dir, from_obj_data, from_root
from lineage.formats.yolo.datayaml import find_yaml, from_yaml
from lineage.formats.yolo.paths import IMG_FORMATS, NAME_FILES, Item, YoloFiles, is_image

__all__ = ["IMG_FORMATS", "NAME_FILES", "Item", "YoloFiles", "find", "find_yaml", "is_image"]


def find(path: Path, images: Path | None = None) -> YoloFiles:
    """The layout at ``path``: a data.yaml, a dataset root, or a folder of label files."""
    if path.is_file():
        if path.suffix.lower() in (".yaml", ".yml"):
            return from_yaml(path)
        raise InputError("expected a data.yaml or a folder", file=path)
    if not path.is_dir():
        raise InputError("no such file or folder", file=path)
    if (y := find_yaml(path)) is not None:
        return from_yaml(y)
    if (path / "obj.data").is_file():
        return from_obj_data(path / "obj.data")
    if (path / "labels").is_dir():
        return from_root(path)
    if path.name == "labels" and any(p.is_dir() for p in path.iterdir()):
        if (y := find_yaml(path.parent)) is not None:
            return from_yaml(y)
        return from_root(path.parent)
    return from_labels_dir(path, images)
