"""A DuckDB connection whose views show one revision of the store."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa

from lineage.query import iou, stream, views
from lineage.store import checkpoint as checkpoints
from lineage.store import duck
from lineage.store import schema as schemas
from lineage.versioning.revision import RevisionFiles
from lineage.versioning.versions import VersionTables


def _sql_list(paths) -> str:
    return "[" + ", ".join("'" + str(p).replace("'", "''") + "'" for p in paths) + "]"


def connect(
    files: RevisionFiles,
    *,
    versions: Callable[[], VersionTables],
    temp_dir: Path | None,
    memory_limit: str | None = None,
    threads: int | None = None,
    base: RevisionFiles | None = None,
    conflicts: pa.Table | None = None,
) -> tuple[duckdb.DuckDBPyConnection, Views]:
    """A fresh in-memory database, sandboxed so that SQL can open exactly the files of
    these revisions and nothing else, with the plan of its views (``Views``: each is
    created when a statement first names it). With ``base`` (a diff's revision A), A's
    views are in schema ``a``, ``files``' in schema ``b``, and unqualified names
    resolve in ``b``. ``versions`` gives the versions tables (asked only when a
    statement reads them). ``conflicts``: the ``conflicts`` view of a merge in
    progress. ``temp_dir`` must be a fresh, empty folder (DuckDB lets queries read its
    temp folder)."""
    con = duck.connect()
    # segment files never change (content-addressed): keep their footers between the
    # statements of one connection (an audit's checks, a parted checkpoint's many files)
    con.execute("SET parquet_metadata_cache = true")
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    if memory_limit:
        con.execute("SET memory_limit = ?", [memory_limit])
    con.execute("SET temp_directory = ?", [str(temp_dir) if temp_dir else ""])
    iou.register(con)
    # segments read in place on the remote (one remote for both sides of a pair)
    remotes = {id(f.remote): f.remote for f in (files, base) if f is not None and f.remote}
    for remote in remotes.values():
        con.register_filesystem(remote)
    if remotes:
        # DuckDB prefetches every column of a row group its statistics keep; without
        # prefetching it reads the filter column first and the others only where rows
        # match: a history read in place fetched 9 % of a 1 M-label store, not 13 % (64 k groups)
        con.execute("SET disable_parquet_prefetching = true")
    readable = set(files.readable())
    steps = [Step("main", name, _loader(name, versions)) for name in VERSIONS_COLUMNS]
    try:
        if base is None:
            steps += view_steps(files, "main")
        else:
            for schema, side in (("a", base), ("b", files)):
                con.execute(f"CREATE SCHEMA {schema}")
                steps += view_steps(side, schema)
            readable |= set(base.readable())
            con.execute("SET search_path = 'b,main'")  # unqualified names read B's views
    except duckdb.Error as exc:  # a checkpoint's footer read in place failed
        raise stream.translate(exc) from None
    if conflicts is not None:  # a merge is in progress
        con.register("_conflicts", conflicts)
        con.execute("CREATE VIEW main.conflicts AS SELECT * FROM main._conflicts")
    sandbox(con, sorted(str(p) for p in readable))
    return con, Views(con, steps)


_WORD = re.compile(r"[a-z_][a-z0-9_]*")


@dataclass(frozen=True)
class Step:
    """One object of a connection: ``make`` is its DDL, or a function that creates it."""

    schema: str
    name: str
    make: str | Callable[[duckdb.DuckDBPyConnection], None]


class Views:
    """The views of a connection, each created the first time a statement names it or a
    view that reads it. Creating a view over Parquet reads every file's footer (DuckDB
    binds the view), and a statement reads two or three of the dozen views: a
    ``select 1`` creates none, a history the label and review views only. Names are
    found as words of the SQL, so a word that merely looks like a view's name creates
    it too (harmless: only time); a statement that names a view no word shows
    (``query_table``) is run again once every view exists."""

    def __init__(self, con: duckdb.DuckDBPyConnection, steps: list[Step]):
        self.con = con
        self.steps = steps
        self._by_key = {(s.schema, s.name): s for s in steps}
        self._needs = {(s.schema, s.name): self._deps(s) for s in steps}
        self._made: set[tuple[str, str]] = set()
        self._lock = threading.Lock()  # one creator at a time (a view is made once)

    def _deps(self, step: Step) -> set[tuple[str, str]]:
        if not isinstance(step.make, str):
            return set()
        words = set(_WORD.findall(step.make.lower())) - {step.name}
        out = set()
        for word in words:
            for key in ((step.schema, word), ("main", word)):
                if key in self._by_key:
                    out.add(key)
                    break
        return out

    def ensure(self, sql: str) -> None:
        """Create every view ``sql`` may read (and those they read), in plan order."""
        words = set(_WORD.findall(sql.lower()))
        self._make({key for key in self._by_key if key[1] in words})

    def ensure_all(self) -> bool:
        """Create every view; False when they all existed already."""
        missing = set(self._by_key) - self._made
        self._make(missing)
        return bool(missing)

    def _make(self, wanted: set[tuple[str, str]]) -> None:
        with self._lock:
            self._make_locked(wanted)

    def _make_locked(self, wanted: set[tuple[str, str]]) -> None:
        todo, stack = set(), [k for k in wanted if k not in self._made]
        while stack:
            key = stack.pop()
            if key in todo or key in self._made:
                continue
            todo.add(key)
            stack += self._needs[key]
        for step in self.steps:
            key = (step.schema, step.name)
            if key in todo:
                if isinstance(step.make, str):
                    self.con.execute(step.make)
                else:
                    step.make(self.con)
                self._made.add(key)


# The tables behind the ``versions`` and ``version_segments`` views (columns in the
# order of ``VersionTables``).
VERSIONS_COLUMNS = {
    "_versions": {
        "commit": "VARCHAR",
        "short": "VARCHAR",
        "tags": "VARCHAR[]",
        "committed_at": "TIMESTAMP WITH TIME ZONE",
        "author": "VARCHAR",
        "message": "VARCHAR",
        "seq": "INTEGER",
    },
    "_version_segments": {"commit": "VARCHAR", "segment_id": "VARCHAR"},
}


def _loader(
    name: str, versions: Callable[[], VersionTables]
) -> Callable[[duckdb.DuckDBPyConnection], None]:
    """Creates ``main.{name}``, one of the versions tables: one INSERT of unnested
    column lists (no Arrow conversion of Python objects)."""

    def load(con: duckdb.DuckDBPyConnection) -> None:
        tables = versions()
        values = tables.versions if name == "_versions" else tables.segments
        types = VERSIONS_COLUMNS[name]
        con.execute(f"CREATE TABLE main.{name} ({', '.join(f'{c} {t}' for c, t in types.items())})")
        cols = ", ".join(f"unnest(${i + 1}::{t}[])" for i, t in enumerate(types.values()))
        con.execute(f"INSERT INTO main.{name} SELECT {cols}", [values[c] for c in types])

    return load


def view_steps(files: RevisionFiles, schema: str) -> list[Step]:
    """The objects behind the public views of one revision, in ``schema``, in creation
    order (views resolve names in their own schema)."""
    steps = []
    for table in schemas.TABLES:
        empty = f"_empty_{table}"
        steps.append(
            Step(schema, empty, f"CREATE TABLE {schema}.{empty} ({schemas.duckdb_columns(table)})")
        )
        paths = files.files(table)
        if paths:
            source = (
                f"SELECT * FROM {empty} UNION ALL BY NAME "
                f"SELECT * FROM read_parquet({_sql_list(paths)}, union_by_name = true)"
            )
        else:
            source = f"SELECT * FROM {empty}"
        name = f"{table}_files" if table in views.RENUMBERED else f"{table}_raw"
        steps.append(Step(schema, name, f"CREATE VIEW {schema}.{name} AS {source}"))
    checkpoint = files.checkpoint()
    if checkpoint is not None:
        for name, pieces in (
            ("label_state_raw", [([path], ranges) for path, ranges in checkpoint.state]),
            ("label_events_tail_files", checkpoint.tail),
        ):
            source = "SELECT * FROM _empty_label_events" + "".join(
                f" UNION ALL BY NAME SELECT * FROM read_parquet({_sql_list(paths)}, "
                f"union_by_name = true) WHERE {checkpoints.ranges_sql(ranges)}"
                for paths, ranges in pieces
            )
            steps.append(Step(schema, name, f"CREATE VIEW {schema}.{name} AS {source}"))
    derived = views.derived(
        # a merge renumbered the other branch's revisions of labels both edited
        renumber=bool(files.files("revision_map")),
        checkpoint=checkpoint,
    )
    for name, sql in derived:
        steps.append(Step(schema, name, f"CREATE VIEW {schema}.{name} AS {sql}"))
    for name in ("versions", "version_segments"):
        steps.append(
            Step(schema, name, f"CREATE VIEW {schema}.{name} AS SELECT * FROM main._{name}")
        )
    return steps


def sandbox(con: duckdb.DuckDBPyConnection, files: list[str]) -> None:
    """Lock the connection: no file access but ``files`` (no folders, no globs), no
    extensions, no configuration changes."""
    con.execute("SET allowed_directories = []")
    con.execute("SET allowed_paths = ?", [files])
    con.execute("SET enable_external_access = false")
    con.execute("SET autoinstall_known_extensions = false")
    con.execute("SET autoload_known_extensions = false")
    con.execute("SET lock_configuration = true")
