"""Merging two branches of the label store: the git side and the state of a merge.

A merge in progress is git's (``MERGE_HEAD``, started with ``git merge --no-commit``
so every other file merges as git merges it) plus lineage's folder
``.lineage/merge/``: ``state.json`` (the branches, the merge transaction's id, the
resolutions so far), ``conflicts.parquet`` and ``pre/revision_map.parquet`` (the
merged branch's revisions moved above ours). ``--continue`` commits, ``--abort``
removes both and puts the work tree back.

A plain ``git merge`` cannot merge label stores (both sides changed ``<store>.dvc``).
``install_driver`` registers a git merge driver for that one file that refuses with
guidance, keeping our side's file intact; ``lineage merge`` runs git with the driver
told to keep ours, then writes the merged pointer itself.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from lineage.errors import RepoError
from lineage.store.files import atomic_write_bytes
from lineage.store.layout import Layout

if TYPE_CHECKING:
    import git

    from lineage.versioning.revision import RevisionFiles

DRIVER = "lineage"
DRIVER_ENV = "LINEAGE_MERGE_DRIVER"  # "ours": keep our pointer (lineage merge writes it)
ATTRIBUTES = ".gitattributes"


@dataclass
class MergeState:
    """A merge in progress, as ``state.json`` holds it."""

    branch: str  # what the user named
    theirs: str  # its commit
    ours: str  # HEAD when the merge started
    ours_branch: str | None
    txn_id: str  # the merge transaction (its id is fixed at the start: the map names it)
    message: str
    started_at: str
    resolutions: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def load(cls, layout: Layout) -> MergeState | None:
        path = folder(layout) / "state.json"
        if not path.exists():
            return None
        try:
            return cls(**json.loads(path.read_text()))
        except (ValueError, TypeError) as exc:
            raise RepoError(
                f"{path} is not a readable merge state: {exc}",
                hint="`lineage merge --abort` to drop the merge",
            ) from None

    def save(self, layout: Layout) -> None:
        atomic_write_bytes(
            folder(layout) / "state.json", json.dumps(asdict(self), indent=1).encode()
        )


def folder(layout: Layout) -> Path:
    return layout.work / "merge"


def pre(layout: Layout) -> Path:
    """The folder of the merge's revision map, read like a staged transaction."""
    return folder(layout) / "pre"


def conflicts_file(layout: Layout) -> Path:
    return folder(layout) / "conflicts.parquet"


def clear(layout: Layout) -> None:
    shutil.rmtree(folder(layout), ignore_errors=True)


def start_git_merge(repo: git.Repo, layout: Layout, theirs: str, branch: str) -> list[str]:
    """``git merge --no-commit --no-ff`` with our store pointer kept; returns the other
    paths git could not merge (the user resolves those with git)."""
    import git as gitlib

    env = {DRIVER_ENV: "ours"}
    try:
        repo.git.merge("--no-commit", "--no-ff", "-m", f"Merge {branch}", theirs, env=env)
    except gitlib.GitCommandError as exc:
        unmerged = unmerged_paths(repo)
        if not unmerged:
            raise RepoError(
                f"git cannot start the merge of {branch}: {exc.stderr.strip() or exc}",
                hint="commit or stash your changes to tracked files first",
            ) from None
    pointer = layout.dvc_file.name
    if pointer in unmerged_paths(repo):  # no driver installed: git wrote conflict markers
        repo.git.checkout("--ours", "--", pointer)
        repo.git.add("--", pointer)
    return [p for p in unmerged_paths(repo) if p != pointer]


def unmerged_paths(repo: git.Repo) -> list[str]:
    out = repo.git.diff("--name-only", "--diff-filter=U")
    return sorted(set(out.split("\n")) - {""})


def abort_git_merge(repo: git.Repo) -> None:
    import git as gitlib

    try:
        repo.git.merge("--abort")
    except gitlib.GitCommandError:
        pass  # no git merge in progress any more


def install_driver(repo: git.Repo, layout: Layout) -> bool:
    """Register the merge driver in .git/config and name the store pointer in
    .gitattributes; returns whether .gitattributes changed (it is committed)."""
    command = f"{sys.executable} -m lineage merge-driver %O %A %B %P"
    with repo.config_writer() as cw:
        cw.set_value(f'merge "{DRIVER}"', "name", "lineage label store (use lineage merge)")
        cw.set_value(f'merge "{DRIVER}"', "driver", command)
    path = layout.root / ATTRIBUTES
    line = f"/{layout.dvc_file.name} merge={DRIVER}"
    lines = path.read_text().splitlines() if path.exists() else []
    if line in lines:
        return False
    path.write_text("\n".join([*lines, line]) + "\n")
    return True


