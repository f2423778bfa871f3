"""Resolve a revision to the segment files that make up its label store, without checkout.

``<rev>:<store>.dvc`` names the directory manifest; the manifest names each segment
file's md5; the files are read in place from the DVC cache. A segment the cache lacks
is read in place on an object-storage remote that vouches for its md5
(``remote_reads``), else fetched from the remote first.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from lineage.errors import IntegrityError, RevisionError
from lineage.store import blocks, integrity
from lineage.store import checkpoint as checkpoints
from lineage.store import schema as schemas
from lineage.store.files import within
from lineage.store.layout import Layout
from lineage.store.staging import StagedTxn, staged
from lineage.versioning import dvcstore, remote_reads

if TYPE_CHECKING:
    from lineage.versioning.commits import Commits
    from lineage.versioning.remote_fs import RemoteObjects


@dataclass(frozen=True)
class Segment:
    table: str
    segment_id: str
    relpath: str
    md5: str
    path: Path  # in the DVC cache
    url: str | None = None  # read in place on the remote instead (``remote_reads``)

    @property
    def location(self) -> Path | str:
        """Where readers open it: the remote object's URL, else the cache file."""
        return self.url or self.path


@dataclass
class RevisionFiles:
    """The files of one revision: committed segments, plus staged ones for the work state."""

    rev: str | None  # what the user asked for; None = the work state (HEAD + staged)
    commit: str | None  # the commit it resolved to
    segments: list[Segment] = field(default_factory=list)
    staged: list[StagedTxn] = field(default_factory=list)
    remote: RemoteObjects | None = None  # where segments with a ``url`` are read

    def checkpoint(self) -> checkpoints.Pieces | None:
        """What this revision's labels are read from when it has checkpoints: each
        part's newest checkpoint file and the label_events files newer than it (None:
        no checkpoint, every event is read)."""
        cps = [s for s in self.segments if s.table == schemas.CHECKPOINTS]
        if not cps:
            return None
        newest = max(cps, key=lambda s: s.segment_id)
        parts = _part_map(newest, self.remote)
        events: list[tuple[str | None, Path | str]] = [
            (s.segment_id, s.location) for s in self.segments if s.table == "label_events"
        ]
        events += [
            (None, f) for t in self.staged if (f := t.table_file("label_events")) is not None
        ]
        return checkpoints.pieces(parts, {s.segment_id: s.location for s in cps}, events)

    def files(self, table: str) -> list[Path | str]:
        out: list[Path | str] = [s.location for s in self.segments if s.table == table]
        out += [f for t in self.staged if (f := t.table_file(table)) is not None]
        return out

    def readable(self) -> list[str]:
        """Every file the views of this revision read: exactly what user SQL may open
        (a remote object in each form DuckDB checks)."""
        out = [str(s.path) for s in self.segments if s.url is None]
        out += [form for s in self.segments if s.url for form in remote_reads.url_forms(s.url)]
        out += [str(f) for t in self.staged for f in t.tables().values()]
        return out

    @property
    def label(self) -> str:
        if self.rev is None:
            return "working" if self.staged else (self.commit or "empty")[:10]
        return self.rev


def resolve(
    layout: Layout, commits: Commits, rev: str | None, *, in_place: bool = False
) -> RevisionFiles:
    """The files of ``rev`` (None: HEAD plus staged transactions). ``in_place``: segments
    the cache lacks may be read on the remote where they are (read-only uses: a writer
    needs every file of HEAD in the cache, and ``verify`` hashes every byte)."""
    sha = commits.resolve(rev)
    if sha is None:  # nothing committed yet
        return RevisionFiles(None, None, [], staged(layout.staging))
    segs, remote = _segments(layout, sha, commits.dir_md5(sha), in_place)
    commits.save()
    if rev is None:
        return RevisionFiles(None, sha, segs, staged(layout.staging), remote)
    return RevisionFiles(rev, sha, segs, remote=remote)


_MAPS: dict[str, checkpoints.PartMap] = {}  # by md5: a file's footer never changes


