"""The attributes column in bulk: ``{"area":<area>,"iscrowd":<0|1>}`` for most rows.

Formatting that string per row in Python is a large share of an import's time, so the
common rows are formatted by Arrow, giving exactly what ``canonical_json`` gives: Arrow
and Python both print the shortest round-trip digits, and the few values where their
notation differs (integral values, exponents, |x| < 1e-4) are formatted by Python.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


def float_reprs(values: np.ndarray) -> pa.Array:
    """``repr(float(v))`` of every value (finite values), as an Arrow string array."""
    text = pc.cast(pa.array(values, pa.float64()), pa.string())
    python_form = np.asarray(
        pc.or_(
            pc.invert(pc.match_substring(text, ".")),
            pc.match_substring(text, "e"),
        )
    ) | ((np.abs(values) < 1e-4) & (values != 0))
    if python_form.any():
        fixed = [repr(float(v)) for v in values[python_form]]
        text = pc.replace_with_mask(text, pa.array(python_form), pa.array(fixed, pa.string()))
    return text


def attributes_column(area: np.ndarray, iscrowd: np.ndarray, given: dict[int, str]) -> pa.Array:
    """Canonical attributes JSON per row: ``given[row]`` where the row has its own,
    else built from its area and iscrowd."""
    n = len(area)
    text = pc.binary_join_element_wise(
        '{"area":',
        float_reprs(np.nan_to_num(area)),
        ',"iscrowd":',
        pa.array(["0", "1"]).take(pa.array(iscrowd.astype(np.int64))),
        "}",
        "",
    )
    if given:
        mask = np.zeros(n, bool)
        mask[list(given)] = True
        rows = np.flatnonzero(mask)
        text = pc.replace_with_mask(text, pa.array(mask), pa.array([given[r] for r in rows]))  # type: ignore[index]  # numpy/duckdb stubs
    return text
