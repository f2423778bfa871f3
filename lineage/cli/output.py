"""Rendering, written once: every command that prints data takes ``--format`` and
passes rows here. Rows stream from DuckDB in batches; a million rows are never held
as Python dicts at once."""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import functools
import itertools
import json
import sys
from collections.abc import Callable, Iterator

import click

FORMATS = ("table", "json", "csv")
BATCH = 10_000


def format_option(*extra: str, default: str | None = None):
    """Add ``--format`` (table|json|csv plus ``extra``) to a command. The default is a
    table on a terminal and JSON when piped."""
    choices = FORMATS + extra

    def deco(fn):
        @click.option(
            "--format",
            "fmt",
            type=click.Choice(choices),
            default=default,
            help=f"Output format ({'|'.join(choices)}); default: table on a terminal, json when piped.",
        )
        @functools.wraps(fn)
        def wrapper(*args, fmt=None, **kwargs):
            if fmt is None:
                fmt = "table" if sys.stdout.isatty() else "json"
            return fn(*args, fmt=fmt, **kwargs)

        return wrapper

    return deco


def dumps(value) -> str:
    """One compact JSON value. orjson (C) does the common types, jsonable the rest: a
    million-row export spends its time here."""
    import orjson

    return orjson.dumps(value, default=jsonable, option=orjson.OPT_SERIALIZE_NUMPY).decode()


def jsonable(value):
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, float) and value != value:
        return None
    return value


def _batches(data) -> tuple[list[str], Iterator[list[tuple]]]:
    """Column names and row batches of query Rows, an Arrow table or a list of dicts."""
    if hasattr(data, "batches"):  # Rows of a query: stream Arrow batches
        return data.columns, _rows(data.batches(BATCH))
    if hasattr(data, "to_arrow_reader"):  # a bare DuckDB relation
        return list(data.columns), _rows(data.to_arrow_reader(BATCH))
    if hasattr(data, "to_batches"):  # Arrow table
        return data.column_names, _rows(data.to_batches(BATCH))
    rows = list(data)
    columns = list(rows[0].keys()) if rows else []
    return columns, iter([[tuple(r.get(c) for c in columns) for r in rows]] if rows else [])


def _rows(batches) -> Iterator[list[tuple]]:
    from lineage.pyvalues import pylist

    for batch in batches:
        cols = [pylist(c) for c in batch.columns]
        yield list(zip(*cols, strict=True))


def render(data, fmt: str, *, title: str | None = None, out=None, types=None) -> int:
    """Write rows to stdout in ``fmt``; returns how many rows were written. ``types``:
    DuckDB's types of the columns, where ``data`` does not carry them (another engine's
    Arrow table), so that JSON values print as JSON there too."""
    out = out or sys.stdout
    columns, batches = _batches(data)
    # run the query up to its first batch before writing anything, so that a failing
    # query prints only its error
    first = next(batches, None)
    batches = itertools.chain([first] if first is not None else [], batches)
    if fmt == "json":
        return _json(columns, batches, out, json_values(data, types))
    if fmt == "csv":
        return _csv(columns, batches, out)
    return _table(columns, batches, out, title)


def json_values(data, types=None) -> list[Callable | None]:
    """Per column of query Rows (or a DuckDB relation), what embeds its JSON-typed values
    (``attributes``, also inside structs and lists) as JSON rather than as strings of
    JSON text; None for a column without any. Arrow drops DuckDB's JSON type, so it is
    read off the relation's types (or ``types``)."""
    if types is None:
        types = getattr(getattr(data, "relation", data), "types", None)
    embedders = [_embedder(t) for t in types] if types is not None else []
    return embedders if any(embedders) else []


def _embedder(kind) -> Callable | None:
    import orjson

    if str(kind) == "JSON":
        return lambda v: None if v is None else orjson.Fragment(v)
    if kind.id == "list":
        inner = _embedder(kind.child)
        if inner is not None:
            return lambda v: None if v is None else [inner(x) for x in v]
    elif kind.id == "struct":
        fields = {name: f for name, t in kind.children if (f := _embedder(t)) is not None}
        if fields:
            return lambda v: (
                None if v is None else {k: fields[k](x) if k in fields else x for k, x in v.items()}
            )
    elif kind.id == "map":
        value = _embedder(kind.children[1][1])
        if value is not None:
            return lambda v: None if v is None else [(k, value(x)) for k, x in v]
    return None


