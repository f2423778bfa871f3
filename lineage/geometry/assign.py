"""Optimal one-to-one assignment of labels by a similarity matrix."""

from __future__ import annotations

import numpy as np


def assign(score: np.ndarray, threshold: float) -> list[tuple[int, int]]:
    """Optimal one-to-one matching (Hungarian, scipy) of rows to columns maximising the
    total score of the kept pairs, those with score >= ``threshold``; sorted by row.

    Scores under the threshold count as 0 in the optimisation, so a weak pair never
    displaces a strong one only to be dropped afterwards. NaN counts as no match."""
    from scipy.optimize import linear_sum_assignment  # lazy: scipy.optimize takes ~1 s to import

    s = np.asarray(score, dtype=np.float64)
    if s.ndim != 2 or s.size == 0:
        return []
    ok = np.isfinite(s) & (s >= threshold)
    weight = np.where(ok, s, 0.0)
    rows, cols = linear_sum_assignment(weight, maximize=True)
    return [(int(r), int(c)) for r, c in zip(rows, cols, strict=True) if ok[r, c]]
