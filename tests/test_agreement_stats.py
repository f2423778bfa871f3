"""Agreement statistics against their reference implementations, plus the degenerate cases."""

from __future__ import annotations

import math
import warnings

import krippendorff
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.metrics import cohen_kappa_score
from statsmodels.stats.inter_rater import aggregate_raters
from statsmodels.stats.inter_rater import fleiss_kappa as sm_fleiss_kappa

from lineage.audit.agreement_stats import (
    Agreement,
    cohen_kappa,
    cohen_kappa_result,
    coincidence_matrix,
    fleiss_kappa,
    fleiss_kappa_result,
    krippendorff_alpha_nominal,
    krippendorff_alpha_nominal_result,
    ratings_to_counts,
    reliability_note,
)
from lineage.errors import InputError

# Every call of ours goes through `ours()`, which fails on any warning it lets out;
# oracles go through `oracle()`, which mutes theirs (0/0, undefined metric).
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def oracle(fn, *args, **kwargs):
    """Call a reference implementation; its own warnings (0/0, undefined metric) are muted."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


def ours(fn, *args, **kwargs):
    """Call our function and fail if it lets any warning out."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        value = fn(*args, **kwargs)
    assert not caught, [str(w.message) for w in caught]
    return value


def same(x: float, y: float, tol: float = 1e-9) -> bool:
    return (math.isnan(x) and math.isnan(y)) or abs(x - y) <= tol


STRING_CATS = ["car", "person", "bicycle", "dog", "truck"]


@st.composite
def two_raters(draw):
    pool = draw(st.sampled_from([STRING_CATS, [0, 1, 2, 3, 4, 5]]))
    cats = draw(st.lists(st.sampled_from(pool), min_size=1, max_size=len(pool), unique=True))
    n = draw(st.integers(1, 60))
    a = draw(st.lists(st.sampled_from(cats), min_size=n, max_size=n))
    # b mostly copies a so that high agreement is exercised, not only chance level
    agree = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    other = draw(st.lists(st.sampled_from(cats), min_size=n, max_size=n))
    b = [x if keep else y for x, y, keep in zip(a, other, agree, strict=True)]
    return pool, np.array(a), np.array(b)


# --------------------------------------------------------------------------- Cohen


@SETTINGS
@given(two_raters())
def test_cohen_kappa_equals_sklearn(case):
    _, a, b = case
    expected = oracle(cohen_kappa_score, a, b)
    got = ours(cohen_kappa, a, b)
    assert same(got, expected), (got, expected)
    result = ours(cohen_kappa_result, a, b)
    assert (result.n_items, result.n_values) == (len(a), 2 * len(a))
    assert result.n_categories == len(np.unique(np.concatenate([a, b])))
    assert (result.undefined is None) == (not math.isnan(result.value))


@SETTINGS
@given(two_raters(), st.data())
def test_cohen_kappa_with_labels_equals_sklearn(case, data):
    pool, a, b = case
    labels = data.draw(st.lists(st.sampled_from(pool), min_size=1, unique=True))
    got = ours(cohen_kappa_result, a, b, labels=labels)
    kept = np.isin(a, labels) & np.isin(b, labels)
    assert got.n_items == int(kept.sum())
    try:
        expected = oracle(cohen_kappa_score, a, b, labels=labels)
    except ValueError:  # sklearn refuses when no label occurs in a: then no item is kept
        assert got.n_items == 0 and math.isnan(got.value)
        return
    assert same(got.value, expected), (got, expected)


def test_cohen_kappa_textbook():
    # 50 items: yes/yes 20, yes/no 5, no/yes 10, no/no 15 -> p_o 0.7, p_e 0.5, kappa 0.4
    a = ["yes"] * 25 + ["no"] * 25
    b = ["yes"] * 20 + ["no"] * 5 + ["yes"] * 10 + ["no"] * 15
    assert ours(cohen_kappa, a, b) == pytest.approx(0.4, abs=1e-12)


def test_cohen_kappa_single_shared_category_is_undefined():
    result = ours(cohen_kappa_result, ["car"] * 5, ["car"] * 5)
    assert math.isnan(result.value)
    assert "one and the same category" in result.undefined
    assert result.note == result.undefined
    assert math.isnan(oracle(cohen_kappa_score, ["car"] * 5, ["car"] * 5))


def test_cohen_kappa_disjoint_single_categories_is_zero():
    # each rater sticks to one category, different ones: defined, no agreement beyond chance
    assert ours(cohen_kappa, ["car"] * 4, ["dog"] * 4) == 0.0
    assert oracle(cohen_kappa_score, ["car"] * 4, ["dog"] * 4) == 0.0


