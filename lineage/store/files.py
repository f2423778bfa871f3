"""Durable file writes: a file becomes visible complete or not at all."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

ROW_GROUP = 64 * 1024  # rows: small enough that min/max statistics can skip most of a file


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


def write_parquet(path: Path, table: pa.Table) -> str:
    """Write ``table`` durably to ``path`` (temp file, fsync, rename); returns its SHA-256."""
    return write_parquet_batches(path, table.schema, [table])[0]


def write_parquet_batches(
    path: Path, schema: pa.Schema, batches: Iterable[pa.Table | pa.RecordBatch]
) -> tuple[str, int]:
    """Write ``batches`` (each cast to ``schema``) durably to ``path`` as they come, so
    memory holds one batch, not the table; returns its SHA-256 and row count."""
    rows = 0
    with durable(path) as tmp, pq.ParquetWriter(tmp, schema, **PARQUET_OPTIONS) as writer:
        for batch in batches:
            if batch.num_rows:
                writer.write(batch, row_group_size=ROW_GROUP)
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
