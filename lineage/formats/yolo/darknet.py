"""YOLO layouts without a data.yaml: ``images/`` + ``labels/`` with ``classes.txt``; a folder
of label files (``labels/<split>`` of an Ultralytics dataset, or labelImg / darknet files
beside their images with ``classes.txt`` / ``obj.names``); darknet / CVAT "YOLO 1.1"
``obj.data`` with image lists.
"""

from __future__ import annotations

import os
from pathlib import Path

from lineage.errors import InputError
from lineage.formats.yolo.datayaml import (
    find_yaml,
    kpt_names_of,
    kpt_shape_of,
    load_yaml,
    parse_names,
)
from lineage.formats.yolo.paths import (
    LIST_FILES,
    NAME_FILES,
    Item,
    YoloFiles,
    img2label,
    is_image,
    items_from_dir,
    label2img_dir,
    locate,
    read_lines,
    read_name_file,
    rel,
)


def _name_file(*folders: Path) -> Path | None:
    for folder in folders:
        for name in NAME_FILES:
            if (folder / name).is_file():
                return folder / name
    return None


def _no_names(path: Path) -> InputError:
    return InputError(
        "no class names found (no data.yaml, classes.txt or obj.names)",
        file=path,
        field="names",
        hint="add a data.yaml with names, or a classes.txt with one class per line",
    )


def from_root(root: Path) -> YoloFiles:
    """A root with ``images/<split>`` and ``labels/<split>`` but no YAML (names from
    ``classes.txt`` / ``obj.names`` at the root or in ``labels/``)."""
    names_file = _name_file(root, root / "labels")
    if names_file is None:
        raise _no_names(root)
    items: list[Item] = []
    labels = root / "labels"
    images = root / "images"
    has_splits = any(p.is_dir() for p in labels.iterdir()) if labels.is_dir() else False
    if has_splits:
        splits = sorted(
            {p.name for d in (labels, images) if d.is_dir() for p in d.iterdir() if p.is_dir()}
        )
        for split in splits:
            items += items_from_dir(images / split, labels / split, split)
    else:
        items += items_from_dir(images, labels, None)
    return YoloFiles(names=read_name_file(names_file), items=items, source_files=[names_file])


def from_labels_dir(folder: Path, images: Path | None) -> YoloFiles:
    """A folder of label files: ``labels/<split>`` of an Ultralytics dataset (names from the
    data.yaml above it), or a labelImg/darknet folder with ``classes.txt``/``obj.names``
    (images beside the labels, or in ``images``)."""
    split = folder.name if folder.parent.name == "labels" else None
    names_file = _name_file(folder, folder.parent)
    yaml_path = None
    if names_file is None:
        for up in (folder.parent, folder.parent.parent, folder.parent.parent.parent):
            if (yaml_path := find_yaml(up)) is not None:
                break
    if names_file is not None:
        names, kpt, kpt_names, sources = read_name_file(names_file), None, {}, [names_file]
    elif yaml_path is not None:
        doc = load_yaml(yaml_path)
        names = parse_names(doc.get("names"), doc.get("nc"), file=yaml_path)
        kpt, kpt_names, sources = (
            kpt_shape_of(doc, yaml_path),
            kpt_names_of(doc, names),
            [yaml_path],
        )
    else:
        raise _no_names(folder)
    image_dir = images or (label2img_dir(folder) if "labels" in folder.parts else folder)
    if image_dir == folder:
        items = items_from_dir(folder, folder, split)
    else:
        items = _pair_by_stem(folder, image_dir, split)
    return YoloFiles(
        names=names, items=items, kpt_shape=kpt, kpt_names=kpt_names, source_files=sources
    )


def _pair_by_stem(labels_dir: Path, images_dir: Path, split: str | None) -> list[Item]:
    imgs: dict = {}
    if images_dir.is_dir():
        for p in sorted(images_dir.rglob("*")):
            if p.is_file() and is_image(p):
                imgs.setdefault(p.relative_to(images_dir).with_suffix("").as_posix(), p)
    items = []
    for stem, img in imgs.items():
        lab = labels_dir / f"{stem}.txt"
        items.append(Item(rel(img, images_dir), img, lab if lab.is_file() else None, split))
    for lab in sorted(labels_dir.rglob("*.txt")):
        stem = lab.relative_to(labels_dir).with_suffix("").as_posix()
        if stem not in imgs and lab.name not in NAME_FILES + LIST_FILES:
            items.append(Item(stem, None, lab, split))
    return items


def from_obj_data(obj_data: Path) -> YoloFiles:
    """Darknet / CVAT "YOLO 1.1": ``obj.data`` (``names = data/obj.names``, ``train =
    data/train.txt``, ``valid = ...``) with image lists and label files beside the images.
    Paths are relative to darknet's working folder; they are tried against the obj.data
    folder, also without their first component (``data/``)."""
    here = obj_data.parent
    conf = {}
    for line in read_lines(obj_data):
        key, sep, value = line.partition("=")
        if sep:
            conf[key.strip()] = value.strip()

    names_file = locate(conf["names"], here) if "names" in conf else _name_file(here)
    if names_file is None or not names_file.is_file():
        raise _no_names(obj_data)
    items: list[Item] = []
    for key, split in (("train", "train"), ("valid", "val"), ("test", "test")):
        if key in conf and (listing := locate(conf[key], here)).is_file():
            items += _listed(listing, here, split)
    return YoloFiles(
        names=read_name_file(names_file), items=items, source_files=[obj_data, names_file]
    )


def _listed(listing: Path, here: Path, split: str) -> list[Item]:
    """The images of a darknet list, each with its label file: Ultralytics' ``/labels/`` rule
    when that file exists, else the ``.txt`` beside the image (darknet, CVAT)."""
    raws = [r.strip() for r in read_lines(listing)]
    raws = [r for r in raws if r and is_image(Path(r))]
    if not raws:
        return []
    paths = [locate(r, here) for r in raws]
    base = Path(os.path.commonpath([p.parent for p in paths]))
    items = []
    for raw, p in zip(raws, paths, strict=True):
        lab = locate(img2label(Path(raw)).as_posix(), here)
        if not lab.is_file():
            lab = locate(Path(raw).with_suffix(".txt").as_posix(), here)
        image = p if p.is_file() else None
        items.append(Item(rel(p, base), image, lab if lab.is_file() else None, split))
    return items
