"""What an import hands the store: the incoming tables and how to compare them.

Format readers (``lineage.formats``) fill these; the store resolves label identity
against them (``lineage.store.identity``) and stages one transaction. They live in
the store because the store defines what it accepts; ``lineage.formats.base``
re-exports them for format authors.
"""

from __future__ import annotations

import json
from collections.abc import Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from lineage.errors import InputError
from lineage.store import schema as schemas


@dataclass
class ImportOptions:
    """How to read one export and record it: options common to every format (``extra``
    holds format-specific ones) and how the store matches and applies it."""

    annotator: str | None = None  # fills annotator_id where the file has none
    guideline: str | None = None  # fills guideline_version where the file has none
    source: str | None = None  # human | model | assisted, where the file has none
    model_version: str | None = None
    strict: bool = True  # strict: first bad record raises; lenient: skip and report
    annotator_map: dict[str, str] = field(default_factory=dict)  # tool user id/email -> id
    sizes: Path | None = None  # YOLO: file of image sizes when the images are absent
    images: Path | None = None  # where the images are, when not beside the labels
    match: str = "auto"  # auto | ids | iou : how labels are matched to existing ones
    # snapshot: labels of the imported images missing from the file are deleted; patch:
    # kept. None: snapshot, but patch for a native file that names label ids or deletes
    mode: str | None = None
    iou_threshold: float = 0.5  # IoU matching: below this a label is new, not moved
    # a reader that can (COCO, large files) hands a file over in parts of about this many
    # labels (ImportBatch.rest), so memory holds one part; None: the whole file at once
    part_rows: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def check(self) -> None:
        """Refuse values no format accepts, naming the option."""
        if self.mode not in (None, "snapshot", "patch"):
            raise InputError(f"mode must be snapshot or patch, not '{self.mode}'", field="mode")
        if self.source is not None and self.source not in ("human", "model", "assisted"):
            raise InputError(
                f"'{self.source}' is not one of human, model, assisted", field="source"
            )
        if self.match not in ("auto", "ids", "iou"):
            raise InputError(f"match must be auto, ids or iou, not '{self.match}'", field="match")


@dataclass(frozen=True)
class Skipped:
    """A record an importer passed over, with why (``--lenient`` reports these)."""

    file: str
    record: str
    field: str | None
    reason: str


@dataclass(frozen=True)
class Comparison:
    """What a format carries, so that re-importing an unchanged export compares only that
    and makes no event (README, "Round trips"). A field the format cannot carry is never a
    change; when a label did change, such fields come from the command-line options or
    are left unknown."""

    columns: frozenset[str] | None = None  # content columns the format carries (None: all)
    # attribute keys derived from the geometry (COCO's area) or added by a format: in
    # every format, an area alone is no change (it follows from the shape)
    # (and Label Studio's from_name / to_name, which name the project's controls)
    ignore_attributes: frozenset[str] = frozenset({"area", "num_keypoints", "from_name", "to_name"})
    # (key, values that mean the same as no key): the formats' standard flags, whose
    # spec default is false (COCO iscrowd, VOC difficult/truncated, CVAT occluded)
    attribute_defaults: tuple[tuple[str, tuple[str, ...]], ...] = tuple(
        (flag, ("0", "false")) for flag in ("iscrowd", "difficult", "truncated", "occluded")
    ) + (("z_order", ("0",)),)
    # coordinates equal within this (pixels: far below any annotation tool's precision,
    # above the float noise of percent and normalised coordinates) ...
    tolerance_px: float = 0.01
    tolerance_rel: float = 0.0  # ... plus this share of the image's larger side
    # shapes the format can draw (None: all); a label of another shape travels as its
    # box or not at all, so only its box is compared and a snapshot never deletes it
    shapes: frozenset[str] | None = None
    # per shape, the geometry columns the format keeps for it (others: all of them); e.g.
    # a CVAT skeleton keeps its points, and its box is derived from them
    shape_columns: tuple[tuple[str, frozenset[str]], ...] = ()

    def carries(self, column: str) -> bool:
        return self.columns is None or column in self.columns


EVERYTHING = Comparison()


@dataclass
class ImportBatch:
    """What a reader found, in the incoming schemas (see ``incoming_schema``)."""

    labels: pa.Table
    assets: pa.Table | None = None
    categories: pa.Table | None = None
    annotators: pa.Table | None = None
    reviews: pa.Table | None = None
    source_files: list[Path] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    # True when external_id is a stable id of the source tool (Label Studio region id,
    # CVAT track id, COCO annotation id): re-imports then match by id, not by IoU.
    stable_ids: bool = False
    notes: list[str] = field(default_factory=list)
    # What to call each label row in errors found after reading (e.g. "line 12",
    # "annotation 42"); None: "record <row + 1>".
    record_names: list[str] | None = None
    comparison: Comparison = EVERYTHING
    # A file read in parts (``ImportOptions.part_rows``): the further parts, read as they
    # are taken; each holds ``labels`` (and the ``skipped`` records found so far) only.
    # Reading one may raise ``PartsFailed``.
    rest: Generator[ImportBatch, None, None] | None = None


class PartsFailed(Exception):
    """A file read in parts needs to be read whole after all (a cut fell inside a record,
    or its records need the whole file, e.g. an id used in two parts): nothing it
    staged counts, and the import starts over without parts."""


# --------------------------------------------------------------------------- schemas

_DROP = {
    "label_events": {"revision", "txn_id"},
    "reviews": {"txn_id"},
    "assets": {"txn_id"},
    "categories": {"txn_id"},
    "annotators": {"txn_id"},
}
_OPTIONAL = {
    "label_events": {"label_id", "op", "attributes", "shape"},
    "reviews": {"review_id", "label_id", "revision", "kind"},
}


def incoming_schema(table: str) -> pa.Schema:
    """The schema a reader fills for ``table``: the store schema without the columns
    the store assigns, and with label/review ids optional. Reviews also carry
    ``label_external_id`` to name their label by the source tool's id."""
    base = schemas.schema(table)
    fields = []
    for f in base:
        if f.name in _DROP.get(table, ()):
            continue
        if f.name in _OPTIONAL.get(table, ()):
            f = f.with_nullable(True)
        fields.append(f)
    if table == "reviews":
        fields.append(pa.field("label_external_id", pa.string()))
    return pa.schema(fields)


def table_from_records(table: str, records: list[dict], *, file: str | None = None) -> pa.Table:
    """Build an incoming table from dicts (keys = column names; ``attributes`` may be a dict,
    ``bbox`` a dict or [x, y, w, h]). Missing keys become null."""
    target = incoming_schema(table)
    if table == "label_events":
        for r in records:
            attrs = r.get("attributes")
            if attrs is None or isinstance(attrs, dict):
                r["attributes"] = canonical_json(attrs or {})
            b = r.get("bbox")
            if isinstance(b, list | tuple):
                r["bbox"] = {"x": b[0], "y": b[1], "w": b[2], "h": b[3]}
    try:
        return pa.Table.from_pylist(records, schema=target)
    except (
        pa.ArrowInvalid,
        pa.ArrowTypeError,
        TypeError,
        OverflowError,
        UnicodeEncodeError,
    ) as exc:
        raise InputError(f"cannot build {table} rows: {exc}", file=file) from exc


def canonical_json(obj: Any) -> str:
    """Attributes as stored: compact JSON with sorted keys, so equal attributes compare equal."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
