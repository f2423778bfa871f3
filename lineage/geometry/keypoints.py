"""Keypoints: their box, and COCO's object keypoint similarity (OKS)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from lineage.errors import GeometryError
from lineage.geometry.boxes import _div

# COCOeval's per-keypoint sigmas for the 17 COCO person keypoints.
COCO_SIGMAS = np.array([0.26, 0.25, 0.25, 0.35, 0.35, 0.79, 0.79, 0.72, 0.72, 0.62, 0.62, 1.07, 1.07, 0.87, 0.87, 0.89, 0.89]) / 10.0  # fmt: skip
# Other skeletons get one sigma for every point: COCO's mean.
DEFAULT_SIGMA = float(COCO_SIGMAS.mean())


def keypoints_bbox(kps: list[float]) -> tuple[float, float, float, float] | None:
    """Envelope x, y, w, h of the labelled (v > 0) keypoints; None when none is labelled."""
    arr = np.asarray(kps if kps is not None else [], dtype=np.float64).ravel()
    t = arr[: arr.size // 3 * 3].reshape(-1, 3)
    t = t[(t[:, 2] > 0) & np.isfinite(t[:, 0]) & np.isfinite(t[:, 1])]
    if len(t) == 0:
        return None
    lo, hi = t[:, :2].min(axis=0), t[:, :2].max(axis=0)
    return (float(lo[0]), float(lo[1]), float(hi[0] - lo[0]), float(hi[1] - lo[1]))


def _sigmas(k: int, sigmas: np.ndarray | None) -> np.ndarray:
    if sigmas is not None:
        s = np.asarray(sigmas, dtype=np.float64).ravel()
        if s.size != k:
            raise GeometryError(f"{s.size} sigmas for {k} keypoints")
        return s
    return COCO_SIGMAS if k == 17 else np.full(k, DEFAULT_SIGMA)


def oks(
    a: np.ndarray,
    b: np.ndarray,
    area: float,
    sigmas: np.ndarray | None = None,
    bbox: Sequence[float] | None = None,
) -> float:
    """Object keypoint similarity of ``b`` to reference ``a`` (flat x, y, v arrays), as
    COCOeval.computeOks: ``a`` is the ground truth (its visibility picks the points,
    ``area`` its scale). When ``a`` has no labelled point, COCOeval measures ``b``'s
    distance to ``a``'s ``bbox`` doubled; with no bbox either, the OKS is 0.
    Sigmas default to COCO's for 17 points, else to COCO's mean for every point;
    keypoint lists of different lengths give 0."""
    a = np.asarray(a, dtype=np.float64).ravel()
    b = np.asarray(b, dtype=np.float64).ravel()
    if a.size != b.size or a.size == 0 or a.size % 3:
        return 0.0
    k = a.size // 3
    box = np.asarray(bbox if bbox is not None else [np.nan] * 4, dtype=np.float64).reshape(1, 4)
    out = _oks_matrix(
        a.reshape(1, k, 3), b.reshape(1, k, 3), np.array([float(area)]), box, _sigmas(k, sigmas)
    )
    return float(out[0, 0])


def _oks_matrix(
    g: np.ndarray, d: np.ndarray, area: np.ndarray, box: np.ndarray, sigmas: np.ndarray
) -> np.ndarray:
    """COCOeval.computeOks over (ng, k, 3) references and (nd, k, 3) candidates -> (ng, nd)."""
    var = (sigmas * 2) ** 2
    xg, yg, vg = g[:, None, :, 0], g[:, None, :, 1], g[:, :, 2]
    xd, yd = d[None, :, :, 0], d[None, :, :, 1]
    labelled = vg > 0
    has = labelled.any(axis=1)[:, None, None]  # type: ignore[index]  # numpy/duckdb stubs
    bx, by, bw, bh = (box[:, i, None, None] for i in range(4))
    x0, x1, y0, y1 = bx - bw, bx + bw * 2, by - bh, by + bh * 2
    with np.errstate(invalid="ignore", over="ignore"):
        dx = np.where(has, xd - xg, np.maximum(0, x0 - xd) + np.maximum(0, xd - x1))
        dy = np.where(has, yd - yg, np.maximum(0, y0 - yd) + np.maximum(0, yd - y1))
        e = (dx**2 + dy**2) / var / (area[:, None, None] + np.spacing(1)) / 2
        sim = np.exp(-e)
    sim = np.where(np.isfinite(sim), sim, 0.0)
    weight = np.where(has[:, :, 0], labelled, True)[:, None, :]
    no_ref = ~has[:, :, 0] & ~np.all(np.isfinite(box), axis=1)[:, None]
    out = _div((sim * weight).sum(axis=2), weight.sum(axis=2).astype(np.float64))
    return np.where(no_ref, 0.0, out)
