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
from collections.abc import Iterator
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
    "LabelSource",
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


class LabelSource:
    """A revision's labels as SQL, for a writer that streams them (a module with
    ``STREAMS_LABELS = True``, e.g. COCO): it asks its questions of all the labels in
    SQL and reads the rows a batch at a time, so ten million labels never sit in memory
    at once. ``{labels}`` in a query names them."""

    def __init__(self, con: Any, view: str = "labels"):
        self.con = con  # a DuckDB connection holding the view
        self.view = view

    @classmethod
    def of(cls, labels: pa.Table) -> LabelSource:
        """``labels`` as a source, served from a connection of its own."""
        from lineage.store import duck

        con = duck.connect()
        con.register("_export_labels", labels)
        return cls(con, "_export_labels")

    def _named(self, sql: str) -> str:
        return sql.replace("{labels}", self.view)

    def fetch(self, sql: str) -> list[tuple]:
        return self.con.sql(self._named(sql)).fetchall()

    def batches(self, sql: str, size: int) -> Iterator[pa.Table]:
        """The rows of ``sql``, ``size`` at a time."""
        for batch in self.con.sql(self._named(sql)).to_arrow_reader(size):
            yield pa.Table.from_batches([batch])


@dataclass
class ExportInput:
    """The current state of one revision, as a writer needs it (store schemas). A writer
    that streams (``STREAMS_LABELS``) gets the labels as ``stream`` (``labels`` is then
    empty); others get ``labels`` whole."""

    labels: pa.Table
    assets: pa.Table
    categories: pa.Table
    annotators: pa.Table
    reviews: pa.Table
    guidelines: pa.Table
    revision: str = "HEAD"
    stream: LabelSource | None = None


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
