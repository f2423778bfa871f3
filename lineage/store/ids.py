"""Ids: sortable by time (transactions, segments) or random (labels, reviews)."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime


def now() -> datetime:
    return datetime.now(UTC)


def time_id(prefix: str) -> str:
    """``<prefix><UTC yyyymmddTHHMMSSffffff>-<6 hex>``: unique, and sorts by creation time."""
    return f"{prefix}{now():%Y%m%dT%H%M%S%f}-{secrets.token_hex(3)}"


def label_id() -> str:
    return secrets.token_hex(8)


def label_ids(n: int) -> list[str]:
    """``n`` random label ids in one call to the OS (a million in ~0.1 s)."""
    h = secrets.token_bytes(8 * n).hex()
    return [h[i : i + 16] for i in range(0, 16 * n, 16)]
