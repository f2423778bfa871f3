"""A revision opened for reading: DuckDB views over its segments, no checkout."""

from __future__ import annotations

import threading
from contextlib import contextmanager

import duckdb
import pyarrow as pa

from lineage.errors import QueryError
from lineage.query import sandbox
from lineage.versioning.revision import RevisionFiles


class Snapshot:
    """One revision of the store. Its views (``labels``, ``label_events``, ``reviews``,
    ...) are DuckDB relations; ``sql`` runs a sandboxed read-only query over them."""

    def __init__(self, files: RevisionFiles, con: duckdb.DuckDBPyConnection):
        self.files = files
        self.con = con

    @property
    def rev(self) -> str | None:
        return self.files.rev

    @property
    def commit(self) -> str | None:
        return self.files.commit

    def sql(self, query: str, timeout: float | None = None) -> duckdb.DuckDBPyRelation:
        """A user query: exactly one read-only statement over the views."""
        sandbox.check(query)
        try:
            with _deadline(self.con, timeout):
                rel = self.con.sql(query)
                # materialise under the deadline so a runaway query is stopped here
                return self.con.from_arrow(rel.to_arrow_table()) if timeout else rel
        except duckdb.InterruptException:
            raise QueryError(f"query stopped after the {timeout:g} s timeout") from None
        except duckdb.PermissionException as exc:
            raise QueryError(
                f"refused: {exc}", hint="queries can read only the store's views"
            ) from None
        except duckdb.Error as exc:
            raise QueryError(str(exc).strip()) from None

    def view(self, name: str) -> duckdb.DuckDBPyRelation:
        return self.con.table(name)

    def arrow(self, sql: str, params: list | None = None) -> pa.Table:
        """Internal SQL (not sandbox-checked) as an Arrow table."""
        return self.con.sql(sql, params=params).to_arrow_table()

    def __getattr__(self, name: str):
        from lineage.query.views import PUBLIC_VIEWS

        if name in PUBLIC_VIEWS:
            return self.con.table(name)
        raise AttributeError(name)

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> Snapshot:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


@contextmanager
def _deadline(con: duckdb.DuckDBPyConnection, timeout: float | None):
    if not timeout:
        yield
        return
    timer = threading.Timer(timeout, con.interrupt)
    timer.start()
    try:
        yield
    finally:
        timer.cancel()
