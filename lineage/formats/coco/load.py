"""Find, parse and check the parts of a COCO file that are not annotations: images, categories.

The JSON is parsed once with orjson (several times faster than the standard library,
which is what pycocotools uses). Images and categories are small next to the annotations,
so they are checked record by record here and handed on as plain lookup tables.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeGuard

import orjson
import pyarrow as pa

from lineage.errors import InputError
from lineage.formats.base import RecordErrors, incoming_schema

DEFAULT_NAME = "annotations.json"


def resolve(path: Path) -> Path:
    """The annotation file ``path`` names: the file itself, or in a folder
    ``annotations.json``, else the one ``*.json`` there (or in ``annotations/``)."""
    path = Path(path)
    if not path.is_dir():
        return path
    if (path / DEFAULT_NAME).is_file():
        return path / DEFAULT_NAME
    found = sorted(path.glob("*.json")) or sorted(path.glob("annotations/*.json"))
    if len(found) == 1:
        return found[0]
    if not found:
        raise InputError("no COCO .json file in this folder", file=path)
    names = ", ".join(p.name for p in found[:5])
    raise InputError(
        f"several .json files in this folder ({names})", file=path, hint="name the file to import"
    )


def parse(path: Path) -> Any:
    """The parsed JSON document at ``path``; a truncated or invalid file is an InputError."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}", file=path) from exc
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        error = exc
    if b"NaN" not in raw and b"Infinity" not in raw:
        raise InputError(
            f"not valid JSON (line {error.lineno}, column {error.colno}): {error.msg}", file=path
        ) from error
    try:
        # The standard parser reads NaN / Infinity, which orjson refuses: the record
        # checks then name the annotation and field that holds them.
        return json.loads(raw)
    except (ValueError, RecursionError):
        raise InputError(
            f"not valid JSON (line {error.lineno}, column {error.colno}): {error.msg}",
            file=path,
        ) from error


