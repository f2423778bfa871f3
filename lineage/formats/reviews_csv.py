"""Review passes from CSV: ``label_id,pass,reviewer_id,verdict[,reason,reviewed_at,
guideline_version,revision,kind]``."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import NoReturn

import pyarrow as pa

from lineage.errors import InputError
from lineage.formats.base import incoming_schema
from lineage.formats.csvfile import read_records

REQUIRED = ("label_id", "pass", "reviewer_id", "verdict")
OPTIONAL = ("reason", "reviewed_at", "guideline_version", "revision", "kind")
VERDICTS = ("accept", "reject", "fix")
KINDS = ("review", "audit", "gold")


def read(path: Path) -> tuple[pa.Table, list[str]]:
    """The reviews of ``path`` and, per row, what to call it in errors (``line N``)."""
    raws, records = read_records(path, required=REQUIRED, optional=OPTIONAL)
    rows = [review_record(r, file=path, record=n) for r, n in zip(raws, records, strict=True)]
    return pa.Table.from_pylist(rows, schema=incoming_schema("reviews")), records


def review_record(raw: dict, *, file=None, record=None) -> dict:
    """Validate one review given as strings (a CSV row or CLI options)."""

    def bad(message: str, field: str) -> NoReturn:
        raise InputError(message, file=file, record=record, field=field)

    for col in REQUIRED:
        if not raw.get(col):
            bad(f"{col} is required", col)
    pass_no = _whole(raw["pass"], "pass", bad)
    if pass_no < 1:
        bad("pass must be 1 or more", "pass")
    verdict = str(raw["verdict"]).lower()
    if verdict not in VERDICTS:
        bad(f"'{raw['verdict']}' is not one of {', '.join(VERDICTS)}", "verdict")
    kind = (raw.get("kind") or "review").lower()
    if kind not in KINDS:
        bad(f"'{raw['kind']}' is not one of {', '.join(KINDS)}", "kind")
    reviewed_at = None
    if raw.get("reviewed_at"):
        try:
            reviewed_at = datetime.fromisoformat(str(raw["reviewed_at"]).replace("Z", "+00:00"))
        except ValueError:
            bad(f"'{raw['reviewed_at']}' is not an ISO 8601 time", "reviewed_at")
        if reviewed_at.tzinfo is None:
            reviewed_at = reviewed_at.astimezone()
    revision = None
    if raw.get("revision"):
        revision = _whole(raw["revision"], "revision", bad)
        if revision < 1:
            bad("revision must be 1 or more", "revision")
    return {
        "label_id": str(raw["label_id"]),
        "pass": pass_no,
        "kind": kind,
        "reviewer_id": str(raw["reviewer_id"]),
        "verdict": verdict,
        "reason": raw.get("reason") or None,
        "reviewed_at": reviewed_at,
        "guideline_version": raw.get("guideline_version") or None,
        "revision": revision,
    }


INT32_MAX = 2**31 - 1


def _whole(value, field: str, bad) -> int:
    """A whole number that fits the store's int32 columns."""
    try:
        n = int(str(value))
    except (TypeError, ValueError):
        bad(f"'{value}' is not a whole number", field)
    if abs(n) > INT32_MAX:
        bad(f"{value} is too large (at most {INT32_MAX})", field)
    return n
