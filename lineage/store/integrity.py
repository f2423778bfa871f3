"""The checks every reader makes before it returns a row: cheap, and remembered.

A revision is read from files named by its directory manifest. Before any view is
built, the manifest must match its own md5 (its name: ``dvcstore.manifest`` checks
that), every segment its md5, and every
transaction the revision records must have its segments in the manifest, with the hash
chain unbroken. Anything else is an ``IntegrityError`` (exit 1), never wrong rows.
``lineage verify`` does the full, uncached proof.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from lineage.errors import IntegrityError
from lineage.store import chain
from lineage.store.layout import Layout
from lineage.store.memo import JsonMemo

INTACT_CACHE = "intact.json"
_HINT = "`lineage pull` repairs it from the remote; `lineage verify` reports more"


def digests(path: Path) -> tuple[str, str]:
    """(md5, sha256) of a file in one read."""
    md5, sha = hashlib.md5(usedforsecurity=False), hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            md5.update(block)
            sha.update(block)
    return md5.hexdigest(), sha.hexdigest()


class _Memo(JsonMemo):
    """``.lineage/intact.json``: files already hashed, keyed by (size, mtime, ctime,
    inode), and manifests already checked. Any write changes ctime, so only corruption
    below the file system (bit rot) slips past it; ``verify`` always re-hashes."""

    def __init__(self, layout: Layout):
        super().__init__(layout.work / INTACT_CACHE)

    @staticmethod
    def stamp(path: Path) -> list[int]:
        st = path.stat()
        return [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino]

    def fresh(self, path: Path) -> bool:
        return self.data.get(str(path)) == self.stamp(path)

    def remember(self, path: Path) -> None:
        self.data[str(path)] = self.stamp(path)
        self.changed = True


def check_revision(layout: Layout, segments, commit: str) -> None:
    """``check_segments`` and ``check_complete`` for one opened revision, with the memo
    read and written once. A segment read in place on the remote (``url``) was vouched
    for by the remote's own md5 of it (``remote_reads``)."""
    memo = _Memo(layout)
    for seg in segments:
        if getattr(seg, "url", None) is None:
            _check(memo, seg.path, seg.md5, seg.relpath)
    _complete(memo, segments, commit)
    memo.save()


def check_segments(layout: Layout, segments) -> None:
    """Raise IntegrityError when a segment file (``revision.Segment``) does not match its
    md5. Each file is hashed once; later opens cost a ``stat`` per file."""
    check_files(layout, [(seg.path, seg.md5, seg.relpath) for seg in segments])


def check_files(layout: Layout, files: list[tuple[Path, str, str]]) -> None:
    """``check_segments`` for cache files given as (path, md5, relpath)."""
    memo = _Memo(layout)
    for path, md5, relpath in files:
        _check(memo, path, md5, relpath)
    memo.save()


def _check(memo: _Memo, path: Path, md5: str, relpath: str) -> None:
    if memo.fresh(path):
        return
    if digests(path)[0] != md5:
        segment = Path(relpath).stem
        raise IntegrityError(
            f"segment {relpath} is corrupt: {path} does not match its md5 "
            f"(written by the transaction(s) of segment {segment})",
            hint=_HINT,
        )
    memo.remember(path)


def _complete(memo: _Memo, segments, commit: str) -> None:
    """Every transaction of the revision has each segment it recorded in the manifest,
    and the transactions' hash chain has no gap: a manifest rewritten to drop a commit's
    files must not read as an older, valid state."""
    import pyarrow.parquet as pq

    txn_files = [s for s in segments if s.table == "transactions"]
    key = (
        "complete:"
        + hashlib.sha256(
            "\n".join(sorted(f"{s.relpath}:{s.md5}" for s in segments)).encode()
        ).hexdigest()
    )
    if memo.data.get(key):
        return
    listed = {s.relpath for s in segments}
    rows = []
    for seg in txn_files:
        columns = ["txn_id", "kind", "options", "segments", "prev_hash", "hash"]
        # ParquetFile, not read_table: that imports pyarrow.dataset, and with it pandas
        rows += pq.ParquetFile(seg.path).read(columns=columns).to_pylist()
    rows.sort(key=lambda r: r["txn_id"])
    for row in rows:
        for rec in row["segments"] or []:
            if rec["path"] not in listed:
                raise IntegrityError(
                    f"the store manifest of {commit[:10]} lacks {rec['path']}, which "
                    f"transaction {row['txn_id']} wrote",
                    hint=_HINT,
                )
    gap = chain.first_gap(rows)
    if gap is not None:
        raise IntegrityError(
            f"the transaction chain of {commit[:10]} is broken before {gap}: a "
            "transaction is missing from its manifest",
            hint=_HINT,
        )
    memo.data[key] = True
    memo.changed = True
