"""Block digests: the SHA-256 of each 128 KiB block of a segment, kept beside it.

A read in place on a remote fetches byte ranges, so the whole-file md5 DVC names each
file by cannot be checked. A commit writes, for each segment it adds, the digests of
its fixed-size blocks to ``blocks/<table>/<segment>.sha256`` in the store (the
concatenated 32-byte digests). The file is listed in the version's manifest with its
own md5, as every file is, so the chain of trust runs from the git commit to each
block: a reader that fetches a block from the remote checks it before DuckDB sees a
byte, and a server that serves other bytes is an IntegrityError, never wrong rows.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from lineage.store.files import atomic_write_bytes

BLOCK = 128 * 1024  # bytes; part of the file format (a new size needs a new suffix)
FOLDER = "blocks"
SUFFIX = ".sha256"
DIGEST = 32


def relpath(segment: str) -> str:
    """The digests' path in the store for segment ``table/<id>.parquet``."""
    return f"{FOLDER}/{segment.removesuffix('.parquet')}{SUFFIX}"


def wanted(segment: str) -> bool:
    """Segments read in place get digests; ``transactions`` are always read whole."""
    parts = segment.split("/")
    return len(parts) == 2 and parts[1].endswith(".parquet") and parts[0] != "transactions"


def digests(path: Path) -> bytes:
    """The concatenated SHA-256 digests of ``path``'s blocks (the last may be short)."""
    out = bytearray()
    with open(path, "rb") as fh:
        while block := fh.read(BLOCK):
            out += hashlib.sha256(block).digest()
    return bytes(out)


def write(store: Path, segment: str) -> str:
    """Write the digests of ``store/segment`` beside the store's segments; returns
    their relpath."""
    rel = relpath(segment)
    atomic_write_bytes(store / rel, digests(store / segment))
    return rel


def count(size: int) -> int:
    """Blocks in a file of ``size`` bytes."""
    return -(-size // BLOCK)
