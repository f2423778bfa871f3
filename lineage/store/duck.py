"""The one way lineage opens DuckDB."""

from __future__ import annotations

import duckdb


def connect() -> duckdb.DuckDBPyConnection:
    """An in-memory connection with no progress bar: DuckDB draws one on stdout when it
    guesses it runs interactively (``python -c``, a REPL, a notebook), and stdout carries
    data only (our own progress goes to stderr). Every connection lineage opens is one."""
    con = duckdb.connect(":memory:")
    con.execute("SET enable_progress_bar = false")
    return con