def _embed(row: tuple, embedders: list[Callable | None]) -> tuple:
    """``row`` with its JSON-typed values embedded (see ``json_values``)."""
    if not embedders:
        return row
    return tuple(f(v) if f is not None else v for v, f in zip(row, embedders, strict=True))


def json_rows(data) -> Iterator[str]:
    """Each row of query Rows as one compact JSON object, streamed in batches."""
    columns, batches = _batches(data)
    return _json_rows(columns, batches, json_values(data))


def _json_rows(columns, batches, embedders: list[Callable | None]) -> Iterator[str]:
    for rows in batches:
        for row in rows:
            yield dumps(dict(zip(columns, _embed(row, embedders), strict=True)))


def _json(columns, batches, out, embedders: list[Callable | None]) -> int:
    n = 0
    out.write("[")
    for row in _json_rows(columns, batches, embedders):
        out.write(",\n" if n else "\n")
        out.write(row)
        n += 1
    out.write("\n]\n" if n else "]\n")
    return n


def _csv(columns, batches, out) -> int:
    from lineage.csvcell import neutralise

    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([neutralise(str(c)) for c in columns])
    n = 0
    for rows in batches:
        for row in rows:
            writer.writerow([_csv_cell(v) for v in row])
            n += 1
    return n


def _csv_cell(value) -> str:
    """A cell a spreadsheet shows as text, never runs as a formula (see lineage.csvcell)."""
    from lineage.csvcell import neutralise

    text = _cell(value)
    return neutralise(text) if isinstance(value, str | dict | list | tuple) else text


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, dict | list | tuple):
        return json.dumps(jsonable(value), ensure_ascii=False)
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def _table(columns, batches, out, title, width: int | None = None) -> int:
    """A table that never breaks an id, a date or a number across lines: columns whose
    values hold no spaces keep their full width; text columns (messages, reasons, JSON)
    are cut with an ellipsis instead (``--format json|csv`` give full values)."""
    from rich.console import Console
    from rich.table import Table

    rows = [[_cell(v) for v in row] for batch in batches for row in batch]
    table = Table(title=title, show_lines=False, header_style="bold")
    for i, c in enumerate(columns):
        values = [r[i] for r in rows]
        if any(_is_text(v) for v in values):
            table.add_column(str(c), no_wrap=True, overflow="ellipsis", min_width=8)
        else:
            longest = max([len(str(c)), *(len(v) for v in values)])
            table.add_column(str(c), no_wrap=True, min_width=longest)
    for row in rows:
        table.add_row(*row)
    if width is None:
        width = None if out.isatty() else 200
    console = Console(file=out, width=width)
    console.print(table)
    if not rows:
        console.print("(no rows)")
    return len(rows)


def _is_text(value: str) -> bool:
    """Prose or a structure (JSON), which may be cut; not an id, a date or a number."""
    return len(value) > 40 or value[:1] in ("{", "[") or any(ch.isspace() for ch in value)


def emit_json(obj, out=None) -> None:
    """One JSON document (for commands whose output is an object, not rows)."""
    out = out or sys.stdout
    out.write(json.dumps(jsonable(obj), indent=2, ensure_ascii=False) + "\n")


def message(text: str) -> None:
    """Messages go to stderr, so stdout stays data."""
    click.echo(text, err=True)


class working:
    """A spinner line on stderr while long work runs (only on a terminal); yields a
    ``tick(stage, done, total)`` progress callback for the library to call."""

    def __init__(self, label: str):
        self.label = label

    def __enter__(self):
        from rich.console import Console

        console = Console(stderr=True)
        self.status = console.status(f"{self.label}…") if console.is_terminal else None
        if self.status:
            self.status.start()

        def tick(stage: str, done: int, total: int | None) -> None:
            if self.status:
                count = f" {done:,}" + (f" / {total:,}" if total else "") if done else ""
                self.status.update(f"{stage}…{count}")

        return tick

    def __exit__(self, *exc) -> None:
        if self.status:
            self.status.stop()
