"""A version's store as git and DVC record it: its manifest and its transaction chain.

Shared by ``verify``, the proofs and ``repair``; reading never needs a checkout.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pyarrow as pa

from lineage.errors import IntegrityError, LineageError
from lineage.pyvalues import pylist
from lineage.store import chain
from lineage.store import schema as schemas
from lineage.store.files import read_table
from lineage.store.layout import Layout
from lineage.versioning import dvcstore, gitrepo

if TYPE_CHECKING:
    import git


def manifest(layout: Layout, commit: git.Commit) -> tuple[str | None, dict[str, str]]:
    """(directory md5, ``relpath -> md5``) of the store at ``commit`` (empty: no store).
    Fetches the manifest from the remote when the cache lacks it."""
    blob = gitrepo.read_blob(commit, layout.dvc_file.name)
    if blob is None:
        return None, {}
    dir_md5 = dvcstore.dir_md5(blob, commit.hexsha[:10])
    entries = dvcstore.manifest(layout.root, dir_md5)  # IntegrityError when corrupt
    if entries is None:
        try_fetch(layout, [dir_md5])
        entries = dvcstore.manifest(layout.root, dir_md5)
    if entries is None:
        raise IntegrityError(
            f"the store manifest of {commit.hexsha[:10]} is neither in the DVC cache nor "
            "on the remote",
            hint="`lineage pull` from a remote that has it",
        )
    return dir_md5, {e["relpath"]: e["md5"] for e in entries}


def try_fetch(layout: Layout, md5s: list[str]) -> None:
    if not md5s:
        return
    try:
        dvcstore.fetch_objects(layout.root, md5s)
    except LineageError:
        pass  # reported below as missing


def is_segment(relpath: str) -> bool:
    parts = relpath.split("/")
    return len(parts) == 2 and parts[0] in schemas.STORED_TABLES and parts[1].endswith(".parquet")


def read_chain(layout: Layout, files: dict[str, str]) -> list[dict]:
    """All transaction rows of a manifest, in log order (``chain.order``: the leaf order)."""
    rows = []
    for rel, md5 in sorted(files.items()):
        if rel.startswith("transactions/") and is_segment(rel):
            try:
                table = read_table(dvcstore.cache_path(layout.root, md5))
                columns = [pylist(c) for c in table.columns]
                rows += [
                    dict(zip(table.column_names, r, strict=True))
                    for r in zip(*columns, strict=True)
                ]
            except (OSError, ValueError, pa.ArrowException) as exc:
                raise IntegrityError(f"{rel} is not a readable transactions file: {exc}") from exc
    return chain.order(rows)


def leaves(rows: list[dict]) -> list[bytes]:
    """Leaf data: each transaction's hash (its text when it is not hex: the chain check
    reports that row)."""
    out = []
    for r in rows:
        try:
            out.append(bytes.fromhex(r["hash"] or ""))
        except ValueError:
            out.append(str(r["hash"]).encode())
    return out


def commit_of(repo: git.Repo, rev: str | None):
    if rev is None:
        return repo.head.commit if gitrepo.has_commits(repo) else None
    return gitrepo.resolve(repo, rev)
