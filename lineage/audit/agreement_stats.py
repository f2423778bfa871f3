"""Chance-corrected agreement between annotators: Cohen's kappa, Fleiss' kappa, Krippendorff's alpha.

Pure NumPy on rating arrays; the store and SQL that produce the ratings live elsewhere.
Each statistic comes in two forms: a plain function returning the float (equal to the
reference implementation: ``sklearn.metrics.cohen_kappa_score``,
``statsmodels.stats.inter_rater.fleiss_kappa(method="fleiss")`` and
``krippendorff.alpha(level_of_measurement="nominal")``), and a ``*_result`` twin
returning an :class:`Agreement` that also says how many items and values the figure
rests on and, when it is undefined, why.

Degenerate cases return ``nan`` (never a warning, never a division error):

* no item rated (Cohen, Fleiss), or fewer than two pairable values (Krippendorff);
* fewer than two raters per item (Fleiss);
* a single category in play: both raters used one and the same category (Cohen), every
  rating is the same category (Fleiss), every pairable value is the same category
  (Krippendorff). Chance agreement is then 1, so agreement beyond chance is 0/0.
  The raters did agree on everything; the coefficient just cannot say so.

Where the references themselves refuse (sklearn raises when no rating is among
``labels``; krippendorff raises when only one value occurs or no unit has two values),
these functions return ``nan`` with the reason instead.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from lineage.errors import InputError

MIN_ITEMS = 30  # below this many items a coefficient's sampling error is too wide to rely on


@dataclass(frozen=True)
class Agreement:
    """One agreement figure with what it rests on.

    ``n_items``: items (Cohen, Fleiss) or pairable units (Krippendorff) that entered;
    ``n_values``: ratings that entered (pairable values for Krippendorff);
    ``undefined``: why ``value`` is nan, else None.
    """

    statistic: str
    value: float
    n_items: int
    n_values: int
    n_categories: int
    undefined: str | None = None

    @property
    def note(self) -> str | None:
        """Why the figure is missing, or a warning that it rests on too few items."""
        return self.undefined or reliability_note(self.n_items)


def reliability_note(n_items: int, min_items: int = MIN_ITEMS) -> str | None:
    """A caution when a figure rests on fewer than ``min_items`` items, else None.

    With n items a kappa's standard error is roughly 1/sqrt(n): at n = 30 about 0.18,
    already the width of a whole band on the Landis-Koch scale.
    """
    if n_items >= min_items:
        return None
    if n_items <= 0:
        return "no items: agreement is undefined"
    noun = "item" if n_items == 1 else "items"
    return (
        f"rests on only {n_items} {noun} (fewer than {min_items}): "
        "too few for a stable figure, treat it as indicative"
    )


# --------------------------------------------------------------------------- Cohen


def cohen_kappa(a: npt.ArrayLike, b: npt.ArrayLike, labels: npt.ArrayLike | None = None) -> float:
    """Cohen's kappa of two raters' nominal ratings of the same items (nan if undefined)."""
    return cohen_kappa_result(a, b, labels).value


def cohen_kappa_result(
    a: npt.ArrayLike, b: npt.ArrayLike, labels: npt.ArrayLike | None = None
) -> Agreement:
    """Cohen's kappa with its support; see :func:`cohen_kappa`.

    ``a[i]`` and ``b[i]`` are the two ratings of item i (strings or ints; no missing
    values: drop items one rater skipped before calling). With ``labels``, only items
    whose two ratings are both among ``labels`` count, as in sklearn.
    """
    a_arr, b_arr = np.asarray(a).ravel(), np.asarray(b).ravel()
    if len(a_arr) != len(b_arr):
        raise InputError(
            f"the two raters rated different numbers of items ({len(a_arr)} and {len(b_arr)})"
        )
    n = len(a_arr)
    pieces = [a_arr, b_arr]
    if labels is not None:
        label_arr = np.asarray(labels).ravel()
        if len(label_arr) == 0:
            raise InputError("labels is empty: name at least one category")
        pieces.append(label_arr)
    try:
        _, codes = np.unique(np.concatenate(pieces), return_inverse=True)
    except TypeError as exc:  # e.g. None next to strings
        raise InputError(f"ratings cannot be compared as categories: {exc}") from None
    codes = codes.ravel()
    ca, cb = codes[:n], codes[n : 2 * n]
    if labels is not None:
        # keep items whose both ratings are labels, and renumber labels 0..k-1
        label_codes = np.unique(codes[2 * n :])
        remap = np.full(codes.max() + 1, -1)
        remap[label_codes] = np.arange(len(label_codes))
        ca, cb = remap[ca], remap[cb]
        keep = (ca >= 0) & (cb >= 0)
        ca, cb = ca[keep], cb[keep]
        k = len(label_codes)
    else:
        k = int(codes.max()) + 1 if n else 0
    m = len(ca)

    def result(value: float, why: str | None = None) -> Agreement:
        return Agreement("cohen_kappa", value, m, 2 * m, k, why)

    if m == 0:
        return result(
            np.nan,
            "no item rated by both raters" + (" within labels" if labels is not None else ""),
        )
    confusion = np.bincount(ca * k + cb, minlength=k * k).reshape(k, k)
    rows, cols = confusion.sum(axis=1), confusion.sum(axis=0)
    # kappa = 1 - observed / expected disagreement, in integers until the last division
    observed = m - int(np.trace(confusion))
    expected = m * m - int(rows @ cols)  # m * sum_{i != j} E_ij
    if expected == 0:
        return result(
            np.nan,
            "both raters used one and the same category: chance agreement is 1, kappa undefined",
        )
    return result(1.0 - m * observed / expected)


# --------------------------------------------------------------------------- Fleiss


def ratings_to_counts(
    ratings: npt.ArrayLike, categories: npt.ArrayLike | None = None
) -> np.ndarray:
    """Items x raters ratings -> items x categories counts (the table Fleiss' kappa takes).

    Columns are ``categories`` in the order given, else the sorted distinct ratings.
    Missing ratings (nan in a float array, None in an object array) are not counted.
    Ratings outside ``categories`` raise InputError.
    """
    arr = np.asarray(ratings)
    if arr.ndim != 2:
        raise InputError(f"ratings must be an items x raters matrix, got {arr.ndim} dimension(s)")
    n_items = arr.shape[0]
    present = _present(arr)
    items = np.nonzero(present)[0]
    values = arr[present]
    try:
        if categories is None:
            domain, codes = np.unique(values, return_inverse=True)
        else:
            domain = np.asarray(categories).ravel()
            order = np.argsort(domain, kind="stable")
            pos = np.searchsorted(domain[order], values).clip(0, max(len(domain) - 1, 0))
            if len(domain) == 0 or not np.all(domain[order][pos] == values):
                raise InputError("some ratings are not among the given categories")
            codes = order[pos]
    except TypeError as exc:
        raise InputError(f"ratings cannot be compared as categories: {exc}") from None
    k = len(domain)
    return np.bincount(items * k + codes.ravel(), minlength=n_items * k).reshape(n_items, k)


def _present(arr: np.ndarray) -> np.ndarray:
    """Mask of ratings that are there: not nan (floats), not None / nan (objects)."""
    if arr.dtype.kind == "f":
        return ~np.isnan(arr)
    if arr.dtype.kind == "O":
        # elementwise: None is missing, and nan is the one value unequal to itself
        return (arr != None) & (arr == arr)  # noqa: E711
    return np.ones(arr.shape, dtype=bool)


def fleiss_kappa(counts: npt.ArrayLike) -> float:
    """Fleiss' kappa of an items x categories count table (nan if undefined)."""
    return fleiss_kappa_result(counts).value


def fleiss_kappa_result(counts: npt.ArrayLike) -> Agreement:
    """Fleiss' kappa with its support; see :func:`fleiss_kappa`.

    Every item must have been rated by the same number of raters (Fleiss 1971);
    build the table with :func:`ratings_to_counts`.
    """
    table = np.asarray(counts)
    if table.ndim != 2:
        raise InputError(
            f"counts must be an items x categories table, got {table.ndim} dimension(s)"
        )
    if table.dtype.kind not in "iub":
        if (
            table.dtype.kind != "f"
            or not np.all(np.isfinite(table))
            or np.any(table != np.round(table))
        ):
            raise InputError("counts must be whole numbers of raters")
    table = table.astype(np.int64)
    if np.any(table < 0):
        raise InputError("counts must not be negative")
    n_items, k = table.shape
    per_item = table.sum(axis=1)
    raters = int(per_item.max()) if n_items else 0
    uneven = np.nonzero(per_item != raters)[0]
    if len(uneven):
        i = int(uneven[0])
        raise InputError(
            f"every item needs the same number of raters for Fleiss' kappa: "
            f"item {i} has {int(per_item[i])}, others {raters}",
            record=i,
        )
    total = n_items * raters

    def result(value: float, why: str | None = None) -> Agreement:
        return Agreement("fleiss_kappa", value, n_items, total, k, why)

    if n_items == 0:
        return result(np.nan, "no items")
    if raters < 2:
        return result(np.nan, "fewer than 2 raters per item")
    totals = table.sum(axis=0)
    squares = int((totals * totals).sum())
    if squares == total * total:
        return result(
            np.nan, "every rating is the same category: chance agreement is 1, kappa undefined"
        )
    p_mean = (float((table * table).sum()) - total) / (total * (raters - 1))
    p_exp = squares / (total * total)
    return result((p_mean - p_exp) / (1.0 - p_exp))


# --------------------------------------------------------------------------- Krippendorff


def coincidence_matrix(reliability: npt.ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Krippendorff's coincidence matrix of a raters x units matrix (np.nan = missing).

    Returns ``(o, values)``: ``o[c, k]`` counts the pairs of values (c, k) that
    different raters gave the same unit, each unit weighted 1 / (m_u - 1) where m_u
    is its number of values; ``values`` are the categories, sorted. Units with fewer
    than two values are not pairable and add nothing.
    """
    o, values, _, _ = _coincidences(_reliability_array(reliability))
    return o, values


def _coincidences(data: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """(o, values, n_c, pairable units): n_c counts pairable values per category, exactly."""
    present = ~np.isnan(data)
    unit = np.nonzero(present)[1]  # column = unit
    values, code = np.unique(data[present], return_inverse=True)
    code = code.ravel()
    v = len(values)
    m_u = np.bincount(unit, minlength=data.shape[1])
    pairable = m_u[unit] >= 2
    unit, code = unit[pairable], code[pairable]
    # one cell per (unit, category) holding n_uc, sorted by unit (np.unique sorts)
    cell, n_uc = np.unique(unit * v + code, return_counts=True)
    cell_unit, cell_code = cell // v, cell % v
    # pair every cell with every cell of its unit, itself included (within-unit cross product)
    starts = np.searchsorted(cell_unit, cell_unit, side="left")
    sizes = np.searchsorted(cell_unit, cell_unit, side="right") - starts
    left = np.repeat(np.arange(len(cell)), sizes)
    offset = np.arange(len(left)) - np.repeat(np.cumsum(sizes) - sizes, sizes)
    right = starts[left] + offset
    # n_uc * n_uk pairs of values, minus each value paired with itself, over m_u - 1
    pairs = n_uc[left] * n_uc[right] - np.where(left == right, n_uc[left], 0)
    weight = pairs / (m_u[cell_unit[left]] - 1)
    o = np.bincount(cell_code[left] * v + cell_code[right], weights=weight, minlength=v * v)
    n_c = np.bincount(code, minlength=v)
    return o.reshape(v, v), values, n_c, int(np.count_nonzero(m_u >= 2))


def _reliability_array(reliability: npt.ArrayLike) -> np.ndarray:
    try:
        data = np.asarray(reliability, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InputError(
            f"reliability data must be numeric category codes with nan for missing: {exc}"
        ) from None
    if data.ndim != 2:
        raise InputError(
            f"reliability data must be a raters x units matrix, got {data.ndim} dimension(s)"
        )
    if np.any(np.isinf(data)):
        raise InputError("reliability data holds an infinite value")
    return data


def krippendorff_alpha_nominal(reliability: npt.ArrayLike) -> float:
    """Krippendorff's alpha for nominal data, raters x units, np.nan = missing (nan if undefined)."""
    return krippendorff_alpha_nominal_result(reliability).value


def krippendorff_alpha_nominal_result(reliability: npt.ArrayLike) -> Agreement:
    """Krippendorff's alpha with its support; see :func:`krippendorff_alpha_nominal`.

    ``n_items`` is the number of pairable units (two values or more), ``n_values`` the
    number of pairable values n. alpha = 1 - (n - 1) * D_o / D_e with the nominal
    distance: D_o the off-diagonal mass of the coincidence matrix, D_e = n^2 - sum n_c^2.
    """
    data = _reliability_array(reliability)
    o, values, n_c, n_units = _coincidences(data)
    n = int(n_c.sum())

    def result(value: float, why: str | None = None) -> Agreement:
        return Agreement("krippendorff_alpha", value, n_units, n, len(values), why)

    if n < 2:
        return result(np.nan, "fewer than 2 pairable values (no unit has two ratings)")
    expected = n * n - int((n_c * n_c).sum())  # exact: n_c are counts
    if expected == 0:
        return result(
            np.nan,
            "every pairable value is the same category: expected disagreement is 0, alpha undefined",
        )
    observed = n - float(np.trace(o))
    return result(1.0 - (n - 1) * observed / expected)
