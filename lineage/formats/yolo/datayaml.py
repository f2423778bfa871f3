"""The Ultralytics ``data.yaml`` layout (``ultralytics/data/utils.py``, ``check_det_dataset``).

``path`` is the dataset root (the YAML's own folder when empty, absent, or an absolute path
from another machine); ``train``/``val``/``test`` are folders, lists of folders, or ``.txt``
lists of image paths, relative to the root (a leading ``../`` that does not exist is retried
without it, as ``check_det_dataset`` does); ``names`` is a list or an {id: name} mapping;
``kpt_shape: [K, 2|3]`` marks a pose dataset, with optional ``kpt_names``.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from lineage.errors import InputError
from lineage.formats.yolo.paths import Item, YoloFiles, img2label, items_from_dir, items_from_list
from lineage.store.files import within

SPLIT_KEYS = ("train", "val", "test")


def find_yaml(folder: Path) -> Path | None:
    """``data.yaml`` in ``folder``, else the one ``*.yaml`` there that has ``names``."""
    for name in ("data.yaml", "data.yml"):
        if (folder / name).is_file():
            return folder / name
    found = []
    for p in sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")]):
        try:
            doc = yaml.safe_load(p.read_text(encoding="utf-8"))
        except (yaml.YAMLError, OSError, UnicodeDecodeError):
            continue
        if isinstance(doc, dict) and ("names" in doc or "nc" in doc):
            found.append(p)
    return found[0] if len(found) == 1 else None


def load_yaml(path: Path) -> dict:
    """Parse a data.yaml; an InputError when it is not YAML, not a mapping, or lacks names."""
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise InputError(f"not valid YAML: {exc}", file=path) from exc
    if not isinstance(doc, dict):
        raise InputError("a data.yaml must be a mapping of keys", file=path)
    if "names" not in doc and "nc" not in doc:
        raise InputError(
            "no 'names' (or 'nc') key: the class names are unknown",
            file=path,
            field="names",
            hint="add names: {0: first_class, 1: second_class, ...}",
        )
    return doc


def parse_names(raw, nc, *, file: Path) -> dict[int, str]:
    """``names`` as a list or an {id: name} mapping (Ultralytics ``check_class_names``); with
    only ``nc``, Ultralytics names the classes ``class_0``, ``class_1``, ..."""
    if raw is None:
        if not isinstance(nc, int) or isinstance(nc, bool) or nc < 0:
            raise InputError("'nc' must be a whole number", file=file, field="nc")
        return {i: f"class_{i}" for i in range(nc)}
    if isinstance(raw, list):
        names = dict(enumerate(raw))
    elif isinstance(raw, dict):
        names = {}
        for k, v in raw.items():
            try:
                names[int(k)] = v
            except (TypeError, ValueError) as exc:
                raise InputError(
                    f"class id {k!r} is not a whole number", file=file, field="names"
                ) from exc
    else:
        raise InputError("'names' must be a list or a mapping", file=file, field="names")
    for k, v in names.items():
        if v is None or isinstance(v, dict | list) or str(v).strip() == "":
            raise InputError(f"class {k} has no name", file=file, field="names")
        names[k] = str(v)
    if nc is not None and nc != len(names):
        raise InputError(f"'names' has {len(names)} classes but nc is {nc}", file=file, field="nc")
    if len(set(names.values())) != len(names):
        raise InputError("class names must be unique", file=file, field="names")
    return dict(sorted(names.items()))


def kpt_shape_of(doc: dict, file: Path) -> tuple[int, int] | None:
    raw = doc.get("kpt_shape")
    if raw is None:
        return None
    ok = (
        isinstance(raw, list)
        and len(raw) == 2
        and all(isinstance(v, int) and not isinstance(v, bool) for v in raw)
        and raw[0] > 0
        and raw[1] in (2, 3)
    )
    if not ok:
        raise InputError(
            f"kpt_shape must be [number of keypoints, 2 or 3], not {raw!r}",
            file=file,
            field="kpt_shape",
        )
    return raw[0], raw[1]


def kpt_names_of(doc: dict, names: dict[int, str]) -> dict[int, list[str]]:
    raw = doc.get("kpt_names")
    if isinstance(raw, list) and all(isinstance(n, str) for n in raw):
        return {k: list(raw) for k in names}
    if isinstance(raw, list) and all(isinstance(v, list) for v in raw):
        raw = dict(enumerate(raw))
    if isinstance(raw, dict):
        out = {}
        for k, v in raw.items():
            if isinstance(v, list) and str(k).lstrip("-").isdigit():
                out[int(k)] = [str(n) for n in v]
        return out
    return {}


def _root(doc: dict, yaml_path: Path) -> Path:
    """The dataset root: ``path`` (relative to the YAML's folder), else the YAML's folder.
    An absolute ``path`` from another machine that does not exist falls back too; one
    that exists outside the YAML's folder is refused (a file must not make us walk /etc)."""
    here = yaml_path.parent
    raw = doc.get("path")
    if not raw:
        return here
    p = Path(str(raw))
    p = p if p.is_absolute() else here / p
    if not p.is_dir():
        return here
    if not within(p, here):
        raise InputError(
            f"'path: {raw}' leads outside the folder of {yaml_path.name}",
            file=yaml_path,
            field="path",
            hint="keep the dataset beside data.yaml, or remove `path:` to read the splits "
            "relative to data.yaml",
        )
    return p


def _entry(root: Path, raw: str, yaml_path: Path, key: str) -> Path:
    p = root / raw
    if not p.exists() and raw.startswith("../"):  # as check_det_dataset does
        p = root / raw[3:]
    if p.exists() and not within(p, yaml_path.parent):
        raise InputError(
            f"'{raw}' leads outside the folder of {yaml_path.name}",
            file=yaml_path,
            field=key,
            hint="split paths must stay inside the dataset folder",
        )
    return p


def from_yaml(yaml_path: Path) -> YoloFiles:
    doc = load_yaml(yaml_path)
    names = parse_names(doc.get("names"), doc.get("nc"), file=yaml_path)
    root = _root(doc, yaml_path)
    items: list[Item] = []
    notes = []
    keys = [k for k in SPLIT_KEYS if doc.get(k)]
    if "val" not in keys and doc.get("validation"):
        keys.append("validation")
    for key in keys:
        split = "val" if key == "validation" else key
        entries = doc[key] if isinstance(doc[key], list) else [doc[key]]
        for raw in entries:
            if not isinstance(raw, str):
                raise InputError(
                    f"'{key}' must be a path or a list of paths", file=yaml_path, field=key
                )
            p = _entry(root, raw, yaml_path, key)
            if p.suffix == ".txt" and p.is_file():
                items += items_from_list(p, root, split, yaml_path.parent)
            elif p.is_dir() or img2label(p / "x").parent.is_dir():
                items += items_from_dir(p, img2label(p / "x").parent, split)
            else:
                notes.append(f"{key}: {p} not found; split left out")
    if not keys:
        raise InputError(
            "no train/val/test entry: no images to read", file=yaml_path, field="train"
        )
    return YoloFiles(
        names=names,
        items=items,
        kpt_shape=kpt_shape_of(doc, yaml_path),
        kpt_names=kpt_names_of(doc, names),
        source_files=[yaml_path],
        notes=notes,
    )
