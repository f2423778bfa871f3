"""``lineage verify``: prove a revision's store is intact, append-only and untampered.

Five checks, each reported separately so an auditor sees which promise broke:

- **files**: every file of the revision's DVC manifest matches its md5 (cache, and the
  work-tree copy at HEAD), and every segment matches the SHA-256 and row count its
  transaction recorded; a segment no transaction claims is reported too.
- **chain**: each transaction row's hash recomputes (``chain.row_hash``) and links to
  the previous one; the first break is named.
- **append-only**: each earlier version on the revision's history holds a subset of
  the next version's files, byte for byte (same path, same md5).
- **history**: the transactions recorded at each earlier tag (or ``since``) are a
  prefix of the revision's, with equal hashes, and an RFC 9162 consistency proof
  between the two Merkle roots verifies. This catches a history rewritten in a later
  commit, even when git history itself was rewritten but the tag was not moved.
- **merkle**: the RFC 9162 root over the transaction hashes (leaves in txn_id order).

The Merkle root is only as good as its anchor: someone who rewrites every copy
(store, tags, remote) and every published root is not detected. Publish the root
elsewhere (a signed tag message, a ticket, an email) to anchor it.

``lineage.store.integrity`` holds the cheap checks readers make; ``proofs`` the RFC 9162
proofs; ``repair`` re-fetches corrupt cache files from the DVC remote.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pyarrow.parquet as pq

from lineage.errors import InputError, IntegrityError, LineageError
from lineage.store import chain, merkle
from lineage.store.files import atomic_write_bytes, read_table
from lineage.store.integrity import digests as _digests
from lineage.store.layout import Layout
from lineage.versioning import dvcstore, gitrepo
from lineage.versioning.manifests import (
    commit_of,
    is_segment,
    leaves,
    manifest,
    read_chain,
    try_fetch,
)

if TYPE_CHECKING:
    import git
    from git import Repo
from lineage.versioning.proofs import ConsistencyProof, consistency

CHECKS = ("files", "chain", "append-only", "history", "merkle")


@dataclass(frozen=True)
class Problem:
    check: str
    message: str
    file: str | None = None
    txn_id: str | None = None
    commit: str | None = None


@dataclass
class VerifyResult:
    rev: str
    commit: str | None
    segments: int = 0
    transactions: int = 0
    root: str = merkle.EMPTY_ROOT.hex()
    problems: list[Problem] = field(default_factory=list)
    consistency: list[ConsistencyProof] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def failed(self, check: str) -> list[Problem]:
        return [p for p in self.problems if p.check == check]


def verify(
    layout: Layout, git: Repo, rev: str | None = None, since: str | None = None
) -> VerifyResult:
    """Run every check on ``rev`` (default HEAD). The history check compares against
    ``since`` (any tag, even one no longer on the history) or, by default, against
    every tag that is an ancestor of ``rev``."""
    commit = commit_of(git, rev)
    result = VerifyResult(rev or "HEAD", commit.hexsha if commit else None)
    if commit is None:
        if since is not None:
            raise InputError("the repository has no commits yet", field="since")
        return result
    dir_md5, files = manifest(layout, commit)
    at_head = gitrepo.has_commits(git) and git.head.commit.hexsha == commit.hexsha
    result.segments = sum(1 for rel in files if is_segment(rel))

    readable = _check_files(layout, commit, files, at_head, result)
    rows = []
    if readable:
        try:
            rows = read_chain(layout, files)
        except IntegrityError as exc:
            result.problems.append(Problem("chain", exc.message))
            readable = False
    if readable:
        result.transactions = len(rows)
        _check_recorded(files, rows, layout, result)
        _check_chain(rows, result)
        result.root = merkle.root(leaves(rows)).hex()
    _check_append_only(layout, git, commit, result)
    _check_tags(layout, git, commit, rows, since, result, plain=rev is None)
    if result.ok and rev is None and since is None:
        record_verified(layout, commit.hexsha)
    return result


def _check_files(layout: Layout, commit: git.Commit, files, at_head, result) -> bool:
    """md5 of each cache file (and work-tree copy at HEAD); the manifest's own md5 was
    checked when it was read (``dvcstore.manifest``). Returns whether the transaction
    files can be read."""
    missing = [md5 for md5 in files.values() if not dvcstore.cache_path(layout.root, md5).exists()]
    try_fetch(layout, missing)
    readable = True
    owners = _owners_by_segment(layout, files)
    for rel, md5 in sorted(files.items()):
        txn = owners.get(rel)
        cache = dvcstore.cache_path(layout.root, md5)
        if not cache.exists():
            result.problems.append(
                Problem("files", f"{rel} is missing from the DVC cache", rel, txn, commit.hexsha)
            )
            readable = readable and not rel.startswith("transactions/")
            continue
        if _digests(cache)[0] != md5:
            result.problems.append(
                Problem(
                    "files",
                    f"{rel} does not match its md5 in the DVC cache ({cache}): the file is "
                    "corrupt or was altered",
                    rel,
                    txn,
                    commit.hexsha,
                )
            )
            readable = readable and not rel.startswith("transactions/")
        work = layout.store / rel
        if at_head and work.is_file() and _digests(work)[0] != md5:
            result.problems.append(
                Problem(
                    "files",
                    f"the work-tree copy {layout.store_name}/{rel} does not match its md5",
                    f"{layout.store_name}/{rel}",
                    txn,
                    commit.hexsha,
                )
            )
    return readable


def _owners_by_segment(layout: Layout, files: dict[str, str]) -> dict[str, str]:
    """segment relpath -> the first transaction of the commit that wrote it, read from
    that commit's (intact) transactions file; used only to name the transaction."""
    out = {}
    for rel, md5 in files.items():
        if not (rel.startswith("transactions/") and is_segment(rel)):
            continue
        cache = dvcstore.cache_path(layout.root, md5)
        try:
            if _digests(cache)[0] != md5:
                continue
            txns = read_table(cache, columns=["txn_id"]).column("txn_id").to_pylist()
        except (OSError, ValueError):
            continue
        if not txns:
            continue
        segment_id = rel.split("/")[1]
        for other in files:
            if other.endswith("/" + segment_id):
                out[other] = ", ".join(sorted(txns))
    return out


