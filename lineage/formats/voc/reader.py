"""Read a VOC dataset (root, folder of XML files, or one file) into an ImportBatch."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np

from lineage.errors import InputError
from lineage.formats.base import (
    Comparison,
    ImportBatch,
    ImportOptions,
    RecordErrors,
    sha256_file,
    table_from_records,
)

from . import coords, xmlsafe
from .layout import VocFiles, locate
from .parse import Context, Parsed, parse

_IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".gif"}


def read(path: Path, options: ImportOptions) -> ImportBatch:
    """Parse every annotation under ``path``; boxes in the convention of ``coords``.

    Format options (``options.extra``): ``classes`` (allowed class names; others are
    errors), ``voc_coords`` (``devkit`` | ``continuous``), ``bounds_tolerance`` (fraction
    of the image size a box may stick out, default 0.05), ``owner_is_annotator``.
    """
    path = Path(path)
    extra = options.extra
    classes = extra.get("classes")
    ctx = Context(
        errors=RecordErrors(options.strict),
        conv=coords.convention(extra),
        classes=set(classes) if classes is not None else None,
        tolerance=float(extra.get("bounds_tolerance", 0.05)),
    )
    layout = locate(path, options.images)
    owner_is_annotator = bool(extra.get("owner_is_annotator", False))
    seen: dict[str, Path] = {}
    files: list[Parsed] = []
    for item_id, xml in layout.files:
        try:
            root = xmlsafe.load(xml)
        except InputError as exc:
            ctx.errors.bad(exc.reason, file=xml, record=None, field=None)
            continue
        parsed = parse(root, xml, item_id, ctx)
        if parsed is None:
            continue
        asset_id = parsed.asset["asset_id"]
        if asset_id in seen:
            ctx.errors.bad(
                f"image {asset_id!r} is also annotated by {seen[asset_id]}",
                file=xml,
                record="annotation",
                field="filename",
            )
            continue
        seen[asset_id] = xml
        parsed.asset["split"] = layout.splits.get(item_id)
        _find_image(parsed, layout, item_id)
        if owner_is_annotator and "owner/name" in parsed.source:
            for label in parsed.labels:
                label.setdefault("annotator_id", parsed.source["owner/name"])
        files.append(parsed)

    fractional = sum(
        1 for f in files for lb in f.labels if any(not float(v).is_integer() for v in lb["xyxy"])
    )
    labels = _labels(files, ctx.conv, options)
    notes = list(layout.notes) + _notes(files, ctx.conv, owner_is_annotator, fractional)
    return ImportBatch(
        labels=table_from_records("label_events", labels, file=str(path)),
        assets=table_from_records("assets", [f.asset for f in files], file=str(path)),
        categories=table_from_records("categories", _categories(labels, layout, classes)),
        annotators=table_from_records("annotators", _annotators(labels, options)),
        source_files=[xml for _, xml in layout.files] + layout.source_files,
        skipped=ctx.errors.skipped,
        stable_ids=False,
        notes=notes,
        comparison=COMPARISON,
    )


# Every VOC object has <difficult> and <truncated>; 0 is the same as not saying
COMPARISON = Comparison(
    shapes=frozenset({"box", "rotated box"}),
)


def _labels(files: list[Parsed], conv: str, options: ImportOptions) -> list[dict]:
    """All label rows, boxes converted in one vectorised step, defaults filled."""
    labels = [label for f in files for label in f.labels]
    if not labels:
        return []
    bbox = coords.to_bbox(np.array([label.pop("xyxy") for label in labels]), conv)
    amap = options.annotator_map
    for label, box in zip(labels, bbox.tolist(), strict=True):
        label["bbox"] = box
        who = label.get("annotator_id") or options.annotator
        label["annotator_id"] = amap.get(who, who) if who is not None else None
        label.setdefault("source", options.source)
        label.setdefault("guideline_version", options.guideline)
        if label["source"] in ("model", "assisted"):
            label.setdefault("model_version", options.model_version)
    return labels


def _find_image(parsed: Parsed, layout: VocFiles, item_id: str) -> None:
    """Fill uri, hash, byte size (and size when the XML lacks it) from the image file,
    when it is inside the images folder. Never follows a file name out of that folder."""
    asset = parsed.asset
    base = layout.images
    if base is None or not base.is_dir():
        return
    base = base.resolve()
    name = asset["asset_id"]
    if parsed.fallback_filename:  # the image may not be a .jpg: look for any item_id.*
        stem = base / item_id
        found = sorted(
            p
            for p in (stem.parent.glob(stem.name + ".*") if stem.parent.is_dir() else ())
            if p.suffix.lower() in _IMAGE_SUFFIXES
        )
        if found:
            asset["asset_id"] = found[0].resolve().relative_to(base).as_posix()
            for label in parsed.labels:
                label["asset_id"] = asset["asset_id"]
        name = asset["asset_id"]
    image = (base / name).resolve()
    if base not in image.parents or not image.is_file():
        return
    asset["uri"] = asset["uri"] or str(image)
    asset["sha256"] = sha256_file(image)
    asset["size_bytes"] = image.stat().st_size
    if asset["width"] is None or asset["height"] is None:
        try:
            from PIL import Image

            with Image.open(image) as im:
                asset["width"], asset["height"] = im.size
        except Exception:  # not an image PIL knows: size stays unknown
            pass


def _categories(labels: list[dict], layout: VocFiles, classes) -> list[dict]:
    """Ordinals: the position in labelmap.txt (Datumaro/CVAT numbering, background = 0),
    else in the ``classes`` option, else in the sorted class names (0-based), so the
    numbering does not depend on file order. Classes outside the given order come last."""
    used = sorted({label["class_name"] for label in labels})
    order = layout.labelmap or (list(classes) if classes is not None else [])
    ordinal = {name: i for i, name in enumerate(order) if name != "background"}
    for name in used:
        if name not in ordinal:
            ordinal[name] = max(ordinal.values(), default=-1) + 1
    return [{"class_name": n, "ordinal": i} for n, i in sorted(ordinal.items(), key=lambda t: t[1])]


def _annotators(labels: list[dict], options: ImportOptions) -> list[dict]:
    kinds: dict[str, str] = {}
    for label in labels:
        who = label.get("annotator_id")
        if who is not None:
            kind = "model" if label.get("source") == "model" else "human"
            kinds.setdefault(who, kind)
    return [{"annotator_id": a, "kind": k} for a, k in sorted(kinds.items())]


def _notes(files: list[Parsed], conv: str, owner_is_annotator: bool, fractional: int) -> list[str]:
    notes = [
        f"VOC boxes read with the {conv!r} coordinate convention (see lineage.formats.voc.coords)"
    ]
    fallback = [f.asset["asset_id"] for f in files if f.fallback_filename]
    if fallback:
        notes.append(
            f"{len(fallback)} file(s) have no <filename>; image named after the XML file: "
            + ", ".join(fallback[:5])
        )
    if fractional and conv == "devkit":
        notes.append(
            f"{fractional} box(es) have fractional coordinates, as CVAT/Datumaro exports write "
            "them; if these files come from such a tool, import with voc_coords='continuous'"
        )
    sources = Counter(
        f"{k}={v}" for f in files for k, v in f.source.items() if k.startswith("source/")
    )
    if sources:
        notes.append("source: " + "; ".join(f"{s} ({n} files)" for s, n in sorted(sources.items())))
    owners = sum(1 for f in files if "owner/name" in f.source)
    if owners and not owner_is_annotator:
        notes.append(
            f"{owners} file(s) name an <owner>: in VOC that is the image's Flickr owner, not the "
            "annotator, so it was not used (set owner_is_annotator to use it)"
        )
    return notes