def test_cohen_kappa_no_items():
    result = ours(cohen_kappa_result, [], [])
    assert math.isnan(result.value) and result.n_items == 0
    assert "no item" in result.undefined
    outside = ours(cohen_kappa_result, ["a", "b"], ["b", "a"], labels=["c"])
    assert math.isnan(outside.value) and outside.n_items == 0


def test_cohen_kappa_bad_input():
    with pytest.raises(InputError, match="different numbers of items"):
        cohen_kappa(["a", "b"], ["a"])
    with pytest.raises(InputError, match="labels is empty"):
        cohen_kappa(["a"], ["a"], labels=[])
    with pytest.raises(InputError, match="cannot be compared"):
        cohen_kappa(np.array(["a", None], dtype=object), np.array(["a", "b"], dtype=object))


# --------------------------------------------------------------------------- Fleiss


@st.composite
def rating_matrix(draw):
    items = draw(st.integers(1, 40))
    raters = draw(st.integers(2, 6))
    k = draw(st.integers(1, 5))
    base = draw(st.lists(st.integers(0, k - 1), min_size=items, max_size=items))
    noise = draw(
        st.lists(
            st.lists(st.integers(-1, k - 1), min_size=raters, max_size=raters),
            min_size=items,
            max_size=items,
        )
    )
    # -1 = this rater agrees with the item's base category
    ratings = np.array(noise)
    return np.where(ratings < 0, np.array(base)[:, None], ratings)


@SETTINGS
@given(rating_matrix())
def test_fleiss_kappa_equals_statsmodels(ratings):
    table, _ = aggregate_raters(ratings)
    counts = ours(ratings_to_counts, ratings)
    np.testing.assert_array_equal(counts, table)
    expected = float(oracle(sm_fleiss_kappa, table, method="fleiss"))
    got = ours(fleiss_kappa, counts)
    assert same(got, expected), (got, expected)
    result = ours(fleiss_kappa_result, counts)
    assert (result.n_items, result.n_values) == ratings.shape[:1] + (ratings.size,)


def test_fleiss_kappa_wikipedia_example():
    # https://en.wikipedia.org/wiki/Fleiss%27_kappa : 10 items, 14 raters, 5 categories
    table = np.array(
        [
            [0, 0, 0, 0, 14],
            [0, 2, 6, 4, 2],
            [0, 0, 3, 5, 6],
            [0, 3, 9, 2, 0],
            [2, 2, 8, 1, 1],
            [7, 7, 0, 0, 0],
            [3, 2, 6, 3, 0],
            [2, 5, 3, 2, 2],
            [6, 5, 2, 1, 0],
            [0, 2, 2, 3, 7],
        ]
    )
    assert ours(fleiss_kappa, table) == pytest.approx(0.20993, abs=5e-6)


def test_ratings_to_counts_strings_categories_and_missing():
    ratings = np.array([["car", "dog", None], ["dog", "dog", float("nan")]], dtype=object)
    np.testing.assert_array_equal(ours(ratings_to_counts, ratings), [[1, 1], [0, 2]])
    fixed = ours(ratings_to_counts, ratings, categories=["dog", "cat", "car"])
    np.testing.assert_array_equal(fixed, [[1, 0, 1], [2, 0, 0]])
    floats = np.array([[0.0, np.nan], [1.0, 1.0]])
    np.testing.assert_array_equal(ours(ratings_to_counts, floats), [[1, 0], [0, 2]])
    with pytest.raises(InputError, match="not among the given categories"):
        ratings_to_counts(ratings, categories=["dog"])
    with pytest.raises(InputError, match="items x raters"):
        ratings_to_counts(["car", "dog"])


def test_fleiss_kappa_degenerate():
    one_category = ours(fleiss_kappa_result, np.array([[3, 0], [3, 0]]))
    assert math.isnan(one_category.value) and "same category" in one_category.undefined
    one_rater = ours(fleiss_kappa_result, np.array([[1, 0], [0, 1]]))
    assert math.isnan(one_rater.value) and "fewer than 2 raters" in one_rater.undefined
    empty = ours(fleiss_kappa_result, np.zeros((0, 3), dtype=int))
    assert math.isnan(empty.value) and empty.n_items == 0
    with pytest.raises(InputError, match="same number of raters") as err:
        fleiss_kappa(np.array([[2, 1], [1, 1]]))
    assert err.value.record == 1
    with pytest.raises(InputError, match="whole numbers"):
        fleiss_kappa(np.array([[1.5, 1.5], [1.0, 2.0]]))
    with pytest.raises(InputError, match="negative"):
        fleiss_kappa(np.array([[3, -1], [1, 1]]))


