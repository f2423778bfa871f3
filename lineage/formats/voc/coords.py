"""VOC box coordinates <-> lineage bbox (x, y, w, h in pixels, top-left corner).

VOC's devkit documents ``bndbox`` as 1-based pixel indices, inclusive: a box with
xmin=1, xmax=W covers the whole image, and the devkit computes areas as
``(xmax - xmin + 1) * (ymax - ymin + 1)``. Detectron2 reads VOC the same way
(``xmin -= 1``; ``xmax`` kept). That is the default ("devkit"):

    x = xmin - 1,  y = ymin - 1,  w = xmax - xmin + 1,  h = ymax - ymin + 1

Datumaro and CVAT instead read and write the numbers as continuous coordinates
(x = xmin, w = xmax - xmin), and their VOC exports carry floats. ``"continuous"``
follows them. torchvision's VOCDetection and labelImg pass the numbers through
untouched (labelImg clamps xmin/ymin to >= 1 when saving, i.e. it treats them as 1-based).
Reader and writer use the same convention, so a round trip is exact either way.
"""

from __future__ import annotations

import numpy as np

from lineage.errors import InputError

CONVENTIONS = ("devkit", "continuous")


def convention(extra: dict) -> str:
    value = extra.get("voc_coords", "devkit")
    if value not in CONVENTIONS:
        raise InputError(
            f"unknown VOC coordinate convention {value!r}",
            field="voc_coords",
            hint=f"one of: {', '.join(CONVENTIONS)}",
        )
    return value


def _offset(conv: str) -> float:
    return 1.0 if conv == "devkit" else 0.0


def to_bbox(xyxy: np.ndarray, conv: str) -> np.ndarray:
    """(n, 4) xmin, ymin, xmax, ymax as written in the XML -> (n, 4) x, y, w, h."""
    xyxy = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4)
    off = _offset(conv)
    x0 = xyxy[:, 0:2] - off
    return np.hstack([x0, xyxy[:, 2:4] - x0])


def to_xyxy(bbox: np.ndarray, conv: str) -> np.ndarray:
    """(n, 4) x, y, w, h -> (n, 4) xmin, ymin, xmax, ymax to write in the XML."""
    bbox = np.asarray(bbox, dtype=np.float64).reshape(-1, 4)
    off = _offset(conv)
    return np.hstack([bbox[:, 0:2] + off, bbox[:, 0:2] + bbox[:, 2:4]])


def extent(xmin: float, xmax: float, conv: str) -> tuple[float, float]:
    """The continuous span [start, end) in pixels that ``xmin..xmax`` covers."""
    return xmin - _offset(conv), xmax


def number_text(value: float) -> str:
    """A coordinate as XML text: integers without a decimal point (what VOC tools expect),
    other values rounded to 1e-6 px so float noise from the +-1 shift never shows."""
    v = round(float(value), 6)
    return str(int(v)) if v.is_integer() else repr(v)
