"""Audit sampling: ISO 2859-1 tables against public transcriptions, exact oracles."""

from __future__ import annotations

import math
import random
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from statsmodels.stats.proportion import proportion_confint

from lineage.audit import acceptance
from lineage.audit.acceptance import (
    clopper_pearson_upper,
    code_letter,
    draw,
    iso2859_plan,
    lot_decision,
    zero_acceptance_plan,
)
from lineage.errors import InputError

# --- Table 1 -------------------------------------------------------------

# "ANSI/ASQC Z1.4/MIL-STD-105E/BS 6001/DIN 40080/ISO 2859 Table I. Sample Size
# Code Letters" (pdfcoffee.com aql-sampling-chart), columns S-1 S-2 S-3 S-4 I II III.
TABLE_1_TRANSCRIPTION = """
2 8 A A A A A A B
9 15 A A A A A B C
16 25 A A B B B C D
26 50 A B B C C D E
51 90 B B C C C E F
91 150 B B C D D F G
151 280 B C D E E G H
281 500 B C D E F H J
501 1200 C C E F G J K
1201 3200 C D E G H K L
3201 10000 C D F G J L M
10001 35000 C D F H K M N
35001 150000 D E G J L N P
150001 500000 D E G J M P Q
500001 10000000 D E H K N Q R
"""


def _table_1_rows():
    for line in TABLE_1_TRANSCRIPTION.strip().splitlines():
        lo, hi, *letters = line.split()
        yield int(lo), int(hi), letters


