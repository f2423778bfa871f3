"""Staged transactions: written apart from the store, moved in by ``commit``.

A transaction folder becomes visible only when its ``txn.json`` exists, and that file
is written last, so an import killed half-way leaves a folder that is ignored and
cleaned up (it has no ``txn.json``).
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from lineage.store import schema as schemas
from lineage.store.files import atomic_write_bytes, write_parquet

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


def stage(staging: Path, txn_id: str, tables: dict[str, pa.Table], meta: dict) -> StagedTxn:
    """``meta`` goes into txn.json (kind, message; ``covers`` for a checkpoint)."""
    """Write one transaction's tables, then its manifest (the commit point of staging)."""
    path = staging / txn_id
    path.mkdir(parents=True, exist_ok=False)
    counts = {}
    for name, table in tables.items():
        if table is None or table.num_rows == 0:
            continue
        write_parquet(path / f"{name}.parquet", schemas.conform(name, table))
        counts[name] = table.num_rows
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
