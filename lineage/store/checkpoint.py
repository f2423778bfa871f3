"""Checkpoints: the materialised current state of the labels, like Delta Lake's, in parts.

Without one, the ``labels`` view finds each label's latest revision among all events, so
reads grow with the history; with one, reads cost the checkpointed rows plus the events
since. The labels are cut into ``parts`` ranges of ``label_id`` (bounds: quantiles of the
live ids when the parts are first drawn). A checkpoint file holds some parts, and a
commit rewrites only the parts whose events since outgrow them most, within a budget
(``checkpoint_budget`` of the live labels, or as many rows as the commit's own events if
more), so no version grows by a copy of the state (a whole copy doubled the store at the
version that wrote it). Each part is read from the newest file that holds it, plus the
events that file does not cover, in the part's range. A part is due when its events
since pass ``checkpoint_ratio`` of its labels (default 0.1; 0 turns checkpoints off) and
the store's pass 10,000 (``checkpoint_min_events``). ``lineage compact`` rewrites every
part, with bounds drawn afresh.

Here is the format and what readers read; ``lineage.query.compaction`` chooses and
writes the parts. The newest checkpoint file says where every part is (``lineage.parts``): the bounds and,
per file that holds parts, which ones and the label_events segments it covers (as the
difference from the newest file's own ``lineage.covers``, which stays small).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_RATIO = 0.1
MIN_EVENTS = 10_000  # below this, sorting through the log costs nothing worth a copy
PARTS = 256
MAX_PARTS = 4096  # lineage.toml may ask for fewer or more, not without bound
DEFAULT_BUDGET = 0.0125  # of the live labels a commit may rewrite (3 of 256 parts)
SELF = "self"  # the checkpoint file the coming commit writes
COVERS = b"lineage.covers"
MAP = b"lineage.parts"

Ranges = list[tuple[str | None, str | None]]  # [lo, hi) of label_id; None: unbounded
EVERYTHING: Ranges = [(None, None)]


@dataclass(frozen=True)
class Settings:
    """``[store]`` of lineage.toml: when parts are due and how many a commit rewrites."""

    ratio: float = DEFAULT_RATIO
    min_events: int = MIN_EVENTS
    parts: int = PARTS
    budget: float = DEFAULT_BUDGET


@dataclass(frozen=True)
class Holder:
    """A checkpoint file and the parts it is the newest holder of."""

    segment: str  # its segment id (``SELF``: the file the coming commit writes)
    parts: frozenset[int]
    covers: frozenset[str]  # the label_events segments its rows include


@dataclass(frozen=True)
class PartMap:
    """Where each part of the labels is: ``bounds`` cut the label ids into
    ``len(bounds) + 1`` ranges; a part no holder has is read from every event."""

    bounds: tuple[str, ...]
    holders: tuple[Holder, ...] = ()

    @property
    def count(self) -> int:
        return len(self.bounds) + 1

    def ranges(self, parts: Iterable[int]) -> Ranges:
        """The label_id ranges of ``parts``, adjacent parts joined."""
        out: Ranges = []
        last = -2
        for p in sorted(parts):
            lo = self.bounds[p - 1] if p > 0 else None
            hi = self.bounds[p] if p < len(self.bounds) else None
            if p == last + 1:
                out[-1] = (out[-1][0], hi)
            else:
                out.append((lo, hi))
            last = p
        return out


@dataclass
class Pieces:
    """What the labels of a revision are read from: each checkpoint file with the label
    ranges it is current for, and the event files with the ranges they are newer than
    the checkpoint for (an event file newer than every part: ``EVERYTHING``)."""

    state: list[tuple[Path | str, Ranges]] = field(default_factory=list)
    tail: list[tuple[list[Path | str], Ranges]] = field(default_factory=list)
    map: PartMap = field(default_factory=lambda: PartMap(()))


def read_map(segment_id: str, meta: Mapping[bytes, bytes]) -> PartMap:
    """The part map in the footer metadata of checkpoint ``segment_id``. A file written
    before parts (one range, every label) holds everything it covers. A map that is not
    one (a hand-made or damaged file) raises ValueError saying what is wrong."""
    try:
        covers = frozenset(_strings(json.loads(meta.get(COVERS, b"[]")), "covers"))
        if MAP not in meta:
            return PartMap((), (Holder(segment_id, frozenset({0}), covers),))
        data = json.loads(meta[MAP])
        bounds = tuple(_strings(data["bounds"], "bounds"))
        if any(a >= b for a, b in zip(bounds, bounds[1:], strict=False)):
            raise ValueError("bounds are not strictly increasing")
        holders, seen = [], set[int]()
        for h in data["holders"]:
            parts = set(h["parts"])
            if not all(type(p) is int and 0 <= p <= len(bounds) for p in parts):
                raise ValueError(f"parts {sorted(parts)} are not all in 0..{len(bounds)}")
            if parts & seen:
                raise ValueError(f"parts {sorted(parts & seen)} have two holders")
            seen |= parts
            seg = segment_id if h["segment"] == SELF else _strings([h["segment"]], "segment")[0]
            missing = _strings(h.get("missing", []), "missing")
            held = (covers - set(missing)) | set(_strings(h.get("extra", []), "extra"))
            holders.append(Holder(seg, frozenset(parts), frozenset(held)))
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        reason = exc if isinstance(exc, ValueError) else f"{type(exc).__name__}: {exc}"
        raise ValueError(f"its part map is not readable ({reason})") from None
    return PartMap(bounds, tuple(holders))


def _strings(value: Any, what: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{what} is not a list of strings")
    return value


def encode_map(parts: PartMap, covers: Iterable[str]) -> bytes:
    """``parts`` as footer metadata of a checkpoint covering ``covers``."""
    mine = set(covers)
    return json.dumps(
        {
            "bounds": list(parts.bounds),
            "holders": [
                {
                    "segment": h.segment,
                    "parts": sorted(h.parts),
                    "missing": sorted(mine - h.covers),
                    "extra": sorted(h.covers - mine),
                }
                for h in parts.holders
            ],
        }
    ).encode()


def pieces(
    parts: PartMap,
    checkpoints: Mapping[str, Path | str],
    events: list[tuple[str | None, Path | str]],
) -> Pieces:
    """The files the labels are read from: ``checkpoints`` (segment id: location) of the
    revision, ``events`` its label_events files as (segment id, location; staged work
    has no id). A part whose holder the revision lacks is read from the events."""
    out = Pieces(map=parts)
    held: list[Holder] = []
    for h in parts.holders:
        location = checkpoints.get(h.segment)
        if location is not None and h.parts:
            out.state.append((location, parts.ranges(h.parts)))
            held.append(h)
    unheld = set(range(parts.count)).difference(*(h.parts for h in held))
    groups: dict[frozenset[int], list[Path | str]] = {}
    for segment, location in events:
        newer = set(unheld)
        for h in held:
            if segment is None or segment not in h.covers:
                newer |= h.parts
        if newer:
            groups.setdefault(frozenset(newer), []).append(location)
    for group, locations in groups.items():
        ranges = EVERYTHING if len(group) == parts.count else parts.ranges(group)
        out.tail.append((locations, ranges))
    return out


def ranges_sql(ranges: Ranges, column: str = "label_id") -> str:
    """A DuckDB (and Spark) condition: ``column`` in one of ``ranges``."""

    def literal(s: str) -> str:
        return "'" + s.replace("'", "''") + "'"

    terms = []
    for lo, hi in ranges:
        cond = []
        if lo is not None:
            cond.append(f"{column} >= {literal(lo)}")
        if hi is not None:
            cond.append(f"{column} < {literal(hi)}")
        terms.append(" AND ".join(cond) or "true")
    return " OR ".join(f"({t})" for t in terms) if terms else "false"


def footer(txn_meta: Iterable[Mapping[str, Any]], segment_id: str) -> dict[bytes, bytes]:
    """The footer metadata of the checkpoint segment ``segment_id`` written from staged
    transactions with ``txn_meta``: ``self`` becomes ``segment_id``."""

    def named(ids: Iterable[str]) -> list[str]:
        return sorted({segment_id if c == SELF else c for c in ids})

    covers: list[str] = []
    parts = None
    for meta in txn_meta:
        covers += meta.get("covers", [])
        parts = meta.get("parts", parts)
    out = {COVERS: json.dumps(named(covers)).encode()}
    if parts is not None:
        data = json.loads(parts)
        for h in data["holders"]:
            h["missing"], h["extra"] = named(h["missing"]), named(h["extra"])
        out[MAP] = json.dumps(data).encode()
    return out