@pytest.mark.parametrize("lo,hi,letters", list(_table_1_rows()))
def test_code_letters_match_table_1_at_both_range_ends(lo, hi, letters):
    for lot in (lo, hi, (lo + hi) // 2):
        assert [code_letter(lot, level) for level in acceptance.LEVELS] == letters


def test_code_letter_accepts_level_spelling_and_lot_of_one():
    assert code_letter(1000, "ii") == "J"
    assert code_letter(1000, " s-3 ") == "E"
    assert code_letter(1, "II") == "A"


# --- Table 2-A -----------------------------------------------------------

# nibs.org FMOC "TABLE 1-A INSPECTION LEVEL - General Level II SAMPLING PLAN -
# Single Normal" (AC-TABLE.ASC, built from MIL-STD-105E Tables I and II-A):
# rejection numbers Re, "v" = first plan below arrow, "^" = first plan above.
NIBS_AQLS = (0.65, 1.0, 1.5, 2.5, 4.0, 6.5, 10, 15)
NIBS_LEVEL_II = """
8 A 2 v v v v v 1 ^ v
15 B 3 v v v v 1 ^ v 2
25 C 5 v v v 1 ^ v 2 3
50 D 8 v v 1 ^ v 2 3 4
90 E 13 v 1 ^ v 2 3 4 6
150 F 20 1 ^ v 2 3 4 6 8
280 G 32 ^ v 2 3 4 6 8 11
500 H 50 v 2 3 4 6 8 11 15
1200 J 80 2 3 4 6 8 11 15 22
3200 K 125 3 4 6 8 11 15 22 ^
10000 L 200 4 6 8 11 15 22 ^ ^
35000 M 315 6 8 11 15 22 ^ ^ ^
150000 N 500 8 11 15 22 ^ ^ ^ ^
500000 P 800 11 15 22 ^ ^ ^ ^ ^
900000 Q 1250 15 22 ^ ^ ^ ^ ^ ^
"""


def _nibs_rows():
    for line in NIBS_LEVEL_II.strip().splitlines():
        lot, letter, n, *cells = line.split()
        yield int(lot), letter, int(n), cells


@pytest.mark.parametrize("lot,letter,n,cells", list(_nibs_rows()))
def test_table_2a_cells_match_nibs_transcription(lot, letter, n, cells):
    assert code_letter(lot, "II") == letter
    row = acceptance.CODE_LETTERS.index(letter)
    assert acceptance.SAMPLE_SIZES[row] == n
    for aql, expected in zip(NIBS_AQLS, cells, strict=True):
        cell = acceptance._TABLE_2A[row][acceptance.AQLS.index(aql)]
        if expected in ("v", "^"):
            assert cell == expected, (letter, aql)
        else:
            assert cell.split("/")[1] == expected, (letter, aql)
            plan = iso2859_plan(lot, aql, "II")
            assert (plan.code_letter, plan.n, plan.re) == (letter, n, int(expected))
            assert plan.ac == plan.re - 1  # single sampling: Re = Ac + 1


# MIL-STD-105E Table II-A as transcribed in scribd "Tablas" (document 563507790,
# "MIL-STD-105E Page 19 of 74"): the plans of each row, left to right (the
# transcription prints "44 65" for 44 45, a typo).
ROW_PLANS = {
    "A": "0/1 1/2 2/3 3/4 5/6 7/8 10/11 14/15 21/22 30/31",
    **dict.fromkeys("BCDE", "0/1 1/2 2/3 3/4 5/6 7/8 10/11 14/15 21/22 30/31 44/45"),
    **dict.fromkeys("FGHJKLMNPQ", "0/1 1/2 2/3 3/4 5/6 7/8 10/11 14/15 21/22"),
    "R": "1/2 2/3 3/4 5/6 7/8 10/11 14/15 21/22",
}
SIZES = dict(zip("ABCDEFGHJKLMNPQR", [2, 3, 5, 8, 13, 20, 32, 50, 80, 125, 200, 315, 500, 800, 1250, 2000], strict=True))  # fmt: skip


@pytest.mark.parametrize("letter", sorted(ROW_PLANS))
def test_table_2a_rows_hold_the_transcribed_plans(letter):
    row = acceptance.CODE_LETTERS.index(letter)
    assert acceptance.SAMPLE_SIZES[row] == SIZES[letter]
    plans = [c for c in acceptance._TABLE_2A[row] if c not in ("v", "^")]
    assert plans == ROW_PLANS[letter].split()


def test_table_2a_is_constant_along_its_diagonals():
    """One letter down and one AQL column left is the same cell, where both exist."""
    table = acceptance._TABLE_2A
    for r in range(len(table) - 1):
        for c in range(1, len(table[r])):
            below = table[r + 1][c - 1]
            if table[r][c] != below:
                # only where the lower row ends earlier (F.. stop at 21/22, C.. at 44/45)
                assert below == "^", (r, c)


@pytest.mark.parametrize(
    "lot,level,aql,expected",
    [
        # arrows: the letter, n, Ac and Re of the plan the arrow leads to
        (5, "II", 1.0, ("E", 5, 0, 1)),  # A -> E, n = 13 > lot: 100 %
        (50, "S-1", 1.0, ("E", 13, 0, 1)),  # A at AQL 1.0 -> down to E, n=13
        (15, "II", 6.5, ("A", 2, 0, 1)),  # B up to A
        (15, "II", 10, ("C", 5, 1, 2)),  # B down to C
        (3200, "II", 15, ("J", 80, 21, 22)),  # K up to J
        (900000, "II", 1.5, ("P", 800, 21, 22)),  # Q up to P
        (900000, "II", 0.015, ("P", 800, 0, 1)),  # Q up to P
        (900000, "III", 0.010, ("Q", 1250, 0, 1)),  # R up to Q
        (1000, "S-3", 2.5, ("F", 20, 1, 2)),  # E down to F
        (1000, "II", 0.10, ("K", 125, 0, 1)),  # J down to K
        # the two arrows that point off the table: nearest plan the other way
        (8, "I", 10, ("C", 5, 1, 2)),  # A at 10 points up
        (900000, "III", 0.015, ("P", 800, 0, 1)),  # R at 0.015 points down
        # plans in the high-AQL (nonconformities per 100 items) columns
        (8, "I", 1000, ("A", 2, 30, 31)),
        (15, "I", 1000, ("A", 2, 30, 31)),
        (20, "II", 650, ("C", 5, 44, 45)),
        (20, "II", 1000, ("B", 3, 44, 45)),
        (1000, "II", 10, ("J", 80, 14, 15)),
    ],
)
def test_plans_through_arrows(lot, level, aql, expected):
    plan = iso2859_plan(lot, aql, level)
    assert (plan.code_letter, plan.n, plan.ac, plan.re) == expected
    assert plan.scheme == "iso2859-1" and plan.aql == aql and plan.lot_size == lot


def test_full_inspection_when_sample_exceeds_lot():
    plan = iso2859_plan(8, 0.65, "II")  # A -> arrow down to F, n = 20 > 8
    assert (plan.code_letter, plan.n, plan.ac, plan.re) == ("F", 8, 0, 1)
    assert plan.full_inspection
    assert not iso2859_plan(1000, 1.0).full_inspection
    assert iso2859_plan(80, 0.65, "II").n == 20  # E at 0.65 -> down to F, n = 20 < 80
    assert iso2859_plan(13, 1.0, "III").n == 13  # C -> E, n = 13 = lot


def test_well_known_plans():
    # lot 1000, level II -> J, n = 80: the textbook example of Table 2-A
    assert [(p.ac, p.re) for p in (iso2859_plan(1000, a) for a in (0.65, 1.0, 2.5, 4.0))] == [
        (1, 2),
        (2, 3),
        (5, 6),
        (7, 8),
    ]


def test_bad_table_inputs_raise_input_error():
    with pytest.raises(InputError, match="not in the ISO 2859-1 series"):
        iso2859_plan(1000, 0.7)
    with pytest.raises(InputError, match="unknown inspection level 'IV'"):
        iso2859_plan(1000, 1.0, "IV")
    with pytest.raises(InputError, match="lot size must be a positive integer"):
        iso2859_plan(0, 1.0)


# --- zero-acceptance plans ----------------------------------------------


def brute_force_zero_acceptance(lot: int, confidence: float, rate: float) -> int:
    defects = max(1, math.ceil(Fraction(str(rate)) * lot))
    alpha = Fraction(1 - confidence)
    for n in range(1, lot + 1):
        if Fraction(math.comb(lot - defects, n), math.comb(lot, n)) <= alpha:
            return n
    raise AssertionError("unreachable")


@pytest.mark.parametrize(
    "lot,confidence,rate",
    [
        (1000, 0.95, 0.01),
        (100, 0.95, 0.01),  # D = 1: P(0) = (100 - n) / 100, exact tie at n = 95
        (100, 0.95, 0.07),  # 0.07 * 100 = 7.000000000000001 in floats: D must be 7
        (500, 0.99, 0.02),
        (50, 0.9, 0.1),
        (2500, 0.95, 0.005),
        (7, 0.8, 0.5),
        (1, 0.95, 0.01),
    ],
)
def test_zero_acceptance_matches_hypergeometric_brute_force(lot, confidence, rate):
    plan = zero_acceptance_plan(lot, confidence, rate)
    assert plan.n == brute_force_zero_acceptance(lot, confidence, rate)
    assert (plan.ac, plan.re, plan.scheme) == (0, 1, "zero-acceptance-hypergeometric")


def test_zero_acceptance_known_values():
    assert zero_acceptance_plan(1000, 0.95, 0.01).n == 258  # finite lot: D = 10
    assert zero_acceptance_plan(100, 0.95, 0.01).n == 95


@pytest.mark.parametrize(
    "confidence,rate", [(0.95, 0.01), (0.99, 0.01), (0.95, 0.05), (0.9, 0.001)]
)
def test_zero_acceptance_tends_to_binomial_for_large_lots(confidence, rate):
    binomial = math.ceil(math.log(1 - confidence) / math.log(1 - rate))
    assert zero_acceptance_plan(10**9, confidence, rate).n == binomial
    finite = zero_acceptance_plan(10**4, confidence, rate).n
    assert finite <= binomial  # sampling without replacement needs no more
    assert math.ceil(math.log(1 - 0.95) / math.log(1 - 0.01)) == 299


# --- Clopper-Pearson ----------------------------------------------------


@pytest.mark.parametrize(
    "defects,n,confidence",
    [(0, 299, 0.95), (1, 50, 0.95), (3, 80, 0.9), (10, 125, 0.99), (49, 50, 0.95), (0, 1, 0.8)],
)
def test_clopper_pearson_matches_statsmodels(defects, n, confidence):
    _, upper = proportion_confint(defects, n, alpha=2 * (1 - confidence), method="beta")
    assert clopper_pearson_upper(defects, n, confidence) == pytest.approx(upper, rel=1e-10)


def test_clopper_pearson_edges():
    assert clopper_pearson_upper(5, 5, 0.95) == 1.0
    # zero defects: closed form 1 - (1 - C)^(1/n)
    assert clopper_pearson_upper(0, 299, 0.95) == pytest.approx(1 - 0.05 ** (1 / 299))
    with pytest.raises(InputError, match="defects must be in 0..10"):
        clopper_pearson_upper(11, 10, 0.95)
    with pytest.raises(InputError, match=r"confidence must be in \(0, 1\)"):
        clopper_pearson_upper(0, 10, 1.0)


# --- draws ---------------------------------------------------------------

IDS = [f"label-{i:04d}" for i in range(1000)]


def test_same_seed_same_sample_whatever_the_input_order():
    shuffled = IDS[:]
    random.Random(7).shuffle(shuffled)
    first = draw(IDS, 50, seed=42)
    assert draw(shuffled, 50, seed=42) == first
    assert len({i for i, _ in first}) == 50 and {s for _, s in first} == {None}
    assert set(i for i, _ in first) <= set(IDS)


def test_different_seed_different_sample():
    assert draw(IDS, 50, seed=1) != draw(IDS, 50, seed=2)


def test_stratified_allocation_is_proportional_and_sums_to_n():
    strata = ["car"] * 700 + ["person"] * 250 + ["bike"] * 45 + ["rare"] * 5
    by_id = dict(zip(IDS, strata, strict=True))
    sample = draw(IDS, 40, seed=3, strata=strata)
    assert len(sample) == 40 and len({i for i, _ in sample}) == 40
    assert all(by_id[i] == s for i, s in sample)
    counts = {s: sum(1 for _, t in sample if t == s) for s in set(strata)}
    # quotas 28, 10, 1.8, 0.2 -> largest remainder 28, 10, 2, 0 -> rare gets one from car
    assert counts == {"car": 27, "person": 10, "bike": 2, "rare": 1}
    shuffled = list(zip(IDS, strata, strict=True))
    random.Random(1).shuffle(shuffled)
    ids2, strata2 = zip(*shuffled, strict=True)
    assert draw(ids2, 40, seed=3, strata=strata2) == sample


@pytest.mark.parametrize("n", [0, 1, 3, 4, 5, 17, 100, 1000])
def test_stratified_sums_to_n_for_any_n(n):
    strata = ["a"] * 600 + ["b"] * 300 + ["c"] * 99 + ["d"]
    sample = draw(IDS, n, seed=n, strata=strata)
    assert len(sample) == n
    if n >= 4:
        assert {s for _, s in sample} == {"a", "b", "c", "d"}


@settings(max_examples=200, deadline=None)
@given(
    sizes=st.lists(st.integers(1, 40), min_size=1, max_size=8),
    data=st.data(),
)
def test_stratified_allocation_properties(sizes, data):
    strata = [f"s{h}" for h, size in enumerate(sizes) for _ in range(size)]
    ids = [f"id{i}" for i in range(len(strata))]
    n = data.draw(st.integers(0, len(ids)))
    seed = data.draw(st.integers(0, 2**32))
    sample = draw(ids, n, seed=seed, strata=strata)
    assert len(sample) == n and len({i for i, _ in sample}) == n
    got = [sum(1 for _, s in sample if s == f"s{h}") for h in range(len(sizes))]
    assert all(0 <= g <= size for g, size in zip(got, sizes, strict=True))
    if n >= len(sizes):
        assert min(got) >= 1
    else:  # no minimum: plain largest remainder, within one of the quota
        assert all(abs(g - n * size / len(ids)) < 1 for g, size in zip(got, sizes, strict=True))
    assert draw(ids[::-1], n, seed=seed, strata=strata[::-1]) == sample


def test_draw_rejects_bad_input():
    with pytest.raises(InputError, match="sample size must be an integer in 0..3"):
        draw(["a", "b", "c"], 4, seed=0)
    with pytest.raises(InputError, match="'b' occurs more than once"):
        draw(["a", "b", "b"], 1, seed=0)
    with pytest.raises(InputError, match="2 strata labels for 3 population ids"):
        draw(["a", "b", "c"], 1, seed=0, strata=["x", "y"])


# --- decisions -----------------------------------------------------------


def test_lot_decision_by_ac_re():
    plan = iso2859_plan(1000, 1.0)  # J, 80, Ac 2, Re 3
    assert [lot_decision(plan, d) for d in (0, 2, 3, 80)] == [
        "accept",
        "accept",
        "reject",
        "reject",
    ]
    with pytest.raises(InputError, match="defects must be in 0..80"):
        lot_decision(plan, 81)
