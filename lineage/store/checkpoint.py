"""Checkpoints: the materialised current state of the labels, like Delta Lake's.

Without one, the ``labels`` view finds each label's latest revision among all events,
so reads grow with the history; with one, reads cost the checkpoint plus the events
since. A checkpoint is a full copy of the live labels, so it is written when the
events since the last one pass ``checkpoint_ratio`` of the live labels (default 0.1,
``[store] checkpoint_ratio`` in lineage.toml; 0 turns it off) and 10,000 events, or by ``lineage compact``.
"""

from __future__ import annotations

import pyarrow as pa

from lineage.store.files import ROW_GROUP

DEFAULT_RATIO = 0.1
MIN_EVENTS = 10_000  # below this, sorting through the log costs nothing worth a copy

STATE_SQL = """
SELECT * FROM label_events_raw
QUALIFY row_number() OVER (PARTITION BY label_id ORDER BY revision DESC) = 1
    AND op <> 'delete'
"""


def state(snap) -> tuple[pa.RecordBatchReader, int, list[str]]:
    """The live labels of a work-state snapshot as a stream (a checkpoint of millions of
    labels is written as it is read, never held whole), how many there are, and the
    label_events segments they cover (``self`` stands for the segment the coming commit
    writes). Read the stream while ``snap`` is open."""
    live = snap.con.sql("SELECT count(*) FROM labels").fetchall()[0][0]
    rows = snap.con.sql(STATE_SQL).to_arrow_reader(ROW_GROUP)
    covers = [s.segment_id for s in snap.files.segments if s.table == "label_events"]
    if snap.files.staged:
        covers.append("self")
    return rows, live, covers


def needed(snap, ratio: float, min_events: int = MIN_EVENTS) -> bool:
    """True when the events a read must sort through, beyond the live labels, exceed
    ``ratio`` of the live labels (and ``min_events``)."""
    if ratio <= 0:
        return False
    con = snap.con
    live = con.sql("SELECT count(*) FROM labels").fetchall()[0][0]
    if live == 0:
        return False
    if snap.files.checkpoint() is not None:
        extra = con.sql("SELECT count(*) FROM label_events_tail_raw").fetchall()[0][0]
    else:
        extra = con.sql(
            "SELECT count(*) - count(DISTINCT label_id) FROM label_events_raw"
        ).fetchall()[0][0]
    return extra > max(ratio * live, min_events)
