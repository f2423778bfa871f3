"""Versions: which git commits changed the store, and which segments each one added."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

from lineage.errors import RevisionError
from lineage.store.files import read_table
from lineage.store.integrity import check_files
from lineage.store.layout import Layout
from lineage.versioning import dvcstore, gitrepo, remote_reads

if TYPE_CHECKING:
    import git

    from lineage.versioning.commits import Commits


@dataclass(frozen=True)
class VersionTables:
    """The ``versions`` and ``version_segments`` tables as columns of Python values: the
    connection loads them into DuckDB in one statement each (an Arrow conversion of
    Python objects would import pandas, a third of a second on every start)."""

    versions: dict[str, list]  # commit, short, tags, committed_at, author, message, seq
    segments: dict[str, list]  # commit, segment_id


def _manifest_segments(layout: Layout, md5: str | None) -> dict[str, str]:
    """``relpath -> md5`` of the transactions segments in a manifest."""
    entries = dvcstore.manifest(layout.root, md5) if md5 is not None else []
    return {
        e["relpath"]: e["md5"] for e in entries or [] if e["relpath"].startswith("transactions/")
    }


def _walk(layout: Layout, commits: Commits, commit: str | None):
    """(version, new transaction segments) from oldest to newest along ``commit``'s history."""
    if commit is None:
        return []
    versions = list(reversed(commits.versions(commit)))
    md5s = {v.commit: commits.dir_md5(v.commit) for v in versions}
    commits.save()
    _fetch_manifests(layout, md5s)
    seen: set[str] = set()
    out = []
    for v in versions:
        segs = _manifest_segments(layout, md5s[v.commit])
        new = {rel: md5 for rel, md5 in segs.items() if rel not in seen}
        seen.update(segs)
        out.append((v, new))
    return out


def _fetch_manifests(layout: Layout, md5s: dict[str, str | None]) -> None:
    """Bring the manifests (``commit -> md5``) that the cache lacks: a clone that read or
    pulled one revision has only its manifest, and without the others a version's
    segments would be credited to a later version."""

    def lacking(pairs):
        return [(c, m) for c, m in pairs if not dvcstore.cache_path(layout.root, m).exists()]

    missing = lacking((c, m) for c, m in md5s.items() if m is not None)
    if missing:
        remote_reads.fetch_whole(layout.root, [m for _, m in missing])
        missing = lacking(missing)
    if missing:
        raise RevisionError(
            f"the store manifest of version {missing[0][0][:10]} is neither in the DVC cache "
            "nor on the remote: which version wrote which labels cannot be told",
            hint="`lineage pull` from a remote that has it",
        )


def version_tables(layout: Layout, commits: Commits, commit: str | None) -> VersionTables:
    """The rows behind the ``versions`` and ``version_segments`` views (``seq`` is 1 for
    the oldest version of this line of history)."""
    walked = _walk(layout, commits, commit)
    versions: dict[str, list] = {
        "commit": [v.commit for v, _ in walked],
        "short": [v.short for v, _ in walked],
        "tags": [list(v.tags) for v, _ in walked],
        "committed_at": [v.committed_at for v, _ in walked],
        "author": [v.author for v, _ in walked],
        "message": [v.message for v, _ in walked],
        "seq": list(range(1, len(walked) + 1)),
    }
    pairs = [(v.commit, rel) for v, new in walked for rel in new]
    segments: dict[str, list] = {
        "commit": [c for c, _ in pairs],
        "segment_id": [rel.split("/", 1)[1].removesuffix(".parquet") for _, rel in pairs],
    }
    return VersionTables(versions, segments)


def log(layout: Layout, commits: Commits, rev: str = "HEAD") -> list[dict]:
    """Versions newest first, each with the transactions it added."""
    commit = commits.resolve(None if rev == "HEAD" else rev)
    if commit is None:  # nothing committed yet
        return []
    walked = _walk(layout, commits, commit)
    cached = {
        rel: (dvcstore.cache_path(layout.root, md5), md5)
        for _, new in walked
        for rel, md5 in new.items()
    }
    cached = {rel: pm for rel, pm in cached.items() if pm[0].exists()}
    check_files(layout, [(path, md5, rel) for rel, (path, md5) in cached.items()])
    out = []
    for v, new in walked:
        txns = []
        for rel in new:
            if rel not in cached:
                continue
            path = cached[rel][0]
            for row in read_table(
                path, columns=["txn_id", "kind", "message", "counts", "author"]
            ).to_pylist():
                row["counts"] = json.loads(row["counts"] or "{}")
                txns.append(row)
        out.append(
            {
                "commit": v.commit,
                "short": v.short,
                "tags": list(v.tags),
                "committed_at": v.committed_at,
                "author": v.author,
                "message": v.message,
                "transactions": sorted(txns, key=lambda t: t["txn_id"]),
            }
        )
    return list(reversed(out))


def all_dir_md5s(layout: Layout, repo: git.Repo) -> list[str]:
    """The directory-manifest hashes of every version on every branch and tag."""
    if not gitrepo.has_commits(repo):
        return []
    out = set()
    for c in repo.iter_commits("--all", paths=layout.dvc_file.name):
        blob = gitrepo.read_blob(c, layout.dvc_file.name)
        if blob is not None:
            out.add(dvcstore.dir_md5(blob, c.hexsha[:10]))
    return sorted(out)
