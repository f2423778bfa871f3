"""Writing checkpoints: which parts of the labels a commit rewrites, and their rows.

The format (parts, the map in each file's footer, what readers read) is in
``lineage.store.checkpoint``; this is the SQL that chooses and reads the parts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from lineage.query import views
from lineage.store.checkpoint import SELF, Holder, PartMap, Settings, encode_map, ranges_sql
from lineage.store.files import ROW_GROUP

if TYPE_CHECKING:
    from lineage.query.snapshot import Snapshot


@dataclass(frozen=True)
class Plan:
    """A checkpoint to write: the part map it starts from and the parts it rewrites."""

    map: PartMap
    write: frozenset[int]


def full(snap: Snapshot, settings: Settings) -> Plan:
    """Every part, with bounds drawn afresh (``lineage compact``, a merge)."""
    live = snap.con.sql("SELECT count(*) FROM labels").fetchall()[0][0]
    fresh = PartMap(_bounds(snap, settings.parts, live))
    return Plan(fresh, frozenset(range(fresh.count)))


def plan(snap: Snapshot, settings: Settings) -> Plan | None:
    """The parts the coming commit should rewrite (None: none is due). The cheap gates
    come first: every commit asks."""
    if settings.ratio <= 0 or any(_is_checkpoint(t) for t in snap.files.staged):
        return None
    con = snap.con
    current = snap.files.checkpoint()
    if current is None:  # nothing is due while the whole log holds few superseded events
        superseded = con.sql(
            "SELECT count(*) - count(DISTINCT label_id) FROM label_events_raw"
        ).fetchall()[0][0]
        if superseded <= settings.min_events:
            return None
    live = con.sql("SELECT count(*) FROM labels").fetchall()[0][0]
    if live == 0:
        return None
    parts = current.map if current is not None else PartMap(())
    if parts.count == 1 and settings.parts > 1:  # no parts yet: draw them
        bounds = _bounds(snap, settings.parts, live)
        parts = PartMap(bounds, tuple(
            Holder(h.segment, frozenset(range(len(bounds) + 1)), h.covers) for h in parts.holders
        ))  # fmt: skip
    extra = _extra_per_part(snap, parts, tail=current is not None)
    if sum(extra.values()) <= settings.min_events:
        return None
    share = max(live / parts.count, 1.0)
    # the least recently written due parts first, in order of their ranges: with edits
    # spread evenly the parts are then rewritten in turn, and the parts a file holds and
    # those an event file is newer than stay a range or two (one filter, row groups skipped)
    age = {p: h.segment for h in parts.holders for p in h.parts}
    due = sorted(
        (p for p, n in extra.items() if n > settings.ratio * share),
        key=lambda p: (age.get(p, ""), p),
    )
    if not due:
        return None
    events = sum(t.meta.get("rows", {}).get("label_events", 0) for t in snap.files.staged)
    budget = max(settings.budget * live, events)
    return Plan(parts, frozenset(due[: max(1, int(budget / share))]))


def state(snap: Snapshot, todo: Plan) -> tuple[pa.RecordBatchReader, dict[str, Any]]:
    """The live labels of ``todo``'s parts as a stream (a checkpoint of millions of
    labels is written as it is read, never held whole), and the checkpoint's metadata
    for the staged transaction: the label_events segments it covers (``self`` stands for
    the segment the coming commit writes) and the part map after it. Read the stream
    while ``snap`` is open."""
    parts = todo.map
    where = "true" if len(todo.write) == parts.count else ranges_sql(parts.ranges(todo.write))
    current = snap.files.checkpoint()
    rows = snap.con.sql(
        f"SELECT * FROM ({views.labels_sql(current, as_json=False)}) WHERE {where}"
    ).to_arrow_reader(ROW_GROUP)
    covers = [s.segment_id for s in snap.files.segments if s.table == "label_events"]
    if snap.files.staged:
        covers.append(SELF)
    kept = [
        Holder(h.segment, h.parts - todo.write, h.covers)
        for h in parts.holders
        if h.parts - todo.write
    ]
    after = PartMap(parts.bounds, (*kept, Holder(SELF, todo.write, frozenset(covers))))
    return rows, {"covers": covers, "parts": encode_map(after, covers).decode()}


def _is_checkpoint(txn) -> bool:
    return txn.table_file("checkpoints") is not None


def _bounds(snap: Snapshot, parts: int, live: int) -> tuple[str, ...]:
    """``parts - 1`` quantiles of the live label ids (fewer if there are few labels)."""
    if parts <= 1 or live == 0:
        return ()
    qs = [i / parts for i in range(1, parts)]
    found = snap.con.execute(
        "SELECT quantile_disc(label_id, ?::DOUBLE[]) FROM labels", [qs]
    ).fetchall()[0][0]
    return tuple(sorted(set(found) - {""}))


def _extra_per_part(snap: Snapshot, parts: PartMap, *, tail: bool) -> dict[int, int]:
    """Per part, the events a read sorts through beyond its labels: the events newer
    than its checkpoint, or (no checkpoint holds it) its superseded revisions. ``tail``:
    the revision has checkpoints (the views have the events newer than them)."""
    held = {p for h in parts.holders for p in h.parts}
    source = "label_events_tail_raw" if tail else "label_events_raw"
    found = snap.con.execute(
        f"""
        WITH b AS (SELECT unnest(range(len($lo))) AS part, unnest($lo) AS lo)
        SELECT b.part, count(*), count(DISTINCT t.label_id)
        FROM {source} t ASOF JOIN b ON t.label_id >= b.lo
        GROUP BY b.part
        """,
        {"lo": ["", *parts.bounds]},
    ).fetchall()
    return {p: (n if p in held else n - distinct) for p, n, distinct in found}
