"""The small CSV files lineage reads (reviews, annotators, annotator maps): one reader,
so every one of them refuses the same bad input with the same clear error."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from lineage.errors import InputError


def read_text(path: str | Path) -> str:
    """A CSV file's text (UTF-8, with or without a BOM); InputError when it is not."""
    try:
        return Path(path).read_bytes().decode("utf-8-sig")
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", file=path) from None
    except UnicodeDecodeError as exc:
        raise InputError(
            f"not UTF-8 text (byte {exc.start}: {exc.reason})",
            file=path,
            hint="save the CSV as UTF-8",
        ) from None


def read_rows(path: str | Path) -> list[list[str]]:
    """Every row of a CSV file, as lists of strings."""
    try:
        return list(csv.reader(io.StringIO(read_text(path), newline="")))
    except csv.Error as exc:
        raise InputError(f"not a readable CSV file: {exc}", file=path) from None


def read_records(
    path: str | Path, *, required: tuple[str, ...], optional: tuple[str, ...]
) -> tuple[list[dict], list[str]]:
    """Rows as dicts of stripped strings (blank cells left out), with what to call each
    in errors (``line N``). The header must name every required column, no unknown
    column, and no column twice."""
    rows = read_rows(path)
    header = [h.strip() for h in rows[0]] if rows else []
    missing = [c for c in required if c not in header]
    if missing:
        raise InputError(
            f"missing column(s) {', '.join(missing)}",
            file=path,
            record="header",
            hint="columns: " + ",".join(required + optional),
        )
    for i, name in enumerate(header):
        if name and name in header[:i]:
            raise InputError("column named twice", file=path, record="header", field=name)
        if name and name not in required + optional:
            raise InputError("unknown column", file=path, record="header", field=name)
    out, records = [], []
    for lineno, row in enumerate(rows[1:], start=2):
        if not "".join(row).strip():
            continue
        if len(row) > len(header):
            raise InputError(
                f"{len(row)} cells but the header names {len(header)} columns",
                file=path,
                record=f"line {lineno}",
            )
        rec = {h: v.strip() for h, v in zip(header, row, strict=False) if h and v.strip()}
        out.append(rec)
        records.append(f"line {lineno}")
    return out, records


def read_annotator_map(path: str | Path) -> dict[str, str]:
    """``tool user id or email,annotator_id`` rows (an optional header) as a mapping."""
    rows = read_rows(path)
    if rows and [c.strip().lower() for c in rows[0][:2]] in (
        ["user", "annotator_id"],
        ["tool_id", "annotator_id"],
    ):
        rows = rows[1:]
    out: dict[str, str] = {}
    for i, row in enumerate(rows, start=1):
        if not "".join(row).strip():
            continue
        if len(row) < 2 or not row[0].strip() or not row[1].strip():
            raise InputError(
                "each row needs: tool user id or email, annotator id", file=path, record=f"line {i}"
            )
        out[row[0].strip()] = row[1].strip()
    return out
