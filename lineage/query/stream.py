"""Rows out of DuckDB, in batches, with every failure a LineageError.

A relation is lazy: its query runs while rows are fetched, so runtime SQL errors
(``error('x')``, a failed cast) surface here, not where the SQL was given. Batches are
fetched in a worker thread so that Ctrl-C reaches the main thread at once, interrupts
the query, and a ``--timeout`` covers the whole output, not only the first batch.
"""

from __future__ import annotations

import queue
import sys
import threading
import weakref
from collections.abc import Iterator

import duckdb
import pyarrow as pa

from lineage.errors import QueryError

# Snapshots that may be running a query: Ctrl-C interrupts them all.
LIVE: weakref.WeakSet = weakref.WeakSet()
_DONE = object()


def interrupt_all() -> None:
    for snap in list(LIVE):
        try:
            snap.interrupt()
        except duckdb.Error:  # closed meanwhile
            pass


def timed_out() -> float | None:
    """The timeout of a snapshot whose deadline passed, if any."""
    return next((s.timed_out for s in list(LIVE) if s.timed_out), None)


def translate(exc: duckdb.Error) -> BaseException:
    """The LineageError (or KeyboardInterrupt) a DuckDB error means to a user."""
    if isinstance(exc, duckdb.InterruptException):
        limit = timed_out()
        if limit is not None:
            return QueryError(f"query stopped after the {limit:g} s timeout")
        return KeyboardInterrupt()
    remote_fs = sys.modules.get("lineage.versioning.remote_fs")  # loaded: a read in place
    failure = remote_fs.take_failure() if remote_fs is not None else None
    if failure is not None:
        return failure
    if isinstance(exc, duckdb.PermissionException):
        return QueryError(f"refused: {exc}", hint="queries can read only the store's views")
    return QueryError(str(exc).strip())


def batches(rel: duckdb.DuckDBPyRelation, size: int) -> Iterator[pa.RecordBatch]:
    """The record batches of ``rel``, fetched in a worker thread."""
    out: queue.Queue = queue.Queue(maxsize=2)
    stop = threading.Event()

    def work() -> None:
        try:
            reader = rel.to_arrow_reader(size)
            for batch in reader:
                while not stop.is_set():
                    try:
                        out.put(batch, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            out.put(_DONE)
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread
            out.put(exc)

    worker = threading.Thread(target=work, name="lineage-fetch", daemon=True)
    worker.start()
    try:
        while True:
            try:
                item = out.get(timeout=0.1)
            except queue.Empty:
                continue
            if item is _DONE:
                return
            if isinstance(item, duckdb.Error):
                raise translate(item) from None
            if isinstance(item, BaseException):
                raise item
            yield item
    except (KeyboardInterrupt, GeneratorExit):
        stop.set()
        interrupt_all()
        raise
    finally:
        stop.set()
        worker.join(timeout=1.0)
