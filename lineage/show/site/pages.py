"""What each page shows, built from the rows ``lineage.query.site`` reads: the labels
drawn on an asset (with their SVG elements and colour), the histories behind a click,
and the index's entry for the asset."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pyarrow as pa

from lineage.changes import Change
from lineage.show.site.shapes import elements

KINDS = [c.value for c in Change]
UNCHANGED = "unchanged"
CLASS_COLOURS = 10  # the CSS has class-c0 .. class-c9

# What the history panel shows of each revision (geometry beyond the box is drawn, not listed).
HISTORY_FIELDS = (
    "revision", "version", "time", "op", "asset_id", "class_name", "shape", "bbox", "iou",
    "attributes", "attributes_added", "attributes_removed", "attributes_changed",
    "annotator_id", "source", "model_version", "score", "guideline_version", "reviews",
)  # fmt: skip


def class_colour(name: str | None) -> str:
    """A stable colour slot per class name (pages of one revision colour by class)."""
    digest = hashlib.sha256((name or "").encode("utf-8")).digest()
    return f"class-c{digest[0] % CLASS_COLOURS}"


def drawn(
    rows: Iterable[Mapping[str, Any]], skeletons: Mapping[str, Any], *, by_class: bool
) -> list[dict]:
    """The labels of one page, largest first so a small label on a large one stays
    clickable (then A before B); each with its elements, its main kind (the first of its
    kinds; ``unchanged``) and the CSS classes to draw it."""
    out = []
    for i, row in enumerate(sorted(rows, key=lambda r: (-_area(r), r["side"], r["label_id"]))):
        kinds = list(row.get("kinds") or [])
        kind = kinds[0] if kinds else UNCHANGED
        colour = class_colour(row["class_name"]) if by_class else f"kind-{kind}"
        out.append(
            {
                **row,
                "kinds": kinds,
                "kind": kind,
                "css": f"label side-{row['side']} {colour}",
                "elements": elements(row, skeletons, f"mask-{i}"),
            }
        )
    return out


def _area(label: Mapping[str, Any]) -> float:
    b = label.get("bbox")
    return float(b["w"] * b["h"]) if b else 0.0


def canvas_size(asset: Mapping[str, Any], labels: Sequence[Mapping[str, Any]]) -> tuple[int, int]:
    """The image's size, or (not recorded) the extent of its labels."""
    w, h = asset.get("width"), asset.get("height")
    if w and h and w > 0 and h > 0:
        return int(w), int(h)
    right = [lb["bbox"]["x"] + lb["bbox"]["w"] for lb in labels if lb.get("bbox")]
    bottom = [lb["bbox"]["y"] + lb["bbox"]["h"] for lb in labels if lb.get("bbox")]
    return max([64, *[int(r) + 1 for r in right]]), max([64, *[int(b) + 1 for b in bottom]])


def changed_rows(labels: Sequence[Mapping[str, Any]]) -> list[dict]:
    """One table row per changed label of a page: before -> after of what people ask first."""
    by_id: dict[str, dict] = {}
    for lb in labels:
        row = by_id.setdefault(
            lb["label_id"], {"label_id": lb["label_id"], "kinds": lb["kinds"], "iou": lb.get("iou")}
        )
        row[lb["side"]] = lb
    return sorted(by_id.values(), key=lambda r: (not r["kinds"], r["label_id"]))


def kind_counts(labels: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """Changed labels per kind (each label once, though it may be drawn at A and B)."""
    seen: dict[str, list[str]] = {}
    for lb in labels:
        if lb["kinds"]:
            seen[lb["label_id"]] = lb["kinds"]
    counts = Counter(k for kinds in seen.values() for k in kinds)
    return {k: counts[k] for k in KINDS if counts[k]}


def histories(table: pa.Table) -> dict[str, list[dict]]:
    """Revisions per label id, oldest first, as JSON-ready dicts."""
    cols = ["label_id", *HISTORY_FIELDS]
    out: dict[str, list[dict]] = {}
    for row in table.select(cols).to_pylist():
        out.setdefault(row.pop("label_id"), []).append(jsonable(row))
    return out


def jsonable(value: Any) -> Any:
    """Dates as ISO text, NaN as None, recursively (for the pages' JSON)."""
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [jsonable(v) for v in value]
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, float) and value != value:
        return None
    return value


def _box(lb: Mapping[str, Any] | None) -> list[float] | None:
    b = lb.get("bbox") if lb else None
    return [round(b["x"], 1), round(b["y"], 1), round(b["w"], 1), round(b["h"], 1)] if b else None


def index_entry(
    asset_id: str, href: str, image: str | None, size: tuple[int, int], labels: list[dict]
) -> dict:
    """An asset in the index: its changed labels as ``[kinds, classes, annotators, box A,
    box B]`` (classes and annotators before and after; the index filters on them as
    ``lineage diff --class/--annotator`` do, and draws thumbnails from the boxes)."""
    rows = []
    for row in changed_rows(labels):
        if not row["kinds"]:
            continue
        a, b = row.get("a"), row.get("b")
        sides = [s for s in (a, b) if s]
        classes = sorted({s["class_name"] for s in sides if s.get("class_name")})
        annotators = sorted({s["annotator_id"] for s in sides if s.get("annotator_id")})
        rows.append([row["kinds"], classes, annotators, _box(a), _box(b)])
    return {
        "id": asset_id,
        "href": href,
        "image": image,
        "w": size[0],
        "h": size[1],
        "labels": rows,
    }
