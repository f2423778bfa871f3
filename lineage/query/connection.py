"""A DuckDB connection whose views show one revision of the store."""

from __future__ import annotations

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
) -> duckdb.DuckDBPyConnection:
    """Create the views of ``files`` on a fresh in-memory database, then sandbox it."""
    con = duckdb.connect(":memory:")
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    for table in schemas.TABLES:
        empty = f"_empty_{table}"
        con.register(empty, schemas.empty(table))
        paths = files.files(table)
        if paths:
            source = (
                f"SELECT * FROM {empty} UNION ALL BY NAME "
                f"SELECT * FROM read_parquet({_sql_list(paths)}, union_by_name = true)"
            )
        else:
            source = f"SELECT * FROM {empty}"
        con.execute(f"CREATE VIEW {table}_raw AS {source}")
    for sql in views.VIEWS.values():
        con.execute(sql)
    con.register("_versions", versions)
    con.register("_version_segments", version_segments)
    con.execute("CREATE VIEW versions AS SELECT * FROM _versions")
    con.execute("CREATE VIEW version_segments AS SELECT * FROM _version_segments")
    sandbox(con, allowed)
    return con


def sandbox(con: duckdb.DuckDBPyConnection, allowed: list[str]) -> None:
    dirs = ", ".join("'" + d.rstrip("/").replace("'", "''") + "/'" for d in allowed)
    con.execute(f"SET allowed_directories = [{dirs}]")
    con.execute("SET enable_external_access = false")
    con.execute("SET autoinstall_known_extensions = false")
    con.execute("SET autoload_known_extensions = false")
    con.execute("SET lock_configuration = true")
