"""Staged transactions: written apart from the store, moved in by ``commit``.

A transaction folder becomes visible only when its ``txn.json`` exists, and that file
is written last, so an import killed half-way leaves a folder that is ignored and
cleaned up (it has no ``txn.json``).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeAlias

import pyarrow as pa
import pyarrow.parquet as pq

from lineage.store import schema as schemas
from lineage.store.files import atomic_write_bytes, write_parquet, write_parquet_batches

MANIFEST = "txn.json"


@dataclass
class StagedTxn:
    txn_id: str
    path: Path
    meta: dict = field(default_factory=dict)

    def table_file(self, table: str) -> Path | None:
        f = self.path / f"{table}.parquet"
        return f if f.exists() else None

    def tables(self) -> dict[str, Path]:
        return {t: f for t in schemas.STORED_TABLES if (f := self.table_file(t)) is not None}


# a table to stage: whole, as a stream of record batches, or a file already written
Rows: TypeAlias = pa.Table | Path | Iterable[pa.RecordBatch]


def stage(staging: Path, txn_id: str, tables: dict[str, Rows | None], meta: dict) -> StagedTxn:
    """Write one transaction's tables, then its manifest (the commit point of staging).

    A table may come as a stream of record batches (a checkpoint of millions of labels):
    it is written as it comes. ``meta`` goes into txn.json (kind, message; ``covers`` for
    a checkpoint)."""
    path = staging / txn_id
    path.mkdir(parents=True, exist_ok=False)
    counts: dict[str, int] = {}
    for name, rows in tables.items():
        if rows is None:
            continue
        if isinstance(rows, Path):
            os.replace(rows, path / f"{name}.parquet")  # the same file system (.lineage/)
            counts[name] = row_count(path / f"{name}.parquet")
            continue
        if isinstance(rows, pa.Table):
            if rows.num_rows:
                write_parquet(path / f"{name}.parquet", schemas.conform(name, rows))
                counts[name] = rows.num_rows
            continue
        conformed = (schemas.conform(name, pa.Table.from_batches([b])) for b in rows)
        _, n = write_parquet_batches(path / f"{name}.parquet", schemas.schema(name), conformed)
        if n:
            counts[name] = n
        else:
            (path / f"{name}.parquet").unlink()
    meta = {**meta, "txn_id": txn_id, "rows": counts}
    atomic_write_bytes(path / MANIFEST, json.dumps(meta, indent=1, default=str).encode())
    return StagedTxn(txn_id, path, meta)


def staged(staging: Path) -> list[StagedTxn]:
    """Complete staged transactions, oldest first."""
    if not staging.exists():
        return []
    out = []
    for path in sorted(p for p in staging.iterdir() if p.is_dir()):
        manifest = path / MANIFEST
        if manifest.exists():
            out.append(StagedTxn(path.name, path, json.loads(manifest.read_text())))
    return out


def incomplete(staging: Path) -> list[Path]:
    """Folders of imports that were killed before their manifest was written."""
    if not staging.exists():
        return []
    return [p for p in staging.iterdir() if p.is_dir() and not (p / MANIFEST).exists()]


def discard(txn: StagedTxn | Path) -> None:
    shutil.rmtree(txn.path if isinstance(txn, StagedTxn) else txn, ignore_errors=True)


def row_count(path: Path) -> int:
    """Rows of a Parquet file, from its footer."""
    return pq.ParquetFile(path).metadata.num_rows
