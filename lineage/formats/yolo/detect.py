"""How sure we are that a path is a YOLO dataset (cheap: a YAML and a few label lines)."""

from __future__ import annotations

from itertools import islice
from pathlib import Path

import yaml

from lineage.formats.yolo.layout import NAME_FILES, find_yaml


def _yaml_score(path: Path) -> float:
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, OSError, UnicodeDecodeError):
        return 0.0
    if not isinstance(doc, dict) or not ("names" in doc or "nc" in doc):
        return 0.0
    return 0.95 if any(k in doc for k in ("train", "val", "test")) else 0.6


def _looks_like_labels(folder: Path) -> bool:
    """The first few .txt files hold lines of numbers whose first is a whole class id."""
    files = [p for p in islice(folder.rglob("*.txt"), 20) if p.name not in NAME_FILES][:5]
    if not files:
        return False
    for f in files:
        try:
            lines = [
                ln.split() for ln in f.read_text(encoding="utf-8-sig").splitlines() if ln.strip()
            ]
        except (OSError, UnicodeDecodeError):
            return False
        for tokens in lines[:3]:
            try:
                values = [float(t) for t in tokens]
            except ValueError:
                return False
            if len(values) < 5 or values[0] != int(values[0]):
                return False
    return True


def detect(path: Path) -> float:
    path = Path(path)
    if path.is_file():
        return _yaml_score(path) if path.suffix.lower() in (".yaml", ".yml") else 0.0
    if not path.is_dir():
        return 0.0
    if (y := find_yaml(path)) is not None and (score := _yaml_score(y)) > 0:
        return score
    if (path / "obj.data").is_file() and any((path / n).is_file() for n in NAME_FILES):
        return 0.9
    has_names = any((path / n).is_file() or (path / "labels" / n).is_file() for n in NAME_FILES)
    labels = path / "labels"
    if labels.is_dir() and _looks_like_labels(labels):
        return 0.85 if has_names else 0.5
    if _looks_like_labels(path):
        if has_names or any((path.parent / n).is_file() for n in NAME_FILES):
            return 0.8
        if path.parent.name == "labels":
            return 0.7
        return 0.4
    return 0.0
