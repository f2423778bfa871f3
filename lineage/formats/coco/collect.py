"""One pass over the ``annotations`` list into compact columns.

COCO files reach millions of annotations, so the per-record loop does only what needs
Python (type checks, id look-ups, RLE conversion) and appends numbers to ``array``
buffers; numeric checks (finite values, box sizes and bounds, polygon parts, keypoint
counts and visibility) run afterwards over whole columns (checks.py). Large files come in
slices (chunks.py), each released once read, so the parsed JSON and the columns do not
both stay whole in memory.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lineage import geometry
from lineage.errors import InputError
from lineage.formats.base import RecordErrors, canonical_json, finite
from lineage.formats.coco.load import Categories, Images, whole_number

# Fields the COCO spec defines on an annotation (everything else is kept in attributes).
SPEC_FIELDS = frozenset(
    {"id", "image_id", "category_id", "segmentation", "area", "bbox", "iscrowd"}
    | {"keypoints", "num_keypoints", "score"}
)
# lineage's own per-annotation fields (written by the exporter), mapped to their columns.
STRING_COLUMNS = ("label_id", "annotator_id", "source", "model_version", "guideline_version")
PROVENANCE = frozenset(STRING_COLUMNS) | {"created_at", "rotation", "revision"}
SOURCES = frozenset({"human", "model", "assisted"})
_NAN4 = (math.nan,) * 4


class _Bad(Exception):
    def __init__(self, field: str | None, message: str):
        self.field = field
        self.message = message


@dataclass
class Columns:
    """Annotations that passed the per-record checks, one row each, as flat buffers."""

    src: array = field(default_factory=lambda: array("q"))  # index in the annotations list
    ids: list = field(default_factory=list)  # COCO annotation id (or None)
    image: array = field(default_factory=lambda: array("q"))  # row in Images
    category: array = field(default_factory=lambda: array("q"))  # row in Categories
    bbox: array = field(default_factory=lambda: array("d"))  # 4 per row, NaN when absent
    has_bbox: bytearray = field(default_factory=bytearray)
    poly: array = field(default_factory=lambda: array("d"))  # every polygon coordinate
    part_end: array = field(default_factory=lambda: array("q"))  # end of each part in poly
    parts: array = field(default_factory=lambda: array("q"))  # parts per row
    kp: array = field(default_factory=lambda: array("d"))  # every keypoint triple
    kp_len: array = field(default_factory=lambda: array("q"))  # numbers per row
    has_kp: bytearray = field(default_factory=bytearray)
    score: array = field(default_factory=lambda: array("d"))  # NaN when absent
    area: array = field(default_factory=lambda: array("d"))  # area of rows in the fast form
    iscrowd: bytearray = field(default_factory=bytearray)  # iscrowd of rows in the fast form
    attributes: dict[int, str] = field(default_factory=dict)  # attributes JSON of other rows
    sparse: dict[str, dict[int, Any]] = field(
        default_factory=lambda: {
            c: {} for c in (*STRING_COLUMNS, "created_at", "rotation", "mask_rle")
        }
    )

    def __len__(self) -> int:
        return len(self.src)

    def record(self, row: int) -> str:
        return record_name(self.ids[row], self.src[row])


def record_name(ann_id: Any, index: int) -> str:
    """How errors name an annotation: by its id when it has one, else by position."""
    if isinstance(ann_id, int | str) and not isinstance(ann_id, bool):
        return f"annotation {ann_id}"
    return f"annotations[{index}]"


def rebase_record(record: str, base: int) -> str:
    """A record name given by a slice read on its own (positions from 0), as the whole
    file names it (positions from the slice's first annotation, ``base``)."""
    prefix = "annotations["
    if base and record.startswith(prefix) and record.endswith("]"):
        return record_name(None, int(record[len(prefix) : -1]) + base)
    return record


def collect(
    slices: Iterable[list], images: Images, cats: Categories, file: Path, errors: RecordErrors
) -> Columns:
    """Read every annotation of ``slices`` (the annotations list, whole or in parts) into
    Columns, releasing each as it goes; records that fail a per-record check go to
    ``errors`` and get no row."""
    cols = Columns()
    base = 0
    for anns in slices:
        _collect(anns, base, cols, images, cats, file, errors)
        base += len(anns)
        anns.clear()
    return cols


def _collect(
    anns: list,
    base: int,
    cols: Columns,
    images: Images,
    cats: Categories,
    file: Path,
    errors: RecordErrors,
) -> None:
    """Append the rows of one slice; ``base`` is the slice's first index in the file."""
    img_index, cat_index = images.index, cats.index
    bbox, poly, kp = cols.bbox, cols.poly, cols.kp
    add_coords, add_part_end = poly.extend, cols.part_end.append
    # Bound methods as locals: this loop runs once per annotation, millions of times.
    add_src, add_id, add_image, add_cat = (
        cols.src.append,
        cols.ids.append,
        cols.image.append,
        cols.category.append,
    )
    add_has_bbox, add_parts, add_kp_len = (
        cols.has_bbox.append,
        cols.parts.append,
        cols.kp_len.append,
    )
    add_has_kp, add_score = cols.has_kp.append, cols.score.append
    add_area, add_crowd, attributes = cols.area.append, cols.iscrowd.append, cols.attributes
    nan = math.nan
    nparts_total, kp_total = len(cols.part_end), len(cols.kp)
    for i, a in enumerate(anns, start=base):
        aid = a.get("id") if type(a) is dict else None
        try:
            if type(a) is not dict:
                raise _Bad(None, "an annotation must be a JSON object")
            if aid is not None and type(aid) is not int and type(aid) is not str:
                raise _Bad("id", f"id must be an integer, not {aid!r}")
            ref = a.get("image_id")
            ii = -1 if type(ref) is bool else img_index.get(ref, -1)  # true == 1 in Python
            if ii < 0:
                raise _Bad("image_id", _missing_image(ref, images))
            ref = a.get("category_id")
            ci = -1 if type(ref) is bool else cat_index.get(ref, -1)
            if ci < 0:
                raise _Bad("category_id", f"unknown category id {a.get('category_id')!r}")
            b = a.get("bbox")
            if b is None:
                bbox.extend(_NAN4)
                hb = 0
            elif type(b) is list and len(b) == 4:
                bbox.extend(b)
                hb = 1
            else:
                raise _Bad("bbox", "bbox must be [x, y, width, height]")
            seg = a.get("segmentation")
            nparts = 0
            rle = None
            if type(seg) is list:
                for part in seg:
                    if type(part) is not list:
                        raise _Bad(
                            "segmentation",
                            "a polygon must be a list of parts, each a list of numbers",
                        )
                    add_coords(part)
                    add_part_end(len(poly))
                nparts = len(seg)
            elif type(seg) is dict:
                rle = _rle(seg, images.height[ii], images.width[ii])
            elif seg is not None:
                raise _Bad(
                    "segmentation", "segmentation must be a list of polygons or an RLE object"
                )
            k = a.get("keypoints")
            nk = 0
            if k is not None:
                if type(k) is not list or len(k) % 3:
                    raise _Bad("keypoints", "keypoints must be a flat list of x, y, v triples")
                kp.extend(k)
                nk = len(k)
            s = a.get("score")
            if s is not None and not finite(s):
                raise _Bad("score", f"score must be a finite number, not {s!r}")
            area, crowd = a.get("area"), a.get("iscrowd")
            extra = attrs = None
            if (
                type(area) is float
                and area - area == 0.0  # finite
                and type(crowd) is int
                and (crowd == 0 or crowd == 1)
                and "num_keypoints" not in a
                and SPEC_FIELDS.issuperset(a)
            ):
                pass  # the common case: attributes are formatted in bulk (see attributes.py)
            elif SPEC_FIELDS.issuperset(a):
                attrs = _spec_attributes(a)
            else:
                attrs, extra = _mixed_attributes(a)
        except _Bad as bad:
            _rollback(cols, nparts_total, kp_total)
            errors.bad(bad.message, file=file, record=record_name(aid, i), field=bad.field)
            continue
        except (TypeError, OverflowError, ValueError) as exc:
            _rollback(cols, nparts_total, kp_total)
            where = _type_error_field(a)
            errors.bad(
                f"{where} must hold only numbers ({exc})",
                file=file,
                record=record_name(aid, i),
                field=where,
            )
            continue
        nparts_total += nparts
        kp_total += nk
        row = len(cols.src)
        add_src(i)
        add_id(aid)
        add_image(ii)
        add_cat(ci)
        add_has_bbox(hb)
        add_parts(nparts)
        add_kp_len(nk)
        add_has_kp(k is not None)
        add_score(nan if s is None else s)
        if attrs is None:
            add_area(area)
            add_crowd(crowd)  # type: ignore[arg-type]  # numpy/duckdb stubs
        else:
            add_area(nan)
            add_crowd(0)
            attributes[row] = attrs
        if rle is not None:
            cols.sparse["mask_rle"][row] = rle
        if extra:
            for key, value in extra.items():
                cols.sparse[key][row] = value


def _spec_attributes(a: dict) -> str:
    """Canonical attributes JSON for an annotation with spec fields only (the common case),
    formatted directly: identical to canonical_json, without building a dict per row."""
    return "{" + ",".join(f'"{k}":{v!r}' for k, v in _spec_values(a)) + "}"


def _spec_values(a: dict) -> list[tuple[str, Any]]:
    """The spec fields lineage keeps in attributes (area, iscrowd, num_keypoints), checked,
    in key order."""
    out: list[tuple[str, Any]] = []
    area = a.get("area")
    if area is not None:
        if not finite(area):
            raise _Bad("area", f"area must be a finite number, not {area!r}")
        out.append(("area", area))
    if "iscrowd" in a:
        out.append(("iscrowd", _iscrowd(a["iscrowd"])))
    nk = a.get("num_keypoints")
    if nk is not None:
        if not whole_number(nk) or nk < 0:
            raise _Bad("num_keypoints", f"num_keypoints must be a count, not {nk!r}")
        out.append(("num_keypoints", int(nk)))
    return out


def _iscrowd(value: Any) -> int:
    if value in (0, 1) and (type(value) is int or type(value) is bool):
        return int(value)
    raise _Bad("iscrowd", f"iscrowd must be 0 or 1, not {value!r}")


def _mixed_attributes(a: dict) -> tuple[str, dict]:
    """Attributes and provenance columns of an annotation with non-spec fields
    (CVAT's ``attributes`` object, lineage's provenance fields, anything else)."""
    attrs: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    nested = a.get("attributes")
    if isinstance(nested, dict):
        attrs.update(nested)
    for key, value in a.items():
        if key in SPEC_FIELDS or (key == "attributes" and isinstance(nested, dict)):
            continue
        if key in PROVENANCE:
            if value is not None and key != "revision":  # the store numbers revisions
                extra[key] = _provenance(key, value)
        else:
            attrs[key] = value
    attrs.update(_spec_values(a))
    return canonical_json(attrs), extra


def _provenance(key: str, value: Any) -> Any:
    if key == "rotation":
        if not finite(value):
            raise _Bad(key, f"rotation must be a finite number, not {value!r}")
        return float(value)
    if key == "created_at":
        return _timestamp(value)
    if not isinstance(value, str):
        raise _Bad(key, f"{key} must be a string, not {value!r}")
    if key == "source" and value not in SOURCES:
        raise _Bad(key, f"source must be one of {', '.join(sorted(SOURCES))}, not {value!r}")
    return value


def _timestamp(value: Any) -> datetime:
    try:
        ts = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        ts = None
    if ts is None:
        raise _Bad("created_at", f"created_at must be an ISO 8601 time, not {value!r}")
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


def _rle(seg: dict, height: int | None, width: int | None) -> dict:
    """Canonical mask_rle of an RLE segmentation, checked against the image size."""
    size, counts = seg.get("size"), seg.get("counts")
    if not (type(size) is list and len(size) == 2 and all(whole_number(v) and v > 0 for v in size)):
        raise _Bad("segmentation.size", f"RLE size must be [height, width], not {size!r}")
    h, w = int(size[0]), int(size[1])
    if height is not None and width is not None and (h, w) != (height, width):
        raise _Bad(
            "segmentation.size",
            f"RLE size [{h}, {w}] does not match the image's [height, width] [{height}, {width}]",
        )
    if type(counts) is list:
        if not all(type(c) is int and c >= 0 for c in counts):
            raise _Bad(
                "segmentation.counts", "uncompressed RLE counts must be non-negative integers"
            )
        if sum(counts) != h * w:
            raise _Bad(
                "segmentation.counts",
                f"RLE counts cover {sum(counts)} pixels, the {h}x{w} mask has {h * w}",
            )
    elif type(counts) is not str or not counts:
        raise _Bad("segmentation.counts", "RLE counts must be a list of run lengths or a string")
    try:
        return geometry.rle_from_coco(seg, h, w)
    except InputError as exc:
        raise _Bad("segmentation.counts", exc.reason) from exc


def _missing_image(image_id: Any, images: Images) -> str:
    if image_id in images.skipped:
        return f"image {image_id!r} was skipped as a bad record"
    return f"image {image_id!r} is not listed in images"


def _type_error_field(a: dict) -> str:
    """Which field of an annotation made the fast path fail with a type error."""
    for key in ("image_id", "category_id"):
        try:
            hash(a.get(key))
        except TypeError:
            return key
    seg = a.get("segmentation")
    numeric = {"bbox": [a.get("bbox")], "keypoints": [a.get("keypoints")]}
    numeric["segmentation"] = seg if isinstance(seg, list) else []
    for key, lists in numeric.items():
        for values in lists:
            if isinstance(values, list) and not all(finite(v) or v != v for v in values):
                return key
    return "segmentation"


def _rollback(cols: Columns, nparts_total: int, kp_total: int) -> None:
    """Drop what a failed record appended: buffers back to the lengths the kept rows give."""
    del cols.bbox[4 * len(cols.src) :]
    del cols.part_end[nparts_total:]
    del cols.poly[cols.part_end[-1] if nparts_total else 0 :]
    del cols.kp[kp_total:]
