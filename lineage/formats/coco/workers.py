"""Parse and read a large COCO file's annotation slices in worker processes.

The per-annotation loop (``collect._collect``) is most of an import; the slices that
``chunks.Chunked`` cuts are independent, so forked workers parse and read them side by
side, each from the memory-mapped file it inherits, and hand back compact columns. The
parent joins them in file order, so the result, and every error's record and order, is
what one process reading the slices in turn gives: positional record names are rebased,
and the errors are replayed through the import's own ``RecordErrors`` (strict raises at
the first one in file order).

Only where ``fork`` exists (Linux): the workers inherit the parsed images and categories
and the mapping rather than receiving copies. Elsewhere, and for one slice or one core,
the slices are read in this process.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
from collections import deque
from collections.abc import Generator, Iterator
from dataclasses import fields
from pathlib import Path
from typing import Any

from lineage.formats.base import RecordErrors
from lineage.formats.coco.chunks import Chunked
from lineage.formats.coco.collect import Columns, _collect, rebase_record
from lineage.formats.coco.load import Categories, Images

MAX_WORKERS = 4

# What the forked workers read: set in the parent just before the fork.
_SHARED: tuple[Chunked, Images, Categories, Path] | None = None


class _Deferred:
    """A worker's record errors, kept for the parent to replay in file order."""

    def __init__(self) -> None:
        self.items: list[tuple[str, Any, str | None]] = []

    def bad(self, message: str, *, file, record=None, field=None) -> None:
        self.items.append((message, record, field))


def workers(slices: int) -> int:
    """How many processes read ``slices`` slices: up to the cores (at most MAX_WORKERS);
    1 where fork is not available."""
    if sys.platform != "linux" or "fork" not in multiprocessing.get_all_start_methods():
        return 1
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(slices, cores or 1, MAX_WORKERS))


def collect_slices(
    chunked: Chunked, images: Images, cats: Categories, file: Path, errors: RecordErrors
) -> Columns:
    """The annotations of every slice of ``chunked`` as one Columns, as ``collect`` gives
    them (raises chunks.SplitFailed when a cut fell inside a record)."""
    parts = column_parts(chunked, images, cats, file, errors, None)
    try:
        return next(parts)
    finally:
        parts.close()


def column_parts(
    chunked: Chunked,
    images: Images,
    cats: Categories,
    file: Path,
    errors: RecordErrors,
    rows: int | None,
) -> Generator[Columns, None, None]:
    """The annotations of ``chunked`` in file order, as Columns of at least ``rows`` rows
    each (the last may hold fewer; None: one Columns of them all). Workers read a few
    slices ahead of the part being taken, never more, so memory holds a part and a few
    slices whatever the file's size. Raises chunks.SplitFailed when a cut fell inside a
    record."""
    out, base, given = Columns(), 0, False
    for cols, found, count in _slices(chunked, images, cats, file):
        for message, record, field in found:
            errors.bad(message, file=file, record=rebase_record(record, base), field=field)
        _append(out, cols, base)
        base += count
        if rows is not None and len(out) >= rows:
            yield out
            out, given = Columns(), True
    if len(out) or not given:
        yield out


def _slices(
    chunked: Chunked, images: Images, cats: Categories, file: Path
) -> Iterator[tuple[Columns, list, int]]:
    """Each slice read (``_read_slice``), in file order: by forked workers, at most two
    per worker ahead of the one taken, or in this process where fork is not available."""
    global _SHARED
    _SHARED = (chunked, images, cats, file)
    total = len(chunked.bounds)
    n = workers(total)
    if n < 2:
        try:
            yield from map(_read_slice, range(total))
        finally:
            _SHARED = None
        return
    pool = multiprocessing.get_context("fork").Pool(n, initializer=_quiet)
    try:
        ahead: deque = deque()
        taken = 0  # slices handed to the workers
        while taken < total and len(ahead) < 2 * n:
            ahead.append(pool.apply_async(_read_slice, (taken,)))
            taken += 1
        while ahead:
            result = ahead.popleft().get()
            if taken < total:
                ahead.append(pool.apply_async(_read_slice, (taken,)))
                taken += 1
            yield result
        pool.close()
    finally:
        pool.terminate()  # on an error, Ctrl-C or a part not taken the workers stop at once
        pool.join()
        _SHARED = None


def _quiet() -> None:
    """Workers leave Ctrl-C to the parent (which stops them), so none prints a traceback."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _read_slice(index: int) -> tuple[Columns, list, int]:
    """Parse slice ``index`` and read it into Columns (row sources local to the slice),
    with its record errors kept for the parent to replay in file order."""
    assert _SHARED is not None
    chunked, images, cats, file = _SHARED
    anns = chunked.parse(index)
    cols, found = Columns(), _Deferred()
    _collect(anns, 0, cols, images, cats, file, found)  # type: ignore[arg-type]  # duck-typed errors
    return cols, found.items, len(anns)


def _append(out: Columns, part: Columns, base: int) -> None:
    """Add a slice's rows to ``out``: row sources moved by ``base`` (the slice's first
    annotation in the file), polygon part ends by the coordinates before them, the
    per-row dictionaries by the rows before them; every other field (a buffer with
    a fixed count per row, or per coordinate) is appended as it is."""
    rows, coords = len(out.src), len(out.poly)
    for f in fields(Columns):
        mine, theirs = getattr(out, f.name), getattr(part, f.name)
        if f.name == "src":
            mine.extend(i + base for i in theirs)
        elif f.name == "part_end":
            mine.extend(e + coords for e in theirs)
        elif f.name == "attributes":
            mine.update({r + rows: v for r, v in theirs.items()})
        elif f.name == "sparse":
            for name, values in theirs.items():
                mine.setdefault(name, {}).update({r + rows: v for r, v in values.items()})
        else:
            mine.extend(theirs)
