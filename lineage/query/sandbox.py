"""What user SQL may do: read the views, nothing else.

DuckDB itself refuses file access outside the store (``enable_external_access`` off,
``allowed_directories`` = the store's folders, configuration locked); this module
refuses every statement that is not a query before DuckDB runs it.
"""

from __future__ import annotations

import duckdb

from lineage.errors import QueryError

ALLOWED = {duckdb.StatementType.SELECT, duckdb.StatementType.EXPLAIN}
REASONS = {
    duckdb.StatementType.COPY: "COPY writes or reads files",
    duckdb.StatementType.ATTACH: "ATTACH opens other databases",
    duckdb.StatementType.LOAD: "INSTALL/LOAD add extensions",
    duckdb.StatementType.SET: "SET changes settings",
    duckdb.StatementType.EXPORT: "EXPORT writes files",
    duckdb.StatementType.PRAGMA: "PRAGMA changes settings",
}


def check(sql: str, con: duckdb.DuckDBPyConnection | None = None) -> None:
    """Raise QueryError unless ``sql`` is exactly one read-only query. ``con``: parse on
    this connection (DuckDB's default one costs ~30 ms to open)."""
    try:
        statements = (con or duckdb).extract_statements(sql)
    except duckdb.Error as exc:
        raise QueryError(f"SQL does not parse: {exc}") from exc
    if len(statements) != 1:
        raise QueryError(f"give exactly one SQL statement, not {len(statements)}")
    kind = statements[0].type
    if kind not in ALLOWED:
        why = REASONS.get(kind, f"{kind.name} statements change the database")
        raise QueryError(
            f"refused: lineage queries are read-only ({why})",
            hint="use SELECT over the views: labels, label_events, reviews, ...",
        )
