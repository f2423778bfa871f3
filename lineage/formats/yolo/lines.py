"""Parse one YOLO label file into normalised rows, checking each line as Ultralytics'
``verify_image_label`` does.

Line kinds, told apart by column count (``n``):

* detection ``cls cx cy w h`` (5), with a trailing confidence from ``save_conf`` (6);
* segmentation ``cls x1 y1 ... xk yk`` (odd, >= 7: at least 3 points), + confidence (even);
  Ultralytics OBB lines ``cls x1 y1 ... x4 y4`` read as 4-point polygons;
* pose ``cls cx cy w h`` + K x ndim keypoint values (``kpt_shape: [K, ndim]``), + confidence.

Coordinates must lie in [-0.01, 1.01] (Ultralytics' 1 % tolerance, applied to box, polygon and
keypoint x/y); class ids must be whole numbers that ``names`` holds (0 is valid). Exact
duplicate lines are dropped as Ultralytics does, and reported.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lineage.formats.base import RecordErrors

LOW, HIGH = -0.01, 1.01


@dataclass(frozen=True)
class Row:
    line: int
    cls: int
    kind: str  # box | polygon | pose
    values: np.ndarray  # box: cx cy w h; polygon: x y x y ...; pose: box then keypoints
    conf: float | None


@dataclass(frozen=True)
class Grammar:
    names: dict[int, str]
    kpt_shape: tuple[int, int] | None = None
    conf: bool | None = None  # None: tell by the column count
    task: str | None = None  # "segment": every line is a polygon


def read_text(path: Path, errors: RecordErrors) -> str | None:
    try:
        return path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        errors.bad(f"not UTF-8 text: {exc}", file=path)
    except OSError as exc:
        errors.bad(f"cannot read: {exc}", file=path)
    return None


def _numbers(tokens: list[str], path: Path, line: int, errors: RecordErrors) -> np.ndarray | None:
    try:
        values = np.array([float(t) for t in tokens], dtype=np.float64)
    except ValueError:
        bad = next(i for i, t in enumerate(tokens) if not _is_float(t))
        errors.bad(
            f"{tokens[bad]!r} is not a number",
            file=path,
            record=f"line {line}",
            field=f"column {bad + 1}",
        )
        return None
    if not np.isfinite(values).all():
        bad = int(np.flatnonzero(~np.isfinite(values))[0])
        errors.bad(
            f"{tokens[bad]!r} is not a finite number",
            file=path,
            record=f"line {line}",
            field=f"column {bad + 1}",
        )
        return None
    return values


def _is_float(t: str) -> bool:
    try:
        float(t)
    except ValueError:
        return False
    return True


def _split_conf(n: int, g: Grammar) -> tuple[str, bool] | str:
    """(kind, has_conf) for a line of ``n`` columns, or an error message."""
    if g.kpt_shape is not None:
        k, ndim = g.kpt_shape
        want = 5 + k * ndim
        if n == want and g.conf is not True:
            return "pose", False
        if n == want + 1 and g.conf is not False:
            return "pose", True
        return f"{n} columns; kpt_shape {list(g.kpt_shape)} needs {want} (cls, box, {k}x{ndim} keypoint values)"
    segment = g.task == "segment"
    if n == 5 and g.conf is not True and not segment:
        return "box", False
    if n == 6 and g.conf is not False and not segment:
        return "box", True
    if n < 7 and not segment:
        return f"{n} columns; a detection line has 5 (cls cx cy w h)"
    coords = n - 1
    has_conf = g.conf is True or (g.conf is None and coords % 2 == 1)
    coords -= has_conf
    if coords % 2 == 1:
        return f"{n} columns: an odd number of polygon coordinates"
    if coords < 6:
        return f"a polygon of {coords // 2} point(s); a polygon needs at least 3"
    return "polygon", has_conf


def parse(path: Path, g: Grammar, errors: RecordErrors) -> list[Row]:
    """The rows of one label file (CRLF, blank lines and trailing spaces tolerated)."""
    text = read_text(path, errors)
    if text is None:
        return []
    rows: list[Row] = []
    seen: dict[tuple, int] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        tokens = raw.split()
        if not tokens:
            continue
        where: dict = {"file": path, "record": f"line {number}"}
        shape = _split_conf(len(tokens), g)
        if isinstance(shape, str):
            errors.bad(f"wrong column count: {shape}", field="columns", **where)
            continue
        kind, has_conf = shape
        values = _numbers(tokens, path, number, errors)
        if values is None:
            continue
        cls_value = values[0]
        if cls_value != math.floor(cls_value) or int(cls_value) not in g.names:
            known = f"0-{max(g.names)}" if g.names else "none"
            errors.bad(
                f"class id {tokens[0]} is not in names (ids: {known})", field="class", **where
            )
            continue
        conf = float(values[-1]) if has_conf else None
        body = values[1:-1] if has_conf else values[1:]
        if conf is not None and not 0.0 <= conf <= 1.0:
            errors.bad(f"confidence {conf} is not in [0, 1]", field="confidence", **where)
            continue
        problem = _check(kind, body, g)
        if problem:
            field, message = problem
            errors.bad(message, field=field, **where)
            continue
        key = tuple(values.tolist())  # numeric, as Ultralytics' np.unique over rows
        if key in seen:
            errors.skip(
                f"duplicate of line {seen[key]} dropped (as Ultralytics does)",
                file=path,
                record=f"line {number}",
            )
            continue
        seen[key] = number
        rows.append(Row(number, int(cls_value), kind, body, conf))
    return rows


def _check(kind: str, body: np.ndarray, g: Grammar) -> tuple[str, str] | None:
    """(field, message) of the first problem with a line's coordinates, else None."""
    xy = body
    if kind == "pose":
        ndim = g.kpt_shape[1]  # type: ignore[index]  # checked before use
        kpts = body[4:].reshape(-1, ndim)
        xy = np.concatenate([body[:4], kpts[:, :2].ravel()])
        if ndim == 3:
            v = kpts[:, 2]
            if ((v < 0) | (v > 2)).any():
                i = int(np.flatnonzero((v < 0) | (v > 2))[0])
                return f"keypoint {i + 1}", f"visibility {v[i]} is not in 0..2"
    out = (xy < LOW) | (xy > HIGH)
    if out.any():
        i = int(np.flatnonzero(out)[0])
        return _field(kind, i), (
            f"coordinate {xy[i]:g} is outside [0, 1] (normalised; Ultralytics allows 1% overshoot)"
        )
    if kind in ("box", "pose") and (body[2] < 0 or body[3] < 0):
        return "w" if body[2] < 0 else "h", "negative box size"
    return None


def _field(kind: str, i: int) -> str:
    box = ("cx", "cy", "w", "h")
    if kind == "box" or (kind == "pose" and i < 4):
        return box[i]
    if kind == "pose":
        j = i - 4
        return f"keypoint {j // 2 + 1} {'xy'[j % 2]}"
    return f"point {i // 2 + 1} {'xy'[i % 2]}"