# --------------------------------------------------------------------------- Krippendorff


@st.composite
def reliability_data(draw):
    raters = draw(st.integers(2, 6))
    units = draw(st.integers(1, 40))
    k = draw(st.integers(1, 5))
    codes = draw(st.lists(st.integers(0, k - 1), min_size=units, max_size=units))
    cells = draw(
        st.lists(
            st.lists(st.integers(-2, k - 1), min_size=units, max_size=units),
            min_size=raters,
            max_size=raters,
        )
    )
    # -2 missing, -1 agrees with the unit's base value; codes are spread out, not 0..k-1
    grid = np.array(cells, dtype=float)
    grid = np.where(grid == -1, np.array(codes, dtype=float)[None, :], grid)
    grid[grid == -2] = np.nan
    return grid * 7.0 + 3.0


@SETTINGS
@given(reliability_data())
def test_krippendorff_alpha_equals_krippendorff(data):
    got = ours(krippendorff_alpha_nominal_result, data)
    try:
        expected = float(
            oracle(krippendorff.alpha, reliability_data=data, level_of_measurement="nominal")
        )
    except ValueError:  # the package refuses a one-value domain or no pairable unit
        assert math.isnan(got.value) and got.undefined
        return
    assert same(got.value, expected), (got, expected)
    values_per_unit = np.count_nonzero(~np.isnan(data), axis=0)
    assert got.n_items == int(np.count_nonzero(values_per_unit >= 2))
    assert got.n_values == int(values_per_unit[values_per_unit >= 2].sum())


def test_krippendorff_textbook_coincidences():
    # Krippendorff (2011), "Computing Krippendorff's alpha-reliability", nominal example
    nan = np.nan
    data = [
        [nan, nan, nan, nan, nan, 3, 4, 1, 2, 1, 1, 3, 3, nan, 3],
        [1, nan, 2, 1, 3, 3, 4, 3, nan, nan, nan, nan, nan, nan, nan],
        [nan, nan, 2, 1, 3, 4, 4, nan, 2, 1, 1, 3, 3, nan, 4],
    ]
    o, values = ours(coincidence_matrix, data)
    np.testing.assert_array_equal(values, [1, 2, 3, 4])
    np.testing.assert_allclose(o, [[6, 0, 1, 0], [0, 4, 0, 0], [1, 0, 7, 2], [0, 0, 2, 3]])
    result = ours(krippendorff_alpha_nominal_result, data)
    assert result.value == pytest.approx(0.691358, abs=1e-6)
    assert (result.n_items, result.n_values, result.n_categories) == (12, 26, 4)


def test_krippendorff_degenerate():
    nan = np.nan
    nothing = ours(krippendorff_alpha_nominal_result, [[nan, 1.0], [2.0, nan]])
    assert math.isnan(nothing.value) and nothing.n_values == 0
    assert "fewer than 2 pairable values" in nothing.undefined
    all_missing = ours(krippendorff_alpha_nominal_result, np.full((3, 4), nan))
    assert math.isnan(all_missing.value) and all_missing.n_items == 0
    # category 2 appears only in an unpairable unit: the pairable values are all 1
    one_category = ours(krippendorff_alpha_nominal_result, [[1.0, 1.0, 2.0], [1.0, 1.0, nan]])
    assert math.isnan(one_category.value) and "same category" in one_category.undefined
    assert one_category.n_categories == 2
    perfect = ours(krippendorff_alpha_nominal, [[1.0, 2.0, 1.0], [1.0, 2.0, 1.0]])
    assert perfect == 1.0


def test_krippendorff_bad_input():
    with pytest.raises(InputError, match="numeric category codes"):
        krippendorff_alpha_nominal([["car", "dog"], ["car", "car"]])
    with pytest.raises(InputError, match="raters x units"):
        krippendorff_alpha_nominal([1.0, 2.0])
    with pytest.raises(InputError, match="infinite"):
        krippendorff_alpha_nominal([[1.0, np.inf], [1.0, 2.0]])


# --------------------------------------------------------------------------- notes


def test_reliability_note():
    assert reliability_note(30) is None
    assert reliability_note(500) is None
    assert "29 items" in reliability_note(29)
    assert "1 item " in reliability_note(1)
    assert reliability_note(0) == "no items: agreement is undefined"
    assert reliability_note(10, min_items=10) is None
    small = Agreement("cohen_kappa", 0.5, 12, 24, 2)
    assert small.note == reliability_note(12)
    assert Agreement("cohen_kappa", 0.5, 40, 80, 2).note is None
