"""Replace corrupt store files by good copies from the DVC remote (``lineage pull``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from lineage.errors import LineageError
from lineage.store.integrity import digests as _digests
from lineage.store.layout import Layout
from lineage.versioning import dvcstore, gitrepo
from lineage.versioning.manifests import manifest

if TYPE_CHECKING:
    from git import Repo


@dataclass(frozen=True)
class RepairResult:
    repaired: list[str]
    failed: list[str]


def repair(layout: Layout, git: Repo, remote: str | None = None) -> RepairResult:
    """Replace corrupt cache files (any version on any branch or tag) and work-tree
    copies by good ones from the remote. DVC's own pull skips files it believes are
    present, so corrupt ones are deleted first, then fetched by hash."""
    if not gitrepo.has_commits(git):
        return RepairResult([], [])
    bad: dict[str, str] = {}
    head_files: dict[str, str] = {}
    for c in git.iter_commits("--all", paths=layout.dvc_file.name):
        try:
            _, files = manifest(layout, c)
        except LineageError:
            continue
        if c.hexsha == git.head.commit.hexsha:
            head_files = files
        for rel, md5 in files.items():
            path = dvcstore.cache_path(layout.root, md5)
            if md5 not in bad and path.exists() and _digests(path)[0] != md5:
                bad[md5] = rel
    if not head_files:
        _, head_files = manifest(layout, git.head.commit)
    for md5 in bad:
        dvcstore.cache_path(layout.root, md5).unlink()
    work_bad = [
        rel
        for rel, md5 in head_files.items()
        if (layout.store / rel).is_file() and _digests(layout.store / rel)[0] != md5
    ]
    for rel in work_bad:
        (layout.store / rel).unlink()
    if bad:
        dvcstore.fetch_objects(layout.root, list(bad), remote)
    if work_bad or bad:
        dvcstore.checkout(layout.root, layout.store_name)
    repaired: list[str] = []
    failed: list[str] = []
    for md5, rel in sorted(bad.items(), key=lambda kv: kv[1]):
        path = dvcstore.cache_path(layout.root, md5)
        (repaired if path.exists() and _digests(path)[0] == md5 else failed).append(rel)
    for rel in work_bad:
        path = layout.store / rel
        ok = path.is_file() and _digests(path)[0] == head_files[rel]
        (repaired if ok else failed).append(f"{layout.store_name}/{rel}")
    return RepairResult(repaired, failed)