def whole_number(value: Any) -> TypeGuard[float]:
    """An int, or a float with no fractional part (some tools write 640.0 for sizes)."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    return isinstance(value, float) and math.isfinite(value) and value.is_integer()


@dataclass
class Images:
    """The images of one file: COCO id -> row, and the columns of the assets table."""

    index: dict[Any, int] = field(default_factory=dict)
    file_name: list[str] = field(default_factory=list)
    width: list[int | None] = field(default_factory=list)
    height: list[int | None] = field(default_factory=list)
    uri: list[str | None] = field(default_factory=list)
    skipped: set[Any] = field(default_factory=set)  # ids of images left out as bad

    def table(self, split: str | None) -> pa.Table:
        n = len(self.file_name)
        ids: list[str | None] = [None] * n
        for iid, row in self.index.items():
            ids[row] = str(iid)
        return pa.Table.from_pydict(
            {
                "asset_id": self.file_name,
                "uri": self.uri,
                "width": self.width,
                "height": self.height,
                "split": [split] * n,
                "external_id": ids,
            },
            schema=pa.schema([f for f in incoming_schema("assets") if f.name in _ASSET_COLS]),
        ).select(_ASSET_COLS)


_ASSET_COLS = ["asset_id", "uri", "width", "height", "split", "external_id"]


def images(doc: dict, file: Path, errors: RecordErrors) -> Images:
    """Check and index ``doc["images"]``: unique ids and file names, positive sizes."""
    out = Images()
    names: set[str] = set()
    for i, img in enumerate(section(doc, "images", file)):
        record = f"images[{i}]"
        if not isinstance(img, dict):
            errors.bad("an image must be a JSON object", file=file, record=record)
            continue
        iid = img.get("id")
        if not (whole_number(iid) or isinstance(iid, str)):
            errors.bad(
                f"image id must be an integer, not {iid!r}", file=file, record=record, field="id"
            )
            continue
        record = f"image {iid}"
        name = img.get("file_name")
        problem = _image_problem(img, iid, name, out.index, names)
        if problem:
            errors.bad(problem[1], file=file, record=record, field=problem[0])
            out.skipped.add(iid)
            continue
        out.index[iid] = len(out.file_name)
        names.add(name)  # type: ignore[arg-type]  # checked before use
        out.file_name.append(name)  # type: ignore[arg-type]  # checked before use
        out.width.append(_int_or_none(img.get("width")))
        out.height.append(_int_or_none(img.get("height")))
        url = img.get("coco_url") or img.get("flickr_url")
        out.uri.append(url if isinstance(url, str) and url else None)
    return out


def _image_problem(img: dict, iid, name, index: dict, names: set) -> tuple[str, str] | None:
    if iid in index:
        return "id", f"image id {iid} is listed twice"
    if not isinstance(name, str) or not name:
        return "file_name", "file_name must be a non-empty string"
    if name in names:
        return "file_name", f"file_name {name!r} is listed twice"
    for key in ("width", "height"):
        value = img.get(key)
        if value is not None and not (whole_number(value) and 0 < value < 2**31):
            return key, f"{key} must be a positive integer below 2^31, not {value!r}"
    return None


def _int_or_none(value: Any) -> int | None:
    return int(value) if value is not None else None


@dataclass
class Categories:
    """The categories of one file: COCO id -> row, and the columns of the categories table."""

    index: dict[Any, int] = field(default_factory=dict)
    name: list[str] = field(default_factory=list)
    ordinal: list[int | None] = field(default_factory=list)
    supercategory: list[str | None] = field(default_factory=list)
    keypoint_names: list[list[str] | None] = field(default_factory=list)
    skeleton: list[list[list[int]] | None] = field(default_factory=list)

    def table(self) -> pa.Table:
        cols = ["class_name", "ordinal", "supercategory", "keypoint_names", "skeleton"]
        schema = incoming_schema("categories")
        return pa.Table.from_arrays(
            [
                pa.array(self.name, schema.field("class_name").type),
                pa.array(self.ordinal, schema.field("ordinal").type),
                pa.array(self.supercategory, schema.field("supercategory").type),
                pa.array(self.keypoint_names, schema.field("keypoint_names").type),
                pa.array(self.skeleton, schema.field("skeleton").type),
            ],
            names=cols,
        )


def categories(doc: dict, file: Path, errors: RecordErrors) -> Categories:
    """Check and index ``doc["categories"]``: unique ids and names, keypoint names, skeleton."""
    out = Categories()
    for i, cat in enumerate(section(doc, "categories", file, required=False)):
        record = f"categories[{i}]"
        if not isinstance(cat, dict):
            errors.bad("a category must be a JSON object", file=file, record=record)
            continue
        cid = cat.get("id")
        if not (whole_number(cid) or isinstance(cid, str)):
            errors.bad(
                f"category id must be an integer, not {cid!r}", file=file, record=record, field="id"
            )
            continue
        problem = _category_problem(cat, cid, out)
        if problem:
            errors.bad(problem[1], file=file, record=f"category {cid}", field=problem[0])
            continue
        out.index[cid] = len(out.name)
        out.name.append(cat["name"])
        out.ordinal.append(int(cid) if whole_number(cid) and abs(cid) < 2**31 else None)
        sup = cat.get("supercategory")
        out.supercategory.append(sup if isinstance(sup, str) and sup else None)
        names = cat.get("keypoints")
        out.keypoint_names.append(list(names) if names else None)
        skeleton = cat.get("skeleton")
        out.skeleton.append([[int(a), int(b)] for a, b in skeleton] if skeleton else None)
    return out


def _category_problem(cat: dict, cid, out: Categories) -> tuple[str, str] | None:
    if cid in out.index:
        return "id", f"category id {cid} is listed twice"
    name = cat.get("name")
    if not isinstance(name, str) or not name:
        return "name", "name must be a non-empty string"
    if name in out.name:
        return "name", f"category name {name!r} is used by two ids"
    names = cat.get("keypoints")
    if names is not None and not (
        isinstance(names, list) and all(isinstance(n, str) for n in names)
    ):
        return "keypoints", "keypoints must be a list of names"
    skeleton = cat.get("skeleton")
    k = len(names or [])
    if skeleton is not None and not (
        isinstance(skeleton, list)
        and all(
            isinstance(e, list) and len(e) == 2 and all(whole_number(j) and 1 <= j <= k for j in e)
            for e in skeleton
        )
    ):
        return "skeleton", f"skeleton must be pairs of keypoint numbers 1..{k}"
    return None


def section(doc: dict, key: str, file: Path, *, required: bool = True) -> list:
    """``doc[key]`` as a list; a missing (when required) or non-list value is an InputError."""
    value = doc.get(key)
    if value is None and not required:
        return []
    if value is None:
        raise InputError(f"no '{key}' list: not a COCO annotation file", file=file, field=key)
    if not isinstance(value, list):
        raise InputError(f"'{key}' must be a list", file=file, field=key)
    return value
