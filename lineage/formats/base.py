"""The contract every format module keeps: what a reader returns, what a writer takes.

A format lives in ``lineage/formats/<name>/`` and exposes three functions:

* ``detect(path: Path) -> float``: how sure (0..1) it is that ``path`` is its format;
* ``read(path: Path, options: ImportOptions) -> ImportBatch``: parse and validate;
* ``write(data: ExportInput, out: Path, options: ExportOptions) -> ExportResult``.

Readers never touch the store: they turn files into Arrow tables in the *incoming*
schemas below. The store then resolves label identity (ids, IoU matching), numbers
revisions and stages one transaction. Writers get the current state of a revision.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeGuard

import pyarrow as pa

from lineage.errors import InputError
from lineage.store.incoming import (  # the intake contract, re-exported for formats
    EVERYTHING,
    Comparison,
    ImportBatch,
    ImportOptions,
    PartsFailed,
    Skipped,
    canonical_json,
    incoming_schema,
    table_from_records,
)

__all__ = [
    "EVERYTHING",
    "Comparison",
    "ExportInput",
    "ExportOptions",
    "ExportResult",
    "ImportBatch",
    "ImportOptions",
    "PartsFailed",
    "RecordErrors",
    "Skipped",
    "canonical_json",
    "finite",
    "incoming_schema",
    "safe_join",
    "sha256_file",
    "table_from_records",
    "union_box",
]

# --------------------------------------------------------------------------- options


@dataclass
class ExportOptions:
    pseudonymize_key: bytes | None = None  # replace annotator/reviewer ids by keyed hashes
    extra: dict[str, Any] = field(default_factory=dict)


# --------------------------------------------------------------------------- records


class RecordErrors:
    """Per-record error handling: strict raises at once, lenient collects and goes on."""

    def __init__(self, strict: bool = True):
        self.strict = strict
        self.skipped: list[Skipped] = []

    def bad(
        self,
        message: str,
        *,
        file: str | Path,
        record: str | int | None = None,
        field: str | None = None,
    ) -> None:
        if self.strict:
            raise InputError(message, file=file, record=record, field=field)
        self.skipped.append(Skipped(str(file), str(record), field, message))

    def skip(self, message: str, *, file: str | Path, record: str | int | None = None) -> None:
        """A record left out on purpose (e.g. a cancelled annotation): reported, never an error."""
        self.skipped.append(Skipped(str(file), str(record), None, message))


@dataclass
class ExportInput:
    """The current state of one revision, as a writer needs it (store schemas)."""

    labels: pa.Table
    assets: pa.Table
    categories: pa.Table
    annotators: pa.Table
    reviews: pa.Table
    guidelines: pa.Table
    revision: str = "HEAD"


@dataclass
class ExportResult:
    files: list[Path]
    labels: int
    notes: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------- schemas


def union_box(a, b) -> list[float]:
    """[x, y, w, h] of the box around two boxes (each [x, y, w, h] or {x, y, w, h}): the
    envelope of a label whose parts a tool wrote apart."""
    (x0, y0, w0, h0), (x1, y1, w1, h1) = (
        (v["x"], v["y"], v["w"], v["h"]) if isinstance(v, dict) else tuple(v) for v in (a, b)
    )
    lo_x, lo_y = min(x0, x1), min(y0, y1)
    return [lo_x, lo_y, max(x0 + w0, x1 + w1) - lo_x, max(y0 + h0, y1 + h1) - lo_y]


def finite(value: Any) -> TypeGuard[float]:
    """A real, finite number (not bool, NaN or inf)."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an int too large for a float, e.g. 10**400 written as digits
        return False


def sha256_file(path: Path) -> str:
    """SHA-256 of a file (the store's hashing, shared)."""
    from lineage.store.files import sha256

    return sha256(path)


def safe_join(root: Path, relative: str) -> Path:
    """``root / relative``, refusing any path that would land outside ``root``
    (absolute paths, ``..``, drive letters): export file names come from user data."""
    rel = relative.replace("\\", "/")
    if rel.startswith("/") or (len(rel) > 1 and rel[1] == ":"):
        raise InputError(f"refusing absolute path {relative!r} in export", field="asset_id")
    target = (root / rel).resolve()
    base = root.resolve()
    if target != base and base not in target.parents:
        raise InputError(f"refusing path {relative!r} that leaves {root}", field="asset_id")
    os.makedirs(target.parent, exist_ok=True)
    return target
