"""A DuckDB connection whose views show one revision of the store."""

from __future__ import annotations

from functools import cache

import duckdb
import pyarrow as pa

from lineage.query import views
from lineage.store import schema as schemas
from lineage.versioning.revision import RevisionFiles


def _sql_list(paths) -> str:
    return "[" + ", ".join("'" + str(p).replace("'", "''") + "'" for p in paths) + "]"


def connect(
    files: RevisionFiles,
    *,
    versions: pa.Table,
    version_segments: pa.Table,
    allowed: list[str],
    threads: int | None = None,
    others: dict[str, RevisionFiles] | None = None,
) -> duckdb.DuckDBPyConnection:
    """Create the views of ``files`` on a fresh in-memory database, then sandbox it.
    ``others`` adds more revisions as schemas (``a.labels``, ``b.labels``) for diffs."""
    con = duckdb.connect(":memory:")
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    con.register("_versions", versions)
    con.register("_version_segments", version_segments)
    create_views(con, files, "main")
    for schema, other in (others or {}).items():
        con.execute(f"CREATE SCHEMA {schema}")
        create_views(con, other, schema)
    sandbox(con, allowed)
    return con


@cache
def _columns_ddl(table: str) -> str:
    """``name TYPE, ...`` of a table's schema in DuckDB types (worked out once per process:
    creating typed empty tables from DDL is much cheaper than from Arrow on every open)."""
    con = duckdb.connect(":memory:")
    con.register("t", schemas.empty(table))
    rows = con.sql("DESCRIBE SELECT * FROM t").fetchall()
    con.close()
    return ", ".join(f'"{name}" {dtype}' for name, dtype, *_ in rows)


def create_views(con: duckdb.DuckDBPyConnection, files: RevisionFiles, schema: str) -> None:
    """The public views of one revision, in ``schema`` (views resolve names in their schema)."""
    for table in schemas.TABLES:
        con.execute(f"CREATE TABLE {schema}._empty_{table} ({_columns_ddl(table)})")
        paths = files.files(table)
        if paths:
            source = (
                f"SELECT * FROM _empty_{table} UNION ALL BY NAME "
                f"SELECT * FROM read_parquet({_sql_list(paths)}, union_by_name = true)"
            )
        else:
            source = f"SELECT * FROM _empty_{table}"
        con.execute(f"CREATE VIEW {schema}.{table}_raw AS {source}")
    checkpoint = files.checkpoint()
    if checkpoint is not None:
        path, covered = checkpoint
        tail = files.tail_files(covered)
        con.execute(
            f"CREATE VIEW {schema}.label_state_raw AS SELECT * FROM _empty_label_events "
            f"UNION ALL BY NAME SELECT * FROM read_parquet({_sql_list([path])})"
        )
        tail_src = (
            f"SELECT * FROM _empty_label_events UNION ALL BY NAME "
            f"SELECT * FROM read_parquet({_sql_list(tail)}, union_by_name = true)"
            if tail
            else "SELECT * FROM _empty_label_events"
        )
        con.execute(f"CREATE VIEW {schema}.label_events_tail_raw AS {tail_src}")
    con.execute(f"SET schema = '{schema}'")
    for name, sql in views.VIEWS.items():
        if name == "labels" and checkpoint is not None:
            sql = views.LABELS_FROM_CHECKPOINT if tail else views.LABELS_AT_CHECKPOINT
        con.execute(sql)
    con.execute("CREATE VIEW versions AS SELECT * FROM main._versions")
    con.execute("CREATE VIEW version_segments AS SELECT * FROM main._version_segments")
    con.execute("SET schema = 'main'")


def sandbox(con: duckdb.DuckDBPyConnection, allowed: list[str]) -> None:
    dirs = ", ".join("'" + d.rstrip("/").replace("'", "''") + "/'" for d in allowed)
    con.execute(f"SET allowed_directories = [{dirs}]")
    con.execute("SET enable_external_access = false")
    con.execute("SET autoinstall_known_extensions = false")
    con.execute("SET autoload_known_extensions = false")
    con.execute("SET lock_configuration = true")
