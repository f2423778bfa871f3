"""Commit: move staged transactions into the store as one segment per table, then
``dvc add`` and a git commit. A journal makes it safe to kill at any point."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.parquet as pq

from lineage.errors import RepoError
from lineage.store import blocks, chain, checkpoint, ids, scratch, staging
from lineage.store import schema as schemas
from lineage.store import segments as store_segments
from lineage.store.files import atomic_write_bytes, copy_file, write_parquet
from lineage.store.layout import Layout
from lineage.versioning import dvcstore, gitrepo

if TYPE_CHECKING:
    import git


@dataclass(frozen=True)
class CommitResult:
    commit: str
    tag: str | None
    segment_id: str
    transactions: list[str]
    rows: dict[str, int]


def commit(
    layout: Layout,
    repo: git.Repo,
    message: str,
    tag: str | None,
    last_hash: str | None,
    merged: dict[str, Path] | None = None,
) -> CommitResult:
    """Commit everything staged. Call with the write lock held and after ``recover``.

    ``merged`` (``relpath -> cache file``): a merge's other side, copied into the store
    beside ours; the git commit then concludes the git merge in progress."""
    txns = staging.staged(layout.staging)
    if not txns:
        raise RepoError("nothing staged to commit", hint="import labels or reviews first")
    if tag is not None and gitrepo.tag_exists(repo, tag):
        raise RepoError(f"tag '{tag}' already exists", hint="choose another tag name")
    segment_id = ids.time_id("s")
    tables: dict[str, list[Path]] = {}
    for txn in txns:
        for name, path in txn.tables().items():
            tables.setdefault(name, []).append(path)
    relpaths = [f"{t}/{segment_id}.parquet" for t in tables]
    relpaths += sorted(merged or {})
    digested = [r for r in relpaths if blocks.wanted(r)]  # read in place: block digests
    written = relpaths + [blocks.relpath(r) for r in digested]
    _write_journal(layout, repo, segment_id, written, [t.txn_id for t in txns], tag)

    dvcstore.checkout(layout.root, layout.store_name)  # the work tree store = HEAD's
    layout.store.mkdir(exist_ok=True)
    for rel, source in sorted((merged or {}).items()):
        copy_file(source, layout.store / rel)
    segments, rows = [], {}
    work = scratch.scratch_dir(layout)
    try:
        for name, parts in sorted(tables.items()):
            if name == "transactions":
                continue
            meta = (
                checkpoint.footer([t.meta for t in txns], segment_id)
                if name == schemas.CHECKPOINTS
                else None
            )
            rel = f"{name}/{segment_id}.parquet"
            digest, count = store_segments.write(layout.store / rel, name, parts, work, meta)
            segments.append({"table": name, "path": rel, "sha256": digest, "rows": count})
            rows[name] = count
    finally:
        scratch.drop_scratch(work)
    for rel in digested:
        blocks.write(layout.store, rel)
    txn_rows = pa.concat_tables(
        [pq.read_table(p) for p in tables["transactions"]], promote_options="permissive"
    ).to_pylist()
    branch = gitrepo.branch(repo)
    for row in txn_rows:
        row["segment_id"] = segment_id
        row["segments"] = segments
        row["branch"] = branch
    txn_rows = chain.link(txn_rows, last_hash)
    write_parquet(
        layout.store / f"transactions/{segment_id}.parquet",
        schemas.conform(
            "transactions", pa.Table.from_pylist(txn_rows, schemas.schema("transactions"))
        ),
    )
    rows["transactions"] = len(txn_rows)

    dvcstore.add(layout.root, layout.store_name)
    sha = gitrepo.commit_paths(
        repo,
        [layout.dvc_file.name, ".gitignore"],
        message or "lineage commit",
        tag,
        merge=merged is not None,
    )
    for txn in txns:
        staging.discard(txn)
    layout.journal.unlink(missing_ok=True)
    return CommitResult(sha, tag, segment_id, [t.txn_id for t in txns], rows)


def _write_journal(layout: Layout, repo: git.Repo, segment_id, relpaths, txn_ids, tag) -> None:
    head = repo.head.commit.hexsha if gitrepo.has_commits(repo) else None
    dvc_before = layout.dvc_file.read_text() if layout.dvc_file.exists() else None
    journal = {
        "segment_id": segment_id,
        "files": relpaths + [f"transactions/{segment_id}.parquet"],
        "txns": txn_ids,
        "head_before": head,
        "dvc_before": dvc_before,
        "tag": tag,
    }
    atomic_write_bytes(layout.journal, json.dumps(journal, indent=1).encode())


def recover(layout: Layout, repo: git.Repo) -> list[str]:
    """Finish or roll back a commit that was killed, and drop half-written imports.
    Returns what it did, for the user to see."""
    notes = []
    if scratch.drop_stale(layout):
        notes.append("removed temp files left by a killed process")
    for path in staging.incomplete(layout.staging):
        staging.discard(path)
        notes.append(f"removed an unfinished import ({path.name}) left by a killed process")
    if not layout.journal.exists():
        return notes
    try:
        journal = json.loads(layout.journal.read_text())
    except json.JSONDecodeError:
        layout.journal.unlink()
        return notes + ["removed an unreadable commit journal"]
    notes += _remove_stale_git_locks(layout, repo)
    head = repo.head.commit.hexsha if gitrepo.has_commits(repo) else None
    landed = (
        head is not None
        and head != journal["head_before"]
        and _has_segment(layout, repo.head.commit, journal["segment_id"])
    )
    if landed:
        if journal.get("tag") and not gitrepo.tag_exists(repo, journal["tag"]):
            repo.create_tag(journal["tag"], ref=repo.head.commit)
        for txn_id in journal["txns"]:
            staging.discard(layout.staging / txn_id)
        notes.append(f"finished an interrupted commit ({head[:10]})")  # type: ignore[index]  # checked before use
    else:
        for rel in journal["files"]:
            (layout.store / rel).unlink(missing_ok=True)
        if journal["dvc_before"] is None:
            layout.dvc_file.unlink(missing_ok=True)
        else:
            atomic_write_bytes(layout.dvc_file, journal["dvc_before"].encode())
        if head is not None:
            try:
                repo.index.reset(commit="HEAD", paths=[layout.dvc_file.name])
            except Exception:  # noqa: BLE001 - the index may not hold the path at all
                pass
        notes.append("rolled back an interrupted commit; its staged transactions are still staged")
    layout.journal.unlink(missing_ok=True)
    return notes


def _remove_stale_git_locks(layout: Layout, repo: git.Repo) -> list[str]:
    """Lock files gitpython left when a commit was killed mid-write. Only locks created
    after the journal are removed: they are the killed commit's (lineage's lock is held)."""
    git_dir = Path(repo.git_dir)
    since = layout.journal.stat().st_mtime
    candidates = [git_dir / "index.lock", git_dir / "HEAD.lock", git_dir / "packed-refs.lock"]
    candidates += sorted((git_dir / "refs").rglob("*.lock"))
    notes = []
    for lock in candidates:
        try:
            if lock.stat().st_mtime >= since:
                lock.unlink()
                notes.append(
                    f"removed a stale git lock ({lock.relative_to(git_dir)}) left by a killed commit"
                )
        except FileNotFoundError:
            continue
    return notes


def _has_segment(layout: Layout, commit: git.Commit, segment_id: str) -> bool:
    blob = gitrepo.read_blob(commit, layout.dvc_file.name)
    if blob is None:
        return False
    entries = dvcstore.manifest(layout.root, dvcstore.dir_md5(blob, commit.hexsha)) or []
    return any(e["relpath"].endswith(f"/{segment_id}.parquet") for e in entries)
