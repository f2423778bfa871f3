"""Resolve a revision to the segment files that make up its label store, without checkout.

``<rev>:<store>.dvc`` names the directory manifest; the manifest names each segment
file's md5; the files are read in place from the DVC cache, fetched from the remote
first when the cache lacks them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from lineage.errors import IntegrityError, RevisionError
from lineage.store import integrity
from lineage.store import schema as schemas
from lineage.store.files import within
from lineage.store.layout import Layout
from lineage.store.staging import StagedTxn, staged
from lineage.versioning import dvcstore, gitrepo

if TYPE_CHECKING:
    import git


@dataclass(frozen=True)
class Segment:
    table: str
    segment_id: str
    relpath: str
    md5: str
    path: Path


@dataclass
class RevisionFiles:
    """The files of one revision: committed segments, plus staged ones for the work state."""

    rev: str | None  # what the user asked for; None = the work state (HEAD + staged)
    commit: str | None  # the commit it resolved to
    segments: list[Segment] = field(default_factory=list)
    staged: list[StagedTxn] = field(default_factory=list)

    def checkpoint(self) -> tuple[Path, set[str]] | None:
        """The newest checkpoint of this revision and the label_events segments it covers."""
        cps = [s for s in self.segments if s.table == schemas.CHECKPOINTS]
        if not cps:
            return None
        import json

        import pyarrow.parquet as pq

        newest = max(cps, key=lambda s: s.segment_id)
        meta = pq.read_schema(newest.path).metadata or {}
        return newest.path, set(json.loads(meta.get(b"lineage.covers", b"[]")))

    def tail_files(self, covered: set[str]) -> list[Path]:
        """label_events files a checkpoint does not cover: later segments and staged work."""
        out = [
            s.path
            for s in self.segments
            if s.table == "label_events" and s.segment_id not in covered
        ]
        out += [f for t in self.staged if (f := t.table_file("label_events")) is not None]
        return out

    def files(self, table: str) -> list[Path]:
        out = [s.path for s in self.segments if s.table == table]
        out += [f for t in self.staged if (f := t.table_file(table)) is not None]
        return out

    def readable(self) -> list[Path]:
        """Every file the views of this revision read: exactly what user SQL may open."""
        out = [s.path for s in self.segments]
        out += [f for t in self.staged for f in t.tables().values()]
        return out

    @property
    def label(self) -> str:
        if self.rev is None:
            return "working" if self.staged else (self.commit or "empty")[:10]
        return self.rev


def resolve(layout: Layout, repo: git.Repo, rev: str | None) -> RevisionFiles:
    """The files of ``rev`` (None: HEAD plus staged transactions)."""
    if rev is None:
        if not gitrepo.has_commits(repo):
            return RevisionFiles(None, None, [], staged(layout.staging))
        commit = repo.head.commit
        segs = _segments(layout, commit)
        return RevisionFiles(None, commit.hexsha, segs, staged(layout.staging))
    commit = gitrepo.resolve(repo, rev)
    return RevisionFiles(rev, commit.hexsha, _segments(layout, commit))


def _segments(layout: Layout, commit: git.Commit) -> list[Segment]:
    blob = gitrepo.read_blob(commit, layout.dvc_file.name)
    if blob is None:
        return []
    md5 = dvcstore.dir_md5(blob, commit.hexsha[:10])
    entries = dvcstore.manifest(layout.root, md5)
    if entries is None:
        dvcstore.fetch_objects(layout.root, [md5])
        entries = dvcstore.manifest(layout.root, md5)
        if entries is None:
            raise RevisionError(
                f"the store manifest of {commit.hexsha[:10]} is neither in the DVC cache "
                "nor on the remote",
                hint="`lineage pull` from a remote that has it",
            )
    segs = [s for s in (_segment(layout, e) for e in entries) if s is not None]
    missing = [s for s in segs if not s.path.exists()]
    if missing:
        dvcstore.fetch_objects(layout.root, [s.md5 for s in missing])
        still = [s for s in missing if not s.path.exists()]
        if still:
            raise RevisionError(
                f"{len(still)} segment file(s) of {commit.hexsha[:10]} are missing from the "
                f"DVC cache and the remote, e.g. {still[0].relpath}",
                hint="`lineage pull` from a remote that has them",
            )
    segs = sorted(segs, key=lambda s: (s.table, s.segment_id))
    cache = dvcstore.cache_dir(layout.root)
    outside = next((s for s in segs if not within(s.path, cache)), None)
    if outside is not None:
        raise IntegrityError(
            f"segment {outside.relpath} of {commit.hexsha[:10]} leads outside the DVC cache "
            f"({outside.path.resolve()})",
            hint="a cache file is a symlink to elsewhere: remove it and `lineage pull`",
        )
    # a corrupt or incomplete store is an IntegrityError, never wrong rows
    integrity.check_revision(layout, segs, commit.hexsha)
    return segs


def _segment(layout: Layout, entry: dict) -> Segment | None:
    relpath = entry["relpath"]
    parts = relpath.split("/")
    if (
        len(parts) != 2
        or parts[0] not in schemas.STORED_TABLES
        or not parts[1].endswith(".parquet")
    ):
        return None  # not a segment (a stray file): ignored by readers
    return Segment(
        table=parts[0],
        segment_id=parts[1].removesuffix(".parquet"),
        relpath=relpath,
        md5=entry["md5"],
        path=dvcstore.cache_path(layout.root, entry["md5"]),
    )