def _check_recorded(files: dict[str, str], rows: list[dict], layout: Layout, result) -> None:
    """Every non-transactions segment is claimed by its transactions with its SHA-256 and
    row count; every claimed segment is in the manifest."""
    claimed: dict[str, tuple[dict, str]] = {}
    for row in rows:
        for seg in row.get("segments") or []:
            claimed.setdefault(seg["path"], (seg, row["txn_id"]))
    seen_problem = {p.file for p in result.problems}
    for rel, md5 in sorted(files.items()):
        if not is_segment(rel) or rel.startswith("transactions/") or rel in seen_problem:
            continue
        if rel not in claimed:
            result.problems.append(
                Problem("files", f"{rel} is not recorded by any transaction", rel)
            )
            continue
        seg, txn = claimed[rel]
        cache = dvcstore.cache_path(layout.root, md5)
        if _digests(cache)[1] != seg["sha256"]:
            result.problems.append(
                Problem(
                    "files",
                    f"{rel} does not match the SHA-256 recorded by transaction {txn}",
                    rel,
                    txn,
                )
            )
        elif pq.ParquetFile(cache).metadata.num_rows != seg["rows"]:
            result.problems.append(
                Problem(
                    "files",
                    f"{rel} has not the {seg['rows']} rows recorded by transaction {txn}",
                    rel,
                    txn,
                )
            )
    for rel, (_, txn) in sorted(claimed.items()):
        if rel not in files:
            result.problems.append(
                Problem("files", f"{rel}, recorded by transaction {txn}, is missing", rel, txn)
            )


def _check_chain(rows: list[dict], result: VerifyResult) -> None:
    """Recompute each hash and its links to its parents; report the first break."""
    found = chain.check(sorted(rows, key=lambda r: r["txn_id"]))
    if found is None:
        return
    txn, what = found
    message = {
        "link": "it does not link to the transaction before it (one was removed, inserted "
        "or reordered)",
        "altered": "its record was altered after it was committed",
        "dangling": "no later transaction links to it (one was inserted, or a later one removed)",
    }[what]
    result.problems.append(
        Problem("chain", f"the hash chain breaks at transaction {txn}: {message}", txn_id=txn)
    )


