"""The columns that make a label's content: an event whose content equals the label's
previous revision is not recorded (every label_events column but identity, bookkeeping
and time, in schema order)."""

from __future__ import annotations

from lineage.store import schema as schemas

CONTENT = [
    name
    for name in schemas.schema("label_events").names
    if name not in ("label_id", "revision", "op", "created_at", "txn_id")
]
