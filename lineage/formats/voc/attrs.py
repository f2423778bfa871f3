"""Attribute values: VOC stores everything as text, lineage as typed JSON.

Reading: ``true/false`` become booleans, canonical integer and float literals numbers,
``[..]``/``{..}`` JSON values; everything else stays a string. Writing reverses it.
A string attribute that looks like a number ("3") therefore comes back as a number;
CVAT writes its number attributes as such strings, so that is usually what one wants.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

_INT = re.compile(r"[+-]?\d+\Z")
_FLOAT = re.compile(r"[+-]?(\d+\.\d*|\.\d+|\d+)([eE][+-]?\d+)?\Z")

# Object children VOC defines itself; everything else goes through <attributes>.
NATIVE = ("pose", "truncated", "difficult", "occluded", "actions", "point")
FLAGS = ("truncated", "difficult", "occluded")
# Provenance lineage writes into each object's <attributes> (VOC has no field for it)
# and maps back to label columns on read.
PROVENANCE = (
    "label_id",
    "annotator_id",
    "source",
    "model_version",
    "guideline_version",
    "score",
    "created_at",
)
PROVENANCE_TEXT = ("label_id", "annotator_id", "model_version", "guideline_version", "source")
SOURCES = ("human", "model", "assisted")


def from_text(text: str | None) -> Any:
    """A typed value from XML text (None for an empty element)."""
    if text is None:
        return None
    s = text.strip()
    if s == "":
        return None
    low = s.lower()
    if low in ("true", "false"):
        return low == "true"
    # numbers only when the text is their canonical form, so "007" or "1e3" stay strings
    # and every value written back reproduces the text it was read from
    if _INT.match(s):
        return int(s) if str(int(s)) == s else s
    if _FLOAT.match(s):
        v = float(s)
        return v if math.isfinite(v) and repr(v) == s else s
    if s[0] in "[{":
        try:
            return json.loads(s)
        except ValueError:
            return s
    return s


def flag(text: str | None) -> Any:
    """difficult / truncated / occluded: 0/1 (and true/false) as booleans; other numbers
    (KITTI-style truncation fractions) and strings kept as they are."""
    value = from_text(text)
    if isinstance(value, int) and not isinstance(value, bool) and value in (0, 1):
        return bool(value)
    return value


def to_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, list | dict):
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return str(value)


def flag_text(value: Any) -> str:
    """A VOC flag element's text: 1/0 for booleans, as VOC tools parse it with int()."""
    if isinstance(value, bool) or value is None:
        return "1" if value else "0"
    return to_text(value)
