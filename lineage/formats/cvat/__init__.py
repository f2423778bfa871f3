"""CVAT for images 1.1 XML (``annotations.xml``): import and export.

Shapes become label events (box, polygon, polyline, points, mask, skeleton ->
keypoints, tag -> classification); job assignees become annotators; CVAT's
``source`` becomes human / model / assisted. Tracks of video tasks become one
label per visible frame, with the track id as a stable external id.
"""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

from lineage.errors import InputError
from lineage.formats.base import (
    Comparison,
    ExportInput,
    ExportOptions,
    ExportResult,
    ImportBatch,
    ImportOptions,
    RecordErrors,
    table_from_records,
    union_box,
)
from lineage.formats.cvat.reader import Parsed, read_xml
from lineage.formats.cvat.writer import write_xml
from lineage.formats.validate import validate_labels

_HEAD = 4096


def _files(path: Path) -> list[Path]:
    path = Path(path)
    if path.is_dir():
        main = path / "annotations.xml"
        return [main] if main.is_file() else sorted(path.glob("*.xml"))
    return [path]


def detect(path: Path) -> float:
    """0.95 for an XML file (or a folder with one) whose root is <annotations> with a
    CVAT <version> or <meta>; 0.6 for <annotations> with <image>/<track>; else 0."""
    files = [f for f in _files(path) if f.suffix.lower() == ".xml" and f.is_file()]
    if not files:
        return 0.0
    try:
        with open(files[0], "rb") as fh:
            head = fh.read(_HEAD).decode("utf-8", "replace")
    except OSError:
        return 0.0
    if "<annotations" not in head:
        return 0.0
    if "<version>1.1</version>" in head or "<meta>" in head:
        return 0.95
    if "<image " in head or "<track " in head:
        return 0.6
    return 0.0


def _categories(parsed: list[Parsed]) -> list[dict]:
    rows: dict[str, dict] = {}
    for part in parsed:
        meta = part.meta
        for name in part.classes:
            if name in rows:
                continue
            names = meta.keypoint_names(name) or part.keypoint_names.get(name)
            rows[name] = {
                "class_name": name,
                "keypoint_names": names or None,
                "skeleton": meta.skeleton_edges(name) or None,
            }
        for label in part.labels:
            name = label["class_name"]
            if name is not None and name not in rows:
                rows[name] = {"class_name": name, "keypoint_names": part.keypoint_names.get(name)}
    return list(rows.values())


def _notes(parsed: list[Parsed], labels: list[dict]) -> list[str]:
    notes = [n for p in parsed for n in p.notes]
    from_file = sum(p.from_file for p in parsed)
    if from_file:
        notes.append(
            f"{from_file} shape(s) have source=file (CVAT imported them from an annotation file "
            "and kept no record of who made them): recorded as human, by the job's assignee"
        )
    if any((r["external_id"] or "").startswith("track:") for r in labels):
        notes.append(
            "track ids are CVAT's export numbering: stable across re-exports of the same "
            "task as long as no earlier track is deleted"
        )
    for p in parsed:
        segs = sorted(p.meta.segments, key=lambda s: (s.task_id or "", s.start))
        if any(a.task_id == b.task_id and b.start <= a.stop for a, b in pairwise(segs)):
            notes.append(
                f"{p.path.name}: jobs overlap; shapes on shared frames are credited to the "
                "assignee of the earlier job"
            )
    return notes


def _annotators(labels: list[dict], parsed: list[Parsed]) -> list[dict]:
    """One row per annotator: CVAT users are human; an --annotator whose every label
    is model-made is a model."""
    people = {k: v for p in parsed for k, v in p.people.items()}
    sources: dict[str, set] = {}
    for r in labels:
        if r["annotator_id"] is not None:
            sources.setdefault(r["annotator_id"], set()).add(r["source"])
    return [
        {
            "annotator_id": a,
            "kind": "model" if a not in people and sources[a] == {"model"} else "human",
            "name": people[a].username if a in people else None,  # type: ignore[union-attr]  # checked before use
        }
        for a in sorted(sources)
    ]


def _join_parts(labels: list[dict], records: list) -> tuple[list[dict], list]:
    """Shapes that our writer split from one multi-part polygon or polyline (they share a
    ``lineage.label_id``, and a ``group_id`` the writer made up) are one label again."""
    first: dict[str, int] = {}
    out: list = []
    names: list = []
    joined: set[int] = set()
    for row, name in zip(labels, records, strict=True):
        lid = row.get("label_id")
        at = first.get(lid) if lid else None
        if at is not None and row["shape"] in ("polygon", "polyline"):
            base = out[at]
            if base["shape"] == row["shape"] and base["asset_id"] == row["asset_id"]:
                base["polygon"] = list(base["polygon"]) + list(row["polygon"])
                base["bbox"] = union_box(base["bbox"], row["bbox"])
                joined.add(at)
                continue
        if lid:
            first.setdefault(lid, len(out))
        out.append(row)
        names.append(name)
    for at in joined:
        out[at]["attributes"].pop("group_id", None)
    return out, names


def read(path: Path, options: ImportOptions) -> ImportBatch:
    """Parse a CVAT for images 1.1 export (a file, or a folder holding annotations.xml
    or one XML file per subset)."""
    files = _files(path)
    if not files:
        raise InputError("no CVAT XML file here", file=path, hint="expected annotations.xml")
    errors = RecordErrors(options.strict)
    names: set[str] = set()
    per_subset = len(files) > 1  # Datumaro's layout: train.xml, val.xml, ...
    parsed = [
        read_xml(f, options, errors, names=names, subset=f.stem if per_subset else None)
        for f in files
    ]
    labels = [row for p in parsed for row in p.labels]
    records = [f"{p.path.name}: {r}" if per_subset else r for p in parsed for r in p.records]
    labels, records = _join_parts(labels, records)
    label_table = table_from_records("label_events", labels, file=str(path))
    validate_labels(label_table, file=str(path), records=records)
    assets = {a["asset_id"]: a for p in parsed for a in p.assets}
    return ImportBatch(
        labels=label_table,
        assets=table_from_records("assets", list(assets.values()), file=str(path)),
        categories=table_from_records("categories", _categories(parsed), file=str(path)),
        annotators=table_from_records("annotators", _annotators(labels, parsed), file=str(path)),
        source_files=files,
        skipped=errors.skipped,
        stable_ids=any(r["external_id"] is not None for r in labels),
        notes=_notes(parsed, labels),
        comparison=COMPARISON,
    )


# Every CVAT shape says occluded="0|1"; coordinates are written to 6 decimals
COMPARISON = Comparison(
    shape_columns=(("keypoints", frozenset({"keypoints"})),),
)


def write(data: ExportInput, out: Path, options: ExportOptions) -> ExportResult:
    """Write ``out/annotations.xml`` in CVAT for images 1.1."""
    return write_xml(data, Path(out), options)