def _check_append_only(layout: Layout, git, commit: git.Commit, result: VerifyResult) -> None:
    """Each version on the history keeps every file of each of its parents' stores
    (both parents of a merge), unchanged."""
    versions = list(reversed(gitrepo.versions(git, commit.hexsha, layout.dvc_file.name)))
    stores: dict[str, dict[str, str]] = {}  # commit -> its files: each read once

    def files_at(c: git.Commit) -> dict[str, str]:
        if c.hexsha not in stores:
            stores[c.hexsha] = manifest(layout, c)[1]
        return stores[c.hexsha]

    for v in versions:
        try:
            vc = git.commit(v.commit)
            files = files_at(vc)
            parents = [(p.hexsha, files_at(p)) for p in vc.parents]
        except LineageError as exc:
            result.problems.append(Problem("append-only", exc.message, commit=v.commit))
            return
        for parent_sha, before in parents:
            for rel, md5 in sorted(before.items()):
                if files.get(rel) != md5:
                    what = "removed" if rel not in files else "replaced"
                    result.problems.append(
                        Problem(
                            "append-only",
                            f"version {v.short} {what} {rel}, which version "
                            f"{parent_sha[:10]} holds: the history was rewritten",
                            rel,
                            commit=v.commit,
                        )
                    )
                    return


def _check_tags(
    layout: Layout, git, commit: git.Commit, rows, since, result: VerifyResult, plain: bool
) -> None:
    """The chain at each earlier tag (or at ``since``) is a prefix of this one. A plain
    verify of HEAD also finds tags and earlier verified heads that left the history."""
    if since is not None:
        targets = [(since, gitrepo.resolve(git, since))]
    else:
        targets = []
        for tag in git.tags:
            try:
                tc = tag.commit
            except ValueError:
                continue
            if tc.hexsha == commit.hexsha:
                continue
            if git.is_ancestor(tc.hexsha, commit.hexsha):
                targets.append((tag.name, tc))
            elif plain and gitrepo.read_blob(tc, layout.dvc_file.name) is not None:
                result.problems.append(
                    Problem(
                        "history",
                        f"version {tag.name} ({tc.hexsha[:10]}) is not on the history of "
                        f"{result.rev}: the history was rewritten after it, or it was made "
                        "on another branch",
                        commit=tc.hexsha,
                    )
                )
        if plain:
            _check_verified_heads(layout, git, commit, result)
    for name, tc in sorted(targets, key=lambda t: t[0]):
        try:
            _, files = manifest(layout, tc)
            old = read_chain(layout, files)
        except (LineageError, OSError, ValueError) as exc:
            result.problems.append(
                Problem("history", f"cannot read the transactions at {name}: {exc}")
            )
            continue
        by_txn = {r["txn_id"]: r for r in rows}
        prefix = len(old) <= len(rows) and all(
            r["hash"] == n["hash"] for r, n in zip(old, rows, strict=False)
        )
        if prefix or not old:
            proof = consistency(name, old, rows)
            result.consistency.append(proof)
        for row in old:  # off the first-parent line (a merged branch): a subset, unaltered
            new = by_txn.get(row["txn_id"])
            if new is None or new["hash"] != row["hash"]:
                what = "is missing" if new is None else "was altered"
                result.problems.append(
                    Problem(
                        "history",
                        f"transaction {row['txn_id']}, recorded at {name}, {what} in "
                        f"{result.rev}: the history was rewritten after {name}",
                        txn_id=row["txn_id"],
                        commit=tc.hexsha,
                    )
                )
                break
        else:
            if prefix and not proof.verified:
                result.problems.append(
                    Problem(
                        "history",
                        f"the Merkle consistency proof from {name} to {result.rev} fails",
                        commit=tc.hexsha,
                    )
                )


VERIFIED = "verified.json"


def _check_verified_heads(layout: Layout, git, commit: git.Commit, result: VerifyResult) -> None:
    """A head that an earlier plain ``verify`` passed must still be on the history."""
    try:
        heads = json.loads((layout.work / VERIFIED).read_text()).get("heads", [])
    except (OSError, ValueError, AttributeError):
        return
    for sha in heads:
        if not isinstance(sha, str):
            continue
        try:
            on_history = sha == commit.hexsha or git.is_ancestor(sha, commit.hexsha)
        except Exception:  # noqa: BLE001 - the commit is gone from the repository
            on_history = False
        if not on_history:
            result.problems.append(
                Problem(
                    "history",
                    f"{sha[:10]}, verified earlier, is not on the history of {result.rev}: "
                    "the history was rewritten after it",
                    commit=sha,
                )
            )


def record_verified(layout: Layout, commit: str) -> None:
    """Remember a head that passed ``verify``, so a later rewrite of it is a finding."""
    path = layout.work / VERIFIED
    try:
        heads = json.loads(path.read_text()).get("heads", [])
    except (OSError, ValueError, AttributeError):
        heads = []
    heads = [h for h in heads if h != commit][-99:] + [commit]
    if layout.work.is_dir():
        atomic_write_bytes(path, json.dumps({"heads": heads}).encode())
