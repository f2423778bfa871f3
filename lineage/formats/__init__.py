"""Import and export formats. Each lives in its own package with ``detect``, ``read``, ``write``."""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType

from lineage.errors import InputError

FORMATS = ("native", "coco", "yolo", "voc", "labelstudio", "cvat")


def get(name: str) -> ModuleType:
    """The module of format ``name`` (imported lazily: formats pull in heavy libraries)."""
    if name not in FORMATS:
        raise InputError(f"unknown format '{name}'", hint=f"formats: {', '.join(FORMATS)}, auto")
    return importlib.import_module(f"lineage.formats.{name}")


def detect(path: Path) -> str:
    """The one format that fits ``path`` best; an error when none or several fit."""
    # a format module that fails to import is a bug to see, not a format to skip
    scores = {name: float(get(name).detect(Path(path))) for name in FORMATS}
    best = max(scores.values(), default=0.0)
    if best < 0.5:
        raise InputError(
            "cannot tell which format this is",
            file=path,
            hint="name the format: lineage import FORMAT PATH",
        )
    winners = [n for n, s in scores.items() if s == best]
    if len(winners) > 1:
        raise InputError(
            f"several formats fit: {', '.join(winners)}", file=path, hint="name the format"
        )
    return winners[0]
