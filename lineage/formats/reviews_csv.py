"""Review passes from CSV: ``label_id,pass,reviewer_id,verdict[,reason,reviewed_at,
guideline_version,revision,kind]``."""

from __future__ import annotations

import csv
from datetime import datetime
from pathlib import Path

import pyarrow as pa

from lineage.errors import InputError
from lineage.formats.base import incoming_schema

REQUIRED = ("label_id", "pass", "reviewer_id", "verdict")
OPTIONAL = ("reason", "reviewed_at", "guideline_version", "revision", "kind")
VERDICTS = ("accept", "reject", "fix")
KINDS = ("review", "audit", "gold")


def read(path: Path) -> tuple[pa.Table, list[str]]:
    """The reviews of ``path`` and, per row, what to call it in errors (``line N``)."""
    path = Path(path)
    try:
        fh = open(path, newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise InputError(f"cannot open: {exc.strerror}", file=path) from exc
    rows, records = [], []
    with fh:
        reader = csv.DictReader(fh)
        header = [h.strip() for h in (reader.fieldnames or [])]
        missing = [c for c in REQUIRED if c not in header]
        if missing:
            raise InputError(
                f"missing column(s) {', '.join(missing)}",
                file=path,
                record="header",
                hint="columns: " + ",".join(REQUIRED + OPTIONAL),
            )
        unknown = [c for c in header if c not in REQUIRED + OPTIONAL]
        if unknown:
            raise InputError(
                f"unknown column '{unknown[0]}'", file=path, record="header", field=unknown[0]
            )
        try:
            for lineno, raw in enumerate(reader, start=2):
                raw = {
                    k.strip(): (v.strip() if isinstance(v, str) else v) for k, v in raw.items() if k
                }
                if not any(raw.values()):
                    continue
                rows.append(review_record(raw, file=path, record=f"line {lineno}"))
                records.append(f"line {lineno}")
        except (UnicodeDecodeError, csv.Error) as exc:
            raise InputError(f"not a readable CSV file: {exc}", file=path) from exc
    return pa.Table.from_pylist(rows, schema=incoming_schema("reviews")), records


def review_record(raw: dict, *, file=None, record=None) -> dict:
    """Validate one review given as strings (a CSV row or CLI options)."""

    def bad(message, field):
        raise InputError(message, file=file, record=record, field=field)

    for col in REQUIRED:
        if not raw.get(col):
            bad(f"{col} is required", col)
    try:
        pass_no = int(raw["pass"])
    except (TypeError, ValueError):
        bad(f"'{raw['pass']}' is not a whole number", "pass")
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
        try:
            revision = int(raw["revision"])
        except ValueError:
            bad(f"'{raw['revision']}' is not a whole number", "revision")
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