def driver(pointer: str) -> tuple[int, str]:
    """What the git merge driver does: keep our pointer (under ``lineage merge``), or
    refuse with guidance (git then keeps our side's pointer, unmerged). Returns
    (exit code, message for stderr)."""
    if os.environ.get(DRIVER_ENV) == "ours":
        return 0, ""
    return 1, (
        f"lineage: {pointer} points to the label store, which git cannot merge (both "
        "branches added label segments).\n"
        "lineage: run `git merge --abort`, then `lineage merge BRANCH`: it merges the "
        "stores label by label and stops on labels both branches changed."
    )


@dataclass
class MergeResult:
    """What ``lineage merge`` (or ``--continue``) did."""

    status: str  # merged | conflicts | fast-forward | up-to-date
    branch: str
    commit: str | None = None  # the merge commit (merged, fast-forward)
    conflicts: int = 0  # labels still to resolve
    resolved: int = 0
    unmerged: list[str] = field(default_factory=list)  # other files git left to resolve
    renumbered: int = 0  # rows of the merged branch moved above ours
    added: dict[str, int] = field(default_factory=dict)  # segments the merge brought in

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


TAKES = ("ours", "theirs", "revision")


def check_resolution(
    conflict: dict[str, Any] | None, label_id: str, take: str, revision: int | None, where: str
) -> None:
    """Refuse a resolution that names no conflict, or a revision the label lacks."""
    from lineage.errors import InputError

    if conflict is None:
        raise InputError(f"label {label_id} is not in conflict", file=where, field="label_id")
    if take not in TAKES:
        raise InputError(f"'{take}' is not one of {', '.join(TAKES)}", file=where, field="take")
    if take == "revision":
        if conflict["ours_revision"] is None:
            raise InputError(
                f"label {label_id} conflicts only in its reviews: take ours or theirs",
                file=where,
                field="revision",
            )
        top = max(conflict["ours_revision"], conflict["theirs_revision"])
        if revision is None or not 1 <= revision <= top:
            raise InputError(
                f"label {label_id} has revisions 1 to {top} in the merge, not {revision}",
                file=where,
                field="revision",
            )


def read_resolutions(path: Path) -> list[tuple[str, str, int | None, str]]:
    """``label_id,take[,revision]`` rows of a CSV file (take: ours, theirs, revision)."""
    import csv

    from lineage.errors import InputError

    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            missing = {"label_id", "take"} - set(reader.fieldnames or [])
            if missing:
                raise InputError(
                    f"needs the columns label_id and take (ours, theirs or revision), "
                    f"and revision when take is revision; missing {', '.join(sorted(missing))}",
                    file=path,
                )
            out = []
            for n, row in enumerate(reader, start=2):
                where = f"{path}, line {n}"
                lid, take = (row.get("label_id") or "").strip(), (row.get("take") or "").strip()
                if not lid:
                    raise InputError(
                        "label_id is empty", file=path, record=f"line {n}", field="label_id"
                    )
                raw = (row.get("revision") or "").strip()
                try:
                    rev = int(raw) if raw else None
                except ValueError:
                    raise InputError(
                        f"'{raw}' is not a revision number",
                        file=path,
                        record=f"line {n}",
                        field="revision",
                    ) from None
                out.append((lid, take, rev, where))
            return out
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read: {exc}", file=path) from None


RESOLUTIONS_SCHEMA = pa.schema(
    [
        ("label_id", pa.string()),
        ("take", pa.string()),
        ("revision", pa.int32()),
        ("resolver", pa.string()),
        ("reason", pa.string()),
    ]
)


