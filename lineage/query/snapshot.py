"""A revision opened for reading: DuckDB views over its segments, no checkout."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import pyarrow as pa

from lineage.errors import QueryError
from lineage.query import sandbox, stream
from lineage.store.scratch import drop_scratch
from lineage.versioning.revision import RevisionFiles

if TYPE_CHECKING:
    from lineage.query.connection import Views


class Snapshot:
    """One revision of the store. Its views (``labels``, ``label_events``, ``reviews``,
    ...) are DuckDB relations; ``sql`` runs a sandboxed read-only query over them."""

    def __init__(
        self,
        files: RevisionFiles,
        con: duckdb.DuckDBPyConnection,
        views: Views | None = None,
        *,
        temp_dir: Path | None = None,
    ):
        self.files = files
        self._con = con
        self.views = views  # created as statements name them (None: all exist)
        self._temp_dir = temp_dir
        self._timer: threading.Timer | None = None
        self.timed_out: float | None = None  # the timeout, once it has stopped a query
        stream.LIVE.add(self)

    @property
    def rev(self) -> str | None:
        return self.files.rev

    @property
    def commit(self) -> str | None:
        return self.files.commit

    @property
    def con(self) -> duckdb.DuckDBPyConnection:
        """The connection with every view created (for code that runs many statements
        on it; ``sql``, ``run`` and ``arrow`` create only the views they name)."""
        if self.views is not None:
            try:
                self.views.ensure_all()
            except duckdb.Error as exc:  # a footer read in place failed
                raise stream.translate(exc) from None
        return self._con

    def sql(self, query: str, timeout: float | None = None) -> duckdb.DuckDBPyRelation:
        """A user query: exactly one read-only statement over the views. The relation is
        lazy; ``timeout`` (seconds) holds from now until the snapshot is closed, so it
        covers fetching every row (``lineage.query.stream.batches``)."""
        sandbox.check(query, self._con)
        if timeout is not None:
            if not (isinstance(timeout, int | float) and 0 < timeout < float("inf")):
                raise QueryError(f"timeout must be a positive number of seconds, not {timeout}")
            self._arm(float(timeout))
        return self.run(query)

    def run(self, sql: str, params: list[Any] | None = None) -> duckdb.DuckDBPyRelation:
        """A relation of ``sql`` (not sandbox-checked: ``sql`` checks user SQL), after
        creating the views it names; errors are LineageErrors."""
        try:
            if self.views is not None:
                self.views.ensure(sql)
            try:
                return self._con.sql(sql, params=params)
            except duckdb.CatalogException:
                # a view no word of the SQL names (``query_table('lab' || 'els')``)
                if self.views is None or not self.views.ensure_all():
                    raise
                return self._con.sql(sql, params=params)
        except duckdb.Error as exc:
            raise stream.translate(exc) from None

    def interrupt(self) -> None:
        """Stop the running query (from another thread: creates nothing)."""
        self._con.interrupt()

    def _arm(self, timeout: float) -> None:
        if self._timer is not None:
            self._timer.cancel()

        def expire() -> None:
            self.timed_out = timeout
            self.interrupt()

        self._timer = threading.Timer(timeout, expire)
        self._timer.daemon = True
        self._timer.start()

    def arrow(self, sql: str, params: list[Any] | None = None) -> pa.Table:
        """Internal SQL (not sandbox-checked) as an Arrow table."""
        return self.run(sql, params).to_arrow_table()

    def __getattr__(self, name: str) -> duckdb.DuckDBPyRelation:
        from lineage.query.views import PUBLIC_VIEWS

        if name in PUBLIC_VIEWS:
            return self.run(f"SELECT * FROM {name}")
        raise AttributeError(name)

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        stream.LIVE.discard(self)
        self._con.close()
        drop_scratch(self._temp_dir)
        self._temp_dir = None

    def __enter__(self) -> Snapshot:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Pair(Snapshot):
    """Two revisions on one connection, for diffs: schema ``a`` holds A's views,
    schema ``b`` (and, through aliases, the default schema) B's."""

    def __init__(
        self,
        base: RevisionFiles,
        files: RevisionFiles,
        con: duckdb.DuckDBPyConnection,
        views: Views | None = None,
        *,
        temp_dir: Path | None = None,
    ):
        super().__init__(files, con, views, temp_dir=temp_dir)
        self.base = base  # revision A

    def __enter__(self) -> Pair:
        return self
