"""The hash chain over transactions: each row's hash covers its fields and its parents'.

A line of history is a chain: each row names the hash of the row before it
(``prev_hash``). A merge makes it a DAG: the merge transaction's ``prev_hash`` is our
branch's last row and its ``options.merge.theirs_hash`` the merged branch's last row,
both hashed with it. The *log order* (``order``) lists a history as one sequence:
first parents from the first row to the newest, each merge preceded by the rows only
its second parent reaches. Without merges that is txn_id order. The Merkle tree's
leaves, the proofs and ``verify``'s prefix checks use it, so every version on the
first-parent line is a prefix of every later one.
"""

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
OPTIONAL_HASHED = ("branch",)  # hashed only when present: older rows verify unchanged


def row_hash(row: dict) -> str:
    """SHA-256 over the canonical JSON of a transaction row's hashed fields."""
    payload = {k: row.get(k) for k in HASHED_FIELDS}
    payload.update({k: row[k] for k in OPTIONAL_HASHED if row.get(k) is not None})
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


def merge_parent(row: dict) -> str | None:
    """The second parent of a merge transaction: the merged branch's last row's hash."""
    if row.get("kind") != "merge":
        return None
    try:
        merge = json.loads(row.get("options") or "{}").get("merge") or {}
    except (ValueError, AttributeError):
        return None
    parent = merge.get("theirs_hash") if isinstance(merge, dict) else None
    return parent if isinstance(parent, str) else None


def _linked(i: int, row: dict, seen: set[str]) -> bool:
    """Only the first row has no parent; every parent is an earlier row's hash."""
    parents = [p for p in (row.get("prev_hash"), merge_parent(row)) if p is not None]
    return (i == 0) == (row.get("prev_hash") is None) and all(p in seen for p in parents)


def first_gap(rows: list[dict]) -> str | None:
    """The first row (txn_id order) whose parents are not all among the earlier rows: a
    transaction is missing before it. Cheap (no hashing): readers run it on open."""
    seen: set[str] = set()
    for i, row in enumerate(rows):
        if not _linked(i, row, seen):
            return row["txn_id"]
        seen.add(row["hash"])
    return None


def check(rows: list[dict]) -> tuple[str, str] | None:
    """The first break of the chain (rows in txn_id order) as (txn_id, what broke), or None.

    Each row's hash recomputes; its parents are earlier rows (only the first row has
    none); and every row but the newest is a parent of a later one, so no row can be
    removed, inserted or reordered without a break."""
    seen: set[str] = set()
    for i, row in enumerate(rows):
        txn = row["txn_id"]
        if not _linked(i, row, seen):
            return txn, "link"
        if row_hash(row) != row.get("hash"):
            return txn, "altered"
        seen.add(row["hash"])
    referenced = {p for row in rows for p in (row.get("prev_hash"), merge_parent(row)) if p}
    for row in rows[:-1]:
        if row["hash"] not in referenced:
            return row["txn_id"], "dangling"
    return None


def order(rows: list[dict]) -> list[dict]:
    """The rows in log order (see the module docstring); txn_id order when they do not
    form one intact history (``check`` then says where it breaks)."""
    by_txn = sorted(rows, key=lambda r: r["txn_id"])
    if not any(r.get("kind") == "merge" for r in by_txn) or check(by_txn) is not None:
        return by_txn
    by_hash = {r["hash"]: r for r in by_txn}
    out: list[dict] = []
    done: set[str] = set()

    def emit(head: str | None) -> None:
        line = []
        while head is not None and head not in done:
            row = by_hash[head]
            line.append(row)
            head = row.get("prev_hash")
        for row in reversed(line):
            emit(merge_parent(row))  # what only the merged branch holds comes first
            out.append(row)
            done.add(row["hash"])

    emit(by_txn[-1]["hash"])
    return out
