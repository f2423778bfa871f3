"""Where the VOC files are: a dataset root, a folder of XML files, or one XML file.

A dataset root has ``Annotations/**/*.xml`` and optionally ``ImageSets/Main/<split>.txt``
(one image id per line; class files ``<class>_<split>.txt`` carry ``id  1/-1`` and are
not splits), ``JPEGImages/`` and Datumaro/CVAT's ``labelmap.txt``. Item ids are XML paths
relative to the annotation folder, without ``.xml`` (as ImageSets lists them).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from lineage.errors import InputError

ANNOTATIONS = "Annotations"
IMAGES = "JPEGImages"
SETS = ("ImageSets", "Main")
LABELMAP = "labelmap.txt"
# trainval overlaps train and val: it only gives a split to ids no other file names.
_LOW_PRIORITY = ("trainval",)
_CLASS_SPLIT = re.compile(r".+_(train|val|trainval|test)\Z")


@dataclass
class VocFiles:
    files: list[tuple[str, Path]]  # (item id, xml path), sorted by item id
    root: Path | None = None  # dataset root when PATH is one
    images: Path | None = None  # folder the images are in, when known
    splits: dict[str, str] = field(default_factory=dict)  # item id -> split
    labelmap: list[str] | None = None
    source_files: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def is_dataset_root(path: Path) -> bool:
    return path.is_dir() and (path / ANNOTATIONS).is_dir()


def _item_id(xml: Path, base: Path) -> str:
    return xml.relative_to(base).with_suffix("").as_posix()


def locate(path: Path, images: Path | None = None) -> VocFiles:
    """The XML files under ``path`` and, for a dataset root, its splits and label map."""
    path = Path(path)
    if path.is_file():
        return VocFiles(files=[(path.stem, path)], images=images or path.parent)
    if not path.is_dir():
        raise InputError("no such file or folder", file=path)
    if is_dataset_root(path):
        ann = path / ANNOTATIONS
        files = sorted((_item_id(p, ann), p) for p in ann.rglob("*.xml") if p.is_file())
        layout = VocFiles(files=files, root=path, images=images or path / IMAGES)
        _read_splits(layout)
        _read_labelmap(layout)
    else:
        files = sorted((_item_id(p, path), p) for p in path.rglob("*.xml") if p.is_file())
        layout = VocFiles(files=files, images=images or path)
    if not layout.files:
        raise InputError("no VOC annotation files (*.xml) found", file=path)
    return layout


def _read_splits(layout: VocFiles) -> None:
    assert layout.root is not None  # called for a dataset root only
    sets = layout.root.joinpath(*SETS)
    if not sets.is_dir():
        return
    lists = [p for p in sorted(sets.glob("*.txt")) if not _CLASS_SPLIT.match(p.stem)]
    lists.sort(key=lambda p: (p.stem in _LOW_PRIORITY, p.stem))
    known = {item for item, _ in layout.files}
    conflicts: list[str] = []
    missing = 0
    for txt in lists:
        layout.source_files.append(txt)
        try:
            lines = txt.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(f"cannot read split list ({exc})", file=txt) from exc
        for line in lines:
            item = line.split()[0] if line.strip() else None
            if item is None:
                continue
            if item not in known:
                missing += 1
                continue
            have = layout.splits.get(item)
            if have is None:
                layout.splits[item] = txt.stem
            elif have != txt.stem and txt.stem not in _LOW_PRIORITY:
                conflicts.append(f"{item} ({have}, {txt.stem})")
    if conflicts:
        layout.notes.append(
            f"{len(conflicts)} image(s) listed in several splits; kept the first: "
            + ", ".join(conflicts[:5])
        )
    if missing:
        layout.notes.append(f"{missing} id(s) in ImageSets/Main have no annotation file")


def _read_labelmap(layout: VocFiles) -> None:
    """Class order from Datumaro/CVAT's ``labelmap.txt`` (``name:color:parts:actions``)."""
    assert layout.root is not None  # called for a dataset root only
    lm = layout.root / LABELMAP
    if not lm.is_file():
        return
    layout.source_files.append(lm)
    try:
        lines = lm.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read label map ({exc})", file=lm) from exc
    names = [ln.split(":", 1)[0].strip() for ln in lines if ln.strip() and not ln.startswith("#")]
    layout.labelmap = [n for n in names if n]
