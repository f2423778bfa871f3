"""What each page shows, built from the rows ``lineage.query.site`` reads: the labels
drawn on an asset (with their SVG elements and colour), the histories behind a click,
and the index's entry for the asset."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pyarrow as pa
from markupsafe import Markup

from lineage.changes import Change
from lineage.show.site.shapes import elements, markup

KINDS = [c.value for c in Change]
UNCHANGED = "unchanged"
CLASS_COLOURS = 10  # the CSS has class-c0 .. class-c9


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
                "svg": markup(elements(row, skeletons, f"mask-{i}")),
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


ROW_FIELDS = ("class_name", "annotator_id", "shape", "revision")


def _before_after(a: Mapping[str, Any] | None, b: Mapping[str, Any] | None, field: str) -> str:
    va, vb = (a or {}).get(field), (b or {}).get(field)
    if a and b and va != vb:
        return f"{va} → {vb}"
    value = vb if b else va
    return "" if value is None else str(value)


def changed_rows(labels: Sequence[Mapping[str, Any]]) -> list[dict]:
    """One table row per label of a page, changed ones first: its sides (``a``, ``b``)
    and ``before → after`` text of the fields people ask about first."""
    by_id: dict[str, dict] = {}
    for lb in labels:
        row = by_id.setdefault(
            lb["label_id"], {"label_id": lb["label_id"], "kinds": lb["kinds"], "iou": lb.get("iou")}
        )
        row[lb["side"]] = lb
    for row in by_id.values():
        for f in ROW_FIELDS:
            row[f] = _before_after(row.get("a"), row.get("b"), f)
    return sorted(by_id.values(), key=lambda r: (not r["kinds"], r["label_id"]))


def kind_counts(rows: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """Changed labels per kind, from a page's ``changed_rows`` (one row per label)."""
    counts = Counter(k for row in rows for k in row["kinds"])
    return {k: counts[k] for k in KINDS if counts[k]}


def histories(table: pa.Table) -> dict[str, str]:
    """Label id -> its revisions as JSON text (see ``lineage.query.site.histories``)."""
    return dict(
        zip(
            table.column("label_id").to_pylist(), table.column("revisions").to_pylist(), strict=True
        )
    )


def histories_json(histories: Mapping[str, str]) -> Markup:
    """One JSON object of some labels' histories, safe inside a ``<script>`` element (as
    Jinja's ``tojson``: ``<``, ``>``, ``&`` and ``'`` escaped)."""
    body = ",".join(f"{json.dumps(k)}:{v}" for k, v in histories.items())
    for char, code in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("'", "\\u0027")):
        body = body.replace(char, code)
    return Markup("{" + body + "}")


def _box(lb: Mapping[str, Any] | None) -> list[float] | None:
    b = lb.get("bbox") if lb else None
    return [round(b["x"], 1), round(b["y"], 1), round(b["w"], 1), round(b["h"], 1)] if b else None


def index_entry(
    asset_id: str, href: str, image: str | None, size: tuple[int, int], rows: list[dict]
) -> dict:
    """An asset in the index: its changed labels as ``[kinds, classes, annotators, box A,
    box B]`` (classes and annotators before and after; the index filters on them as
    ``lineage diff --class/--annotator`` do, and draws thumbnails from the boxes)."""
    changed = []
    for row in rows:  # changed_rows of the page
        if not row["kinds"]:
            continue
        a, b = row.get("a"), row.get("b")
        sides = [s for s in (a, b) if s]
        classes = sorted({s["class_name"] for s in sides if s.get("class_name")})
        annotators = sorted({s["annotator_id"] for s in sides if s.get("annotator_id")})
        changed.append([row["kinds"], classes, annotators, _box(a), _box(b)])
    return {
        "id": asset_id,
        "href": href,
        "image": image,
        "w": size[0],
        "h": size[1],
        "labels": changed,
    }
