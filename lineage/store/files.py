"""Durable file writes: a file becomes visible complete or not at all."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

# Rows per Parquet row group. A segment is sorted by label_id, so a lookup of one label
# (``history``) reads the row group whose min/max holds it; the smaller the group, the
# fewer bytes (it matters most when reading in place on a remote: 64 k-row groups made a
# history read 13 % of a 1 M-label store, 16 k-row groups 4 %), at some cost in size
# (about +7 % at 16 k against 64 k) and in a full scan's footer reads.
ROW_GROUP = 16 * 1024
MIN_ROW_GROUP = 4 * 1024


def row_group_rows(rows: int) -> int:
    """Rows per row group for a segment of ``rows`` rows: ``ROW_GROUP``, but a small
    segment (a 1 % edit) still gets about four groups of at least ``MIN_ROW_GROUP``, so a
    lookup reads a part of it rather than all of it."""
    return max(MIN_ROW_GROUP, min(ROW_GROUP, rows // 4))


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)


PARQUET_OPTIONS = {"compression": "zstd", "write_page_checksum": True}


@contextmanager
def durable(path: Path) -> Iterator[Path]:
    """A temp file beside ``path`` to write; when the block ends it is fsynced and renamed
    to ``path`` (on an error it is removed and ``path`` is untouched)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, path)
    fsync_dir(path.parent)


def read_table(path: Path | str, columns: list[str] | None = None) -> pa.Table:
    """A whole Parquet file (or ``columns`` of it). ``pq.read_table`` imports
    pyarrow.dataset and with it pandas (~300 ms): readers use this instead."""
    with pq.ParquetFile(path) as fh:
        return fh.read(columns=columns)


def write_parquet(path: Path, table: pa.Table) -> str:
    """Write ``table`` durably to ``path`` (temp file, fsync, rename); returns its SHA-256."""
    return write_parquet_batches(path, table.schema, [table])[0]


def write_parquet_batches(
    path: Path,
    schema: pa.Schema,
    batches: Iterable[pa.Table | pa.RecordBatch],
    row_group: int = ROW_GROUP,
) -> tuple[str, int]:
    """Write ``batches`` (each cast to ``schema``) durably to ``path`` as they come, so
    memory holds one batch, not the table; returns its SHA-256 and row count."""
    rows = 0
    with durable(path) as tmp, pq.ParquetWriter(tmp, schema, **PARQUET_OPTIONS) as writer:
        for batch in batches:
            if batch.num_rows:
                writer.write(batch, row_group_size=row_group)
                rows += batch.num_rows
    return sha256(path), rows


def copy_file(source: Path, path: Path) -> None:
    """Copy ``source`` durably to ``path`` (temp file, fsync, rename)."""
    import shutil

    with durable(path) as tmp:
        shutil.copyfile(source, tmp)


def within(path: str | Path, *roots: Path) -> bool:
    """Whether ``path`` (after symlinks) lies inside one of ``roots`` (after symlinks):
    paths that come from files a user did not write must never lead elsewhere."""
    target = Path(path).resolve()
    for root in roots:
        base = Path(root).resolve()
        if target == base or base in target.parents:
            return True
    return False


def sha256(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()