def _part_map(newest: Segment, remote: RemoteObjects | None) -> checkpoints.PartMap:
    """The part map in the footer of checkpoint ``newest``."""
    if newest.md5 not in _MAPS:
        import pyarrow.parquet as pq

        if newest.url is not None and remote is not None:
            with remote.open(newest.url) as fh:
                meta = pq.read_schema(fh).metadata or {}
        else:
            meta = pq.read_schema(newest.path).metadata or {}
        try:
            _MAPS[newest.md5] = checkpoints.read_map(newest.segment_id, meta)
        except ValueError as exc:
            raise IntegrityError(
                f"checkpoint {newest.relpath}: {exc}",
                hint="the file was not written by lineage: `lineage verify` checks the store",
            ) from None
    return _MAPS[newest.md5]


# Tables every open reads whole (the completeness check): fetched, never read in place.
_WHOLE = ("transactions",)


def _segments(
    layout: Layout, sha: str, md5: str | None, in_place: bool
) -> tuple[list[Segment], RemoteObjects | None]:
    """The segments of commit ``sha``, whose store manifest has ``md5`` (None: no store)."""
    if md5 is None:
        return [], None
    entries = dvcstore.manifest(layout.root, md5)
    if entries is None:
        if in_place:
            remote_reads.fetch_whole(layout.root, [md5])
        else:
            dvcstore.fetch_objects(layout.root, [md5])
        entries = dvcstore.manifest(layout.root, md5)
        if entries is None:
            raise RevisionError(
                f"the store manifest of {sha[:10]} is neither in the DVC cache nor on the remote",
                hint="`lineage pull` from a remote that has it",
            )
    segs = [s for s in (_segment(layout, e) for e in entries) if s is not None]
    missing = [s for s in segs if not s.path.exists()]
    remote = remote_reads.for_repo(layout.root) if missing and in_place else None
    if missing and remote is not None:
        listed = {e["relpath"]: e["md5"] for e in entries if "relpath" in e}
        segs = _in_place(layout, remote, segs, missing, listed)
        missing = [s for s in segs if s.url is None and not s.path.exists()]
    if missing:
        dvcstore.fetch_objects(layout.root, [s.md5 for s in missing])
        still = [s for s in missing if not s.path.exists()]
        if still:
            raise RevisionError(
                f"{len(still)} segment file(s) of {sha[:10]} are missing from the "
                f"DVC cache and the remote, e.g. {still[0].relpath}",
                hint="`lineage pull` from a remote that has them",
            )
    segs = sorted(segs, key=lambda s: (s.table, s.segment_id))
    cache = dvcstore.cache_dir(layout.root)
    outside = next((s for s in segs if s.url is None and not within(s.path, cache)), None)
    if outside is not None:
        raise IntegrityError(
            f"segment {outside.relpath} of {sha[:10]} leads outside the DVC cache "
            f"({outside.path.resolve()})",
            hint="a cache file is a symlink to elsewhere: remove it and `lineage pull`",
        )
    # a corrupt or incomplete store is an IntegrityError, never wrong rows
    integrity.check_revision(layout, segs, sha)
    if not any(s.url for s in segs):
        remote = None
    return segs, remote


def _in_place(
    layout: Layout,
    remote: RemoteObjects,
    segs: list[Segment],
    missing: list[Segment],
    manifest: dict[str, str],
) -> list[Segment]:
    """``segs`` with the missing ones that have block digests marked to be read on the
    remote (each block checked as it is fetched); the others, and the tables read
    whole, are fetched into the cache and hashed instead."""
    remote_reads.download(remote, [s.md5 for s in missing if s.table in _WHOLE], layout.root)
    digested = {
        s.md5: manifest[blocks.relpath(s.relpath)]
        for s in missing
        if s.table not in _WHOLE and blocks.relpath(s.relpath) in manifest
    }
    readable = remote_reads.expect(remote, digested, layout.root)
    return [replace(s, url=remote.url(s.md5)) if s.md5 in readable else s for s in segs]


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
