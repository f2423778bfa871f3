"""Durable file writes: a file becomes visible complete or not at all."""

from __future__ import annotations

import hashlib
import os
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


def write_parquet(path: Path, table: pa.Table) -> str:
    """Write ``table`` durably to ``path`` (temp file, fsync, rename); returns its SHA-256."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    pq.write_table(
        table, tmp, compression="zstd", write_page_checksum=True, row_group_size=ROW_GROUP
    )
    with open(tmp, "rb+") as fh:
        os.fsync(fh.fileno())
    digest = sha256(tmp)
    os.replace(tmp, path)
    fsync_dir(path.parent)
    return digest


def copy_file(source: Path, path: Path) -> None:
    """Copy ``source`` durably to ``path`` (temp file, fsync, rename)."""
    import shutil

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    shutil.copyfile(source, tmp)
    with open(tmp, "rb+") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)


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
