"""The hash chain over transactions: each row's hash covers its fields and the previous hash."""

from __future__ import annotations

import hashlib
import json

HASHED_FIELDS = (
    "txn_id",
    "kind",
    "created_at",
    "author",
    "message",
    "format",
    "tool_version",
    "source_files",
    "options",
    "counts",
    "segment_id",
    "segments",
    "prev_hash",
)


def row_hash(row: dict) -> str:
    """SHA-256 over the canonical JSON of a transaction row's hashed fields."""
    payload = {k: row.get(k) for k in HASHED_FIELDS}
    data = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(data.encode()).hexdigest()


def link(rows: list[dict], prev_hash: str | None) -> list[dict]:
    """Fill prev_hash and hash of ``rows`` in order, continuing the chain from ``prev_hash``."""
    out = []
    for row in rows:
        row = {**row, "prev_hash": prev_hash}
        row["hash"] = row_hash(row)
        prev_hash = row["hash"]
        out.append(row)
    return out