def resolutions_table(conflicts: list[dict[str, Any]], state: MergeState) -> pa.Table:
    """One row per conflict: the chosen revision (merged numbers; null when only reviews
    conflict), who chose, and the reason the resolution's review row gives."""
    rows = []
    for c in conflicts:
        r = state.resolutions[c["label_id"]]
        take = r["take"]
        if c["ours_revision"] is None:
            revision = None
        elif take == "revision":
            revision = r["revision"]
        else:
            revision = c["ours_revision"] if take == "ours" else c["theirs_revision"]
        side = {"ours": state.ours_branch, "theirs": state.branch}.get(take)
        what = f"revision {revision}" if take == "revision" else f"{take} ({side})"
        rows.append(
            {
                "label_id": c["label_id"],
                "take": take,
                "revision": revision,
                "resolver": r["by"],
                "reason": f"merge of {state.branch} into {state.ours_branch}: "
                f"{c['conflict']}, took {what}",
            }
        )
    return pa.Table.from_pylist(rows, schema=RESOLUTIONS_SCHEMA)


def conflicts_view(layout: Layout) -> pa.Table | None:
    """The ``conflicts`` view's rows while a merge is in progress, with each resolution."""
    import pyarrow.parquet as pq

    state = MergeState.load(layout)
    if state is None or not conflicts_file(layout).exists():
        return None
    table = pq.read_table(conflicts_file(layout))
    res = [state.resolutions.get(lid) for lid in table.column("label_id").to_pylist()]
    take = [None if r is None else r["take"] for r in res]
    rev = [None if r is None else r.get("revision") for r in res]
    who = [None if r is None else r["by"] for r in res]
    return (
        table.append_column("resolution", pa.array(take, pa.string()))
        .append_column("resolution_revision", pa.array(rev, pa.int32()))
        .append_column("resolved_by", pa.array(who, pa.string()))
    )


SIDES_SCHEMA = pa.schema([("txn_id", pa.string()), ("side", pa.string())])


@dataclass
class Union:
    """Both branches' stores together, as a merge reads them."""

    files: RevisionFiles  # every segment of either branch
    sides: pa.Table  # txn_id, side (ours | theirs): the transactions only one branch holds
    added: dict[str, Path]  # relpath -> cache file: the segments only theirs holds
    ours: dict[str, str]  # relpath -> md5 of each branch's segments (for their chains)
    theirs: dict[str, str]


def union(layout: Layout, repo: git.Repo, ours: str, theirs: str) -> Union:
    """The union of two commits' stores. A relpath with two contents is an IntegrityError:
    segments are never rewritten."""
    import pyarrow.parquet as pq

    from lineage.errors import IntegrityError
    from lineage.versioning.commits import Commits
    from lineage.versioning.revision import RevisionFiles, resolve

    commits = Commits(layout, lambda: repo)
    a, b = resolve(layout, commits, ours), resolve(layout, commits, theirs)
    mine = {s.relpath: s for s in a.segments}
    other = {s.relpath: s for s in b.segments}
    for rel, s in other.items():
        if rel in mine and mine[rel].md5 != s.md5:
            raise IntegrityError(
                f"{rel} differs between the two branches: a segment is never rewritten, so "
                "one branch's history was altered",
                hint="`lineage verify` on each branch",
            )
    rows = []
    for side, segs, others in (("ours", mine, other), ("theirs", other, mine)):
        for rel, s in segs.items():
            if s.table == "transactions" and rel not in others:
                txns = pq.ParquetFile(s.path).read(columns=["txn_id"]).column("txn_id")
                rows += [{"txn_id": t, "side": side} for t in txns.to_pylist()]
    both = {**other, **mine}
    return Union(
        files=RevisionFiles(
            None, ours, sorted(both.values(), key=lambda s: (s.table, s.segment_id))
        ),
        sides=pa.Table.from_pylist(rows, schema=SIDES_SCHEMA),
        added={rel: s.path for rel, s in other.items() if rel not in mine},
        ours={rel: s.md5 for rel, s in mine.items()},
        theirs={rel: s.md5 for rel, s in other.items()},
    )


def status(layout: Layout, repo: git.Repo) -> dict[str, Any] | None:
    """The merge in progress: what is merged in, conflicts, how many are resolved, and
    the other files git left unmerged."""
    state = MergeState.load(layout)
    if state is None:
        return None
    view = conflicts_view(layout)
    return {
        "branch": state.branch,
        "into": state.ours_branch,
        "conflicts": view.num_rows if view is not None else 0,
        "resolved": len(state.resolutions),
        "unmerged_files": [p for p in unmerged_paths(repo) if p != layout.dvc_file.name],
    }
