"""Whole-column checks of the collected annotations, in NumPy.

Each check finds its bad rows at once; a message is only formatted for rows that fail.
The result maps row -> (field, message), first failure per row.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pyarrow as pa

from lineage.formats.coco.collect import Columns
from lineage.formats.coco.load import Categories, Images

Problems = dict[int, tuple[str, str]]


def flat(buf, dtype=np.float64) -> np.ndarray:
    """A zero-copy NumPy view of an ``array`` buffer (an empty array when empty)."""
    if isinstance(buf, np.ndarray):
        return buf
    return np.frombuffer(buf, dtype=dtype) if len(buf) else np.zeros(0, dtype)


def image_sizes(cols: Columns, images: Images) -> tuple[np.ndarray, np.ndarray]:
    """Width and height of each row's image (NaN when the file does not give them)."""
    w = np.array([np.nan if v is None else v for v in images.width], np.float64)
    h = np.array([np.nan if v is None else v for v in images.height], np.float64)
    idx = flat(cols.image, np.int64)
    return (w[idx], h[idx]) if len(w) else (np.zeros(0), np.zeros(0))


def problems(cols: Columns, images: Images, cats: Categories) -> Problems:
    """Every row that fails a column check, with the first field and reason."""
    found: Problems = {}
    for rows, field, message in _all_checks(cols, images, cats):
        for r in np.unique(rows):
            found.setdefault(int(r), (field, message(int(r))))
    return found


def _all_checks(cols: Columns, images: Images, cats: Categories) -> Iterator:
    yield from _bbox_checks(cols, images)
    yield from _polygon_checks(cols)
    yield from _keypoint_checks(cols, cats)
    yield from _duplicate_ids(cols)


def _bbox_checks(cols: Columns, images: Images) -> Iterator:
    box = flat(cols.bbox).reshape(-1, 4)
    has = flat(cols.has_bbox, np.uint8).astype(bool)

    def shown(r: int) -> str:
        return "[" + ", ".join(f"{v:g}" for v in box[r]) + "]"

    with np.errstate(invalid="ignore"):
        bad = has & ~np.isfinite(box).all(axis=1)
        yield np.flatnonzero(bad), "bbox", lambda r: f"bbox {shown(r)} holds a non-finite number"
        ok = has & ~bad
        negative = ok & ((box[:, 2] < 0) | (box[:, 3] < 0))
        yield (
            np.flatnonzero(negative),
            "bbox",
            lambda r: f"bbox {shown(r)} has a negative width or height",
        )
        w, h = image_sizes(cols, images)
        x, y, bw, bh = box.T
        # A few pixels out is common in real exports; a whole image size out is an error.
        far = ok & ~negative & ((x < -w) | (y < -h) | (x + bw > 2 * w) | (y + bh > 2 * h))
        yield (
            np.flatnonzero(far),
            "bbox",
            lambda r: f"bbox {shown(r)} lies far outside the {w[r]:g}x{h[r]:g} image",
        )


def _rows_of(positions: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Which segment each flat position falls in, given the segments' cumulative ends."""
    return np.searchsorted(ends, positions, side="right")


def _polygon_checks(cols: Columns) -> Iterator:
    values = flat(cols.poly)
    part_end = flat(cols.part_end, np.int64)
    row_end = np.cumsum(flat(cols.parts, np.int64))  # cumulative parts per row
    part_len = np.diff(part_end, prepend=0)

    def part_of(r: int, part: int) -> int:
        return int(part - (row_end[r] - cols.parts[r]))

    bad_values = np.flatnonzero(~np.isfinite(values))
    bad_parts = _rows_of(bad_values, part_end)
    yield (
        _rows_of(bad_parts, row_end),
        "segmentation",
        lambda r: "polygon holds a non-finite number",
    )
    short = np.flatnonzero((part_len < 6) | (part_len % 2 == 1))
    rows = _rows_of(short, row_end)
    first: dict[int, int] = {}
    for r, part in zip(rows.tolist(), short.tolist(), strict=True):
        first.setdefault(r, part)  # the first bad part of each row

    def message(r: int) -> str:
        part = first[r]
        n = int(part_len[part])
        why = "an odd number of coordinates" if n % 2 else "fewer than 3 points"
        return f"polygon part {part_of(r, part)} has {n} numbers: {why}"

    yield rows, "segmentation", message


def _keypoint_checks(cols: Columns, cats: Categories) -> Iterator:
    values = flat(cols.kp)
    kp_len = flat(cols.kp_len, np.int64)
    has = flat(cols.has_kp, np.uint8).astype(bool)
    names = np.array([len(n or ()) for n in cats.keypoint_names], np.int64)
    expected = 3 * names[flat(cols.category, np.int64)] if len(names) else np.zeros(0, np.int64)
    wrong = np.flatnonzero(has & (kp_len != expected))
    category = flat(cols.category, np.int64)

    def count_message(r: int) -> str:
        name, k = cats.name[category[r]], expected[r] // 3
        if not k:
            return f"category '{name}' has no keypoint names, the annotation has keypoints"
        return f"{kp_len[r]} keypoint numbers: category '{name}' has {k} names, so needs {3 * k}"

    yield wrong, "keypoints", count_message
    ends = np.cumsum(kp_len)
    yield (
        _rows_of(np.flatnonzero(~np.isfinite(values)), ends),
        "keypoints",
        lambda r: "keypoints hold a non-finite number",
    )
    v = values[2::3]
    bad_v = np.flatnonzero(~np.isin(v, (0.0, 1.0, 2.0)))
    yield (
        _rows_of(bad_v * 3 + 2, ends),
        "keypoints",
        lambda r: "keypoint visibility must be 0, 1 or 2",
    )


def visible_keypoints(cols: Columns) -> np.ndarray:
    """Per row, how many keypoints have v > 0."""
    values = flat(cols.kp)
    counts = np.concatenate([[0], np.cumsum(values[2::3] > 0)])
    ends = np.cumsum(flat(cols.kp_len, np.int64)) // 3
    starts = ends - flat(cols.kp_len, np.int64) // 3
    return counts[ends] - counts[starts]


def _duplicate_ids(cols: Columns) -> Iterator:
    try:
        ids = pa.array(cols.ids, pa.int64())
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        ids = None
    if ids is not None:
        arr = ids.fill_null(np.iinfo(np.int64).min).to_numpy()
    else:
        arr = np.array([repr(i) for i in cols.ids])
    order = np.argsort(arr, kind="stable")
    ordered = arr[order]
    dup = order[1:][ordered[1:] == ordered[:-1]]
    dup = dup[[cols.ids[r] is not None for r in dup]] if len(dup) else dup
    yield dup, "id", lambda r: f"annotation id {cols.ids[r]} is used twice"


class SeenIds:
    """The annotation ids of the parts of a file read one after another, kept compact
    (8 bytes per whole-number id), to find an id that two parts use."""

    _NONE = np.iinfo(np.int64).min  # no id

    def __init__(self) -> None:
        self._ints: list[np.ndarray] = []
        self._other: list = []

    def add(self, ids: list) -> None:
        try:
            self._ints.append(pa.array(ids, pa.int64()).fill_null(self._NONE).to_numpy())
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
            self._other += [i for i in ids if i is not None]

    def repeated(self) -> list:
        """Every id used more than once, in order."""
        out: list = []
        if self._ints:
            every = np.concatenate(self._ints)
            values, counts = np.unique(every[every != self._NONE], return_counts=True)
            out += values[counts > 1].tolist()
        seen: set[str] = set()
        for i in self._other:
            key = repr(i)
            if key in seen and i not in out:
                out.append(i)
            seen.add(key)
        return out
