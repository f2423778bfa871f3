"""Replace annotator and reviewer ids by stable keyed hashes: annotator identities are
personal data, and a report or export often leaves the team."""

from __future__ import annotations

import hashlib
import hmac
import os
from pathlib import Path

import pyarrow as pa

from lineage.errors import InputError

KEY_ENV = "LINEAGE_PSEUDONYM_KEY"


def load_key(key_file: Path | None = None) -> bytes:
    """The key from ``key_file`` or ``$LINEAGE_PSEUDONYM_KEY``; an error when neither is set."""
    if key_file is not None:
        try:
            return Path(key_file).read_bytes().strip()
        except OSError as exc:
            raise InputError(f"cannot read the pseudonym key: {exc}", file=key_file) from exc
    key = os.environ.get(KEY_ENV)
    if not key:
        raise InputError(
            "--pseudonymize needs a key", hint=f"set {KEY_ENV} or pass --pseudonym-key-file"
        )
    return key.encode()


def pseudonym(value: str | None, key: bytes) -> str | None:
    if value is None:
        return None
    return "anon-" + hmac.new(key, value.encode(), hashlib.sha256).hexdigest()[:12]


def pseudonymize_column(table: pa.Table, column: str, key: bytes | None) -> pa.Table:
    if key is None or column not in table.column_names:
        return table
    values = [pseudonym(v, key) for v in table.column(column).to_pylist()]
    return table.set_column(
        table.schema.get_field_index(column), column, pa.array(values, pa.string())
    )


def pseudonymize_labels(table: pa.Table, key: bytes | None) -> pa.Table:
    for col in ("annotator_id", "reviewer_id"):
        table = pseudonymize_column(table, col, key)
    return table
