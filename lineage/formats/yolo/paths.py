"""The pieces every YOLO layout shares: an Item (image, label file, split), the YoloFiles a
finder returns, and Ultralytics' path rules.

The label file of an image is the image path with its last ``/images/`` replaced by
``/labels/`` and its suffix by ``.txt`` (Ultralytics ``img2label_paths``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from lineage.errors import InputError
from lineage.store.files import within

# ultralytics.data.utils.IMG_FORMATS
IMG_FORMATS = {"bmp", "dng", "jpeg", "jpg", "mpo", "png", "tif", "tiff", "webp", "pfm", "heic"}
NAME_FILES = ("classes.txt", "obj.names")
LIST_FILES = ("train.txt", "val.txt", "valid.txt", "test.txt")


@dataclass(frozen=True)
class Item:
    """One image of the dataset: its id, where the image and its label file are (either may be
    missing: a background image has no label file, a sizes-only import has no image)."""

    asset_id: str
    image: Path | None
    label: Path | None
    split: str | None


@dataclass
class YoloFiles:
    names: dict[int, str]
    items: list[Item]
    kpt_shape: tuple[int, int] | None = None
    kpt_names: dict[int, list[str]] = field(default_factory=dict)
    source_files: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def is_image(p: Path) -> bool:
    return p.suffix[1:].lower() in IMG_FORMATS


def img2label(image: Path) -> Path:
    """Ultralytics ``img2label_paths`` for one path: last ``/images/`` -> ``/labels/``, ``.txt``."""
    parts = list(image.parts)
    for i in range(len(parts) - 2, -1, -1):
        if parts[i] == "images":
            parts[i] = "labels"
            break
    return Path(*parts).with_suffix(".txt")


def label2img_dir(labels_dir: Path) -> Path:
    """The images folder matching a labels folder (inverse of ``img2label``)."""
    parts = list(labels_dir.parts)
    for i in range(len(parts) - 1, -1, -1):
        if parts[i] == "labels":
            parts[i] = "images"
            return Path(*parts)
    return labels_dir


def read_name_file(path: Path) -> dict[int, str]:
    """``classes.txt`` / ``obj.names``: one class name per line, line order = class id."""
    names = [line.strip() for line in read_lines(path)]
    while names and not names[-1]:
        names.pop()
    for i, n in enumerate(names):
        if not n:
            raise InputError("empty class name", file=path, record=i + 1)
    if len(set(names)) != len(names):
        raise InputError("class names must be unique", file=path)
    return dict(enumerate(names))


def images_base(image: Path, fallback: Path) -> Path:
    """The ``images/<split>`` folder an image sits in (asset ids are relative to it)."""
    parts = image.parts
    for i in range(len(parts) - 2, -1, -1):
        if parts[i] == "images":
            return Path(*parts[: min(i + 2, len(parts) - 1)])
    return fallback


def rel(path: Path, base: Path) -> str:
    try:
        return path.relative_to(base).as_posix()
    except ValueError:
        return path.name


def items_from_dir(images_dir: Path, labels_dir: Path, split: str | None) -> list[Item]:
    """Images under ``images_dir`` (recursive) with their label files, plus label files under
    ``labels_dir`` that have no image (their asset id is resolved later from a sizes file)."""
    items = []
    seen_labels = set()
    if images_dir.is_dir():
        for img in sorted(p for p in images_dir.rglob("*") if p.is_file() and is_image(p)):
            lab = img2label(img) if images_dir != labels_dir else img.with_suffix(".txt")
            seen_labels.add(lab)
            items.append(Item(rel(img, images_dir), img, lab if lab.is_file() else None, split))
    if labels_dir.is_dir():
        for lab in sorted(labels_dir.rglob("*.txt")):
            if lab in seen_labels or lab.name in NAME_FILES:
                continue
            if lab.parent == labels_dir and lab.name in LIST_FILES:
                continue  # darknet/CVAT image lists (train.txt), not label files
            stem = lab.relative_to(labels_dir).with_suffix("").as_posix()
            items.append(Item(stem, None, lab, split))
    return items


def locate(raw: str, *bases: Path) -> Path:
    """A listed path that may be relative to one of ``bases``, or to the folder a tool ran in
    (``data/images/x.jpg`` from darknet, CVAT and Datumaro lists): tried as is against each
    base, then without its first component. The first candidate when none exists."""
    p = Path(raw.replace("\\", "/"))
    if p.is_absolute():
        return p
    cands = [b / p for b in bases]
    if len(p.parts) > 1:
        cands += [b / Path(*p.parts[1:]) for b in bases]
    return next((c for c in cands if c.exists()), cands[0])


def read_lines(path: Path) -> list[str]:
    """The lines of a small text file (names, image lists); InputError when it is not text."""
    try:
        return path.read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read as UTF-8 text: {exc}", file=path) from exc


def items_from_list(
    list_file: Path, root: Path, split: str, confine: Path | None = None
) -> list[Item]:
    """A ``.txt`` list of image paths: ``./x`` is relative to the list's folder (Ultralytics);
    other relative paths are tried against the list's folder, then the dataset root. A
    listed file outside ``confine`` (the dataset folder) is treated as absent, never read."""
    confine = confine or root

    def readable(path: Path) -> bool:
        return path.is_file() and within(path, confine)

    items = []
    for raw in read_lines(list_file):
        raw = raw.strip()
        if not raw:
            continue
        p = locate(raw, list_file.parent, root)
        if not is_image(p):
            continue
        lab = (
            img2label(p)
            if readable(p)
            else locate(img2label(Path(raw)).as_posix(), list_file.parent, root)
        )
        base = images_base(p, root)
        items.append(
            Item(rel(p, base), p if readable(p) else None, lab if readable(lab) else None, split)
        )
    return items
