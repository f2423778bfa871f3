"""Rows: the answer of one query over an open revision, read lazily.

Every read method of ``Repo`` (``history``, ``blame``, ``query``, a ``Diff``'s forms)
returns one. It holds the SQL (``--sql`` prints it), the DuckDB relation, and the
snapshot it runs on: use it as a context manager, or ``close`` it, when done.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import duckdb
import pyarrow as pa

from lineage.query import stream

if TYPE_CHECKING:
    from lineage.query.snapshot import Snapshot


class Rows:
    """The rows of ``sql`` on ``snapshot``; ``relation`` is given for user SQL (checked
    by the sandbox), else built from ``sql``. ``owns`` = closing these rows closes the
    snapshot."""

    def __init__(
        self,
        snapshot: Snapshot,
        sql: str,
        *,
        relation: duckdb.DuckDBPyRelation | None = None,
        title: str | None = None,
        owns: bool = True,
    ):
        self.snapshot = snapshot
        self.sql = sql
        self.title = title
        self._relation = relation
        self._owns = owns

    @property
    def relation(self) -> duckdb.DuckDBPyRelation:
        if self._relation is None:
            self._relation = self.snapshot.run(self.sql)
        return self._relation

    @property
    def columns(self) -> list[str]:
        return list(self.relation.columns)

    def batches(self, size: int = 10_000) -> Iterator[pa.RecordBatch]:
        """Record batches, fetched so that Ctrl-C and ``--timeout`` stop the query."""
        return stream.batches(self.relation, size)

    def arrow(self) -> pa.Table:
        """All rows as one Arrow table."""
        batches = list(self.batches())
        if batches:
            return pa.Table.from_batches(batches)
        return self.relation.limit(0).to_arrow_table()

    def to_pylist(self) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = self.arrow().to_pylist()
        return rows

    def close(self) -> None:
        if self._owns:
            self.snapshot.close()

    def __enter__(self) -> Rows:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
