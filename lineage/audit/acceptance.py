"""Audit sample sizes and reproducible draws: ISO 2859-1 plans, zero-acceptance, exact bounds.

An auditor checks a sample of labels instead of all of them; this module says
how many (and which) to check, and what the result allows one to claim:

* ``iso2859_plan``: the single sampling plan for normal inspection of
  ISO 2859-1 (identical to ANSI/ASQ Z1.4 and MIL-STD-105E), from Table 1
  (lot size and inspection level -> sample size code letter) and Table 2-A
  (code letter and AQL -> n, Ac, Re).
* ``zero_acceptance_plan``: the smallest sample that, finding no defect,
  shows with the given confidence that the lot's defect rate is below a
  bound (exact hypergeometric, so finite lots need fewer than 299 for 95 % /
  1 %).
* ``draw``: the sample itself, reproducible from a seed.
* ``clopper_pearson_upper``: the exact one-sided upper bound on the defect
  rate after inspecting a sample.

The tables are data below.  They were checked against these public
transcriptions (the numbers are the same in all three standards):

* MIL-STD-105E Table I and Table II-A as transcribed in "Tablas" (scribd
  document 563507790, "MIL-STD-105E Page 19 of 74"): the plans of every row;
* "ANSI/ASQC Z1.4/MIL-STD-105E/BS 6001/DIN 40080/ISO 2859 Table I"
  (pdfcoffee.com, "aql-sampling-chart"): every letter of Table 1;
* nibs.org FMOC "TABLE 1-A, General Level II, Single Normal" (AC-TABLE.ASC),
  built from MIL-STD-105E Tables I and II-A: every cell, arrows included, of
  Table II-A for AQL 0.65 ... 15 and letters A ... Q.

Table 2-A is a diagonal table: along a diagonal (one letter down, one AQL
column left) the cell is the same.  Two arrows point off the table: A at
AQL 10 points up and R at AQL 0.015 points down, with no plan in that
direction.  For those two cells we use the nearest plan in the same AQL
column the other way (A/10 -> C, n=5, 1/2; R/0.015 -> P, n=800, 0/1), so the
chosen AQL is kept.  That is the swap ISO 2859-1 itself allows between an
Ac = 0 plan and the Ac = 1 plan with the larger sample in the same AQL column
(the missing plans would be A-minus-one 0/1 and R-plus-one 1/2).  None of the
transcriptions shows the R/0.015 cell; nibs.org shows the up arrow at A/10.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from lineage.errors import InputError

Decision = Literal["accept", "reject"]

LEVELS = ("S-1", "S-2", "S-3", "S-4", "I", "II", "III")

# ISO 2859-1 Table 1: (largest lot size of the range, code letter per LEVELS).
# The ranges start at 2; a lot of 1 uses the first row (and is then inspected 100 %).
_TABLE_1 = (
    (8, "AAAAAAB"),
    (15, "AAAAABC"),
    (25, "AABBBCD"),
    (50, "ABBCCDE"),
    (90, "BBCCCEF"),
    (150, "BBCDDFG"),
    (280, "BCDEEGH"),
    (500, "BCDEFHJ"),
    (1200, "CCEFGJK"),
    (3200, "CDEGHKL"),
    (10000, "CDFGJLM"),
    (35000, "CDFHKMN"),
    (150000, "DEGJLNP"),
    (500000, "DEGJMPQ"),
    (math.inf, "DEHKNQR"),
)
_TABLE_1_BOUNDS = [upper for upper, _ in _TABLE_1]

# AQL in percent nonconforming (up to 10) or nonconformities per 100 items (all).
AQLS = (
    0.010, 0.015, 0.025, 0.040, 0.065, 0.10, 0.15, 0.25, 0.40, 0.65, 1.0, 1.5, 2.5,
    4.0, 6.5, 10, 15, 25, 40, 65, 100, 150, 250, 400, 650, 1000,
)  # fmt: skip

# ISO 2859-1 Table 2-A, single sampling plans for normal inspection: one row
# per code letter (letter, sample size, then one cell per AQL above); a cell
# is "Ac/Re", "v" (use the first plan below the arrow) or "^" (first above).
_TABLE_2A_TEXT = """
A    2     v     v     v     v     v     v     v     v     v     v     v     v     v     v   0/1     ^     v   1/2   2/3   3/4   5/6   7/8 10/11 14/15 21/22 30/31
B    3     v     v     v     v     v     v     v     v     v     v     v     v     v   0/1     ^     v   1/2   2/3   3/4   5/6   7/8 10/11 14/15 21/22 30/31 44/45
C    5     v     v     v     v     v     v     v     v     v     v     v     v   0/1     ^     v   1/2   2/3   3/4   5/6   7/8 10/11 14/15 21/22 30/31 44/45     ^
D    8     v     v     v     v     v     v     v     v     v     v     v   0/1     ^     v   1/2   2/3   3/4   5/6   7/8 10/11 14/15 21/22 30/31 44/45     ^     ^
E   13     v     v     v     v     v     v     v     v     v     v   0/1     ^     v   1/2   2/3   3/4   5/6   7/8 10/11 14/15 21/22 30/31 44/45     ^     ^     ^
F   20     v     v     v     v     v     v     v     v     v   0/1     ^     v   1/2   2/3   3/4   5/6   7/8 10/11 14/15 21/22     ^     ^     ^     ^     ^     ^
G   32     v     v     v     v     v     v     v     v   0/1     ^     v   1/2   2/3   3/4   5/6   7/8 10/11 14/15 21/22     ^     ^     ^     ^     ^     ^     ^
H   50     v     v     v     v     v     v     v   0/1     ^     v   1/2   2/3   3/4   5/6   7/8 10/11 14/15 21/22     ^     ^     ^     ^     ^     ^     ^     ^
J   80     v     v     v     v     v     v   0/1     ^     v   1/2   2/3   3/4   5/6   7/8 10/11 14/15 21/22     ^     ^     ^     ^     ^     ^     ^     ^     ^
K  125     v     v     v     v     v   0/1     ^     v   1/2   2/3   3/4   5/6   7/8 10/11 14/15 21/22     ^     ^     ^     ^     ^     ^     ^     ^     ^     ^
L  200     v     v     v     v   0/1     ^     v   1/2   2/3   3/4   5/6   7/8 10/11 14/15 21/22     ^     ^     ^     ^     ^     ^     ^     ^     ^     ^     ^
M  315     v     v     v   0/1     ^     v   1/2   2/3   3/4   5/6   7/8 10/11 14/15 21/22     ^     ^     ^     ^     ^     ^     ^     ^     ^     ^     ^     ^
N  500     v     v   0/1     ^     v   1/2   2/3   3/4   5/6   7/8 10/11 14/15 21/22     ^     ^     ^     ^     ^     ^     ^     ^     ^     ^     ^     ^     ^
P  800     v   0/1     ^     v   1/2   2/3   3/4   5/6   7/8 10/11 14/15 21/22     ^     ^     ^     ^     ^     ^     ^     ^     ^     ^     ^     ^     ^     ^
Q 1250   0/1     ^     v   1/2   2/3   3/4   5/6   7/8 10/11 14/15 21/22     ^     ^     ^     ^     ^     ^     ^     ^     ^     ^     ^     ^     ^     ^     ^
R 2000     ^     v   1/2   2/3   3/4   5/6   7/8 10/11 14/15 21/22     ^     ^     ^     ^     ^     ^     ^     ^     ^     ^     ^     ^     ^     ^     ^     ^
"""


def _parse_table_2a() -> tuple[str, tuple[int, ...], tuple[tuple[str, ...], ...]]:
    letters, sizes, cells = [], [], []
    for line in _TABLE_2A_TEXT.strip().splitlines():
        letter, size, *row = line.split()
        if len(row) != len(AQLS):
            raise AssertionError(f"Table 2-A row {letter} has {len(row)} cells")
        letters.append(letter)
        sizes.append(int(size))
        cells.append(tuple(row))
    return "".join(letters), tuple(sizes), tuple(cells)


CODE_LETTERS, SAMPLE_SIZES, _TABLE_2A = _parse_table_2a()
_ARROW_STEP = {"v": 1, "^": -1}


@dataclass(frozen=True)
class SamplingPlan:
    """How many items to inspect and how many defects the lot may have.

    Accept the lot when the sample has at most ``ac`` defects, reject it at
    ``re`` or more.  ``n == lot_size`` means 100 % inspection.
    """

    code_letter: str | None
    n: int
    ac: int
    re: int
    aql: float | None
    level: str | None
    lot_size: int
    scheme: str = "iso2859-1"
    confidence: float | None = None
    max_defect_rate: float | None = None

    @property
    def full_inspection(self) -> bool:
        return self.n == self.lot_size


def _check_lot_size(lot_size: int) -> int:
    if isinstance(lot_size, bool) or not isinstance(lot_size, int | np.integer) or lot_size < 1:
        raise InputError(f"lot size must be a positive integer, not {lot_size!r}", field="lot_size")
    return int(lot_size)


def code_letter(lot_size: int, level: str = "II") -> str:
    """ISO 2859-1 Table 1: the sample size code letter for a lot and inspection level."""
    lot_size = _check_lot_size(lot_size)
    key = str(level).strip().upper()
    if key not in LEVELS:
        raise InputError(
            f"unknown inspection level {level!r}",
            field="level",
            hint="use one of " + ", ".join(LEVELS),
        )
    row = bisect.bisect_left(_TABLE_1_BOUNDS, lot_size)
    return _TABLE_1[row][1][LEVELS.index(key)]


def _aql_column(aql: float) -> int:
    for column, standard in enumerate(AQLS):
        if math.isclose(float(aql), standard, rel_tol=1e-9):
            return column
    raise InputError(
        f"AQL {aql!r} is not in the ISO 2859-1 series",
        field="aql",
        hint="use one of " + ", ".join(f"{a:g}" for a in AQLS),
    )


def _follow_arrows(row: int, column: int) -> int:
    """Row of the plan a Table 2-A cell leads to (its own row if it holds a plan)."""
    cell = _TABLE_2A[row][column]
    if cell not in _ARROW_STEP:
        return row
    for step in (_ARROW_STEP[cell], -_ARROW_STEP[cell]):  # off the table: the other way
        r = row + step
        while 0 <= r < len(CODE_LETTERS) and _TABLE_2A[r][column] in _ARROW_STEP:
            r += step
        if 0 <= r < len(CODE_LETTERS):
            return r
    raise AssertionError(f"Table 2-A column {AQLS[column]} has no plan")


def iso2859_plan(lot_size: int, aql: float, level: str = "II") -> SamplingPlan:
    """ISO 2859-1 single sampling plan, normal inspection, for a lot, AQL and level.

    Arrows are followed to the first plan below / above, and that plan's
    letter, n, Ac and Re are used.  When n is at least the lot size the whole
    lot is inspected (n = lot size, same Ac / Re).
    """
    lot_size = _check_lot_size(lot_size)
    letter = code_letter(lot_size, level)
    column = _aql_column(aql)
    row = _follow_arrows(CODE_LETTERS.index(letter), column)
    ac, re = (int(v) for v in _TABLE_2A[row][column].split("/"))
    return SamplingPlan(
        code_letter=CODE_LETTERS[row],
        n=min(SAMPLE_SIZES[row], lot_size),
        ac=ac,
        re=re,
        aql=AQLS[column],
        level=str(level).strip().upper(),
        lot_size=lot_size,
    )


def _check_probability(value: float, name: str, *, closed_right: bool = False) -> float:
    ok = 0 < value <= 1 if closed_right else 0 < value < 1
    if not (isinstance(value, int | float) and math.isfinite(value) and ok):
        interval = "(0, 1]" if closed_right else "(0, 1)"
        raise InputError(f"{name} must be in {interval}, not {value!r}", field=name)
    return float(value)


def zero_acceptance_plan(lot_size: int, confidence: float, max_defect_rate: float) -> SamplingPlan:
    """Smallest n with Ac = 0 that shows ``defect rate < max_defect_rate`` at ``confidence``.

    If the lot held D = ceil(max_defect_rate * N) defects (at least one), a
    sample of n without replacement would contain none with hypergeometric
    probability C(N-D, n) / C(N, n); n is the smallest size for which that is
    at most 1 - confidence.  Finding no defect in such a sample therefore
    rejects "D or more defects" at that confidence.  For large lots n tends to
    the binomial ceil(ln(1 - C) / ln(1 - p)), e.g. 299 for 95 % and 1 %.
    """
    from scipy.stats import hypergeom

    lot_size = _check_lot_size(lot_size)
    confidence = _check_probability(confidence, "confidence")
    max_defect_rate = _check_probability(max_defect_rate, "max_defect_rate", closed_right=True)
    defects = max(1, math.ceil(max_defect_rate * lot_size - 1e-9))
    alpha = (1.0 - confidence) * (1 + 1e-12)  # exact ties (e.g. N=100, D=1) count as met
    lo, hi = 1, lot_size  # P(no defect | n = N) = 0, so hi always qualifies
    while lo < hi:
        mid = (lo + hi) // 2
        if hypergeom.pmf(0, lot_size, defects, mid) <= alpha:
            hi = mid
        else:
            lo = mid + 1
    return SamplingPlan(
        code_letter=None,
        n=lo,
        ac=0,
        re=1,
        aql=None,
        level=None,
        lot_size=lot_size,
        scheme="zero-acceptance-hypergeometric",
        confidence=confidence,
        max_defect_rate=max_defect_rate,
    )


def _largest_remainder(counts: np.ndarray, n: int) -> np.ndarray:
    """Proportional allocation of n over strata of ``counts`` items, ties by stratum order."""
    total = int(counts.sum())
    alloc = n * counts // total
    remainder = n * counts % total
    extra = n - int(alloc.sum())
    order = np.lexsort((np.arange(len(counts)), -remainder))
    alloc[order[:extra]] += 1
    if n >= len(counts):  # every stratum gets at least one, taken from the largest
        for empty in np.flatnonzero(alloc == 0):
            alloc[int(np.argmax(alloc))] -= 1
            alloc[empty] = 1
    return alloc


def draw(
    population_ids: Sequence[str],
    n: int,
    seed: int,
    strata: Sequence[str] | None = None,
) -> list[tuple[str, str | None]]:
    """A reproducible sample of n ids, as (id, stratum) pairs in the order drawn.

    Without ``strata``: a simple random sample without replacement (stratum
    None).  With ``strata`` (one label per id): proportional stratified
    allocation by the largest-remainder method, every non-empty stratum at
    least one item when n allows, then a simple random sample within each
    stratum (strata in sorted order).  The ids are sorted first, so the same
    ids, n and seed give the same sample whatever the input order (for a given
    NumPy version: ``numpy.random.Generator`` streams may change between
    major versions, so record the sample itself, not only the seed).
    """
    ids = np.asarray([str(i) for i in population_ids], dtype=str)
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or not 0 <= n <= len(ids):
        raise InputError(
            f"sample size must be an integer in 0..{len(ids)} (the population), not {n!r}",
            field="n",
        )
    order = np.argsort(ids, kind="stable")
    ids = ids[order]
    if len(ids) and (ids[1:] == ids[:-1]).any():
        duplicate = ids[1:][ids[1:] == ids[:-1]][0]
        raise InputError(f"population id {str(duplicate)!r} occurs more than once", field="id")
    rng = np.random.default_rng(seed)
    if strata is None:
        return [(str(i), None) for i in ids[rng.choice(len(ids), size=int(n), replace=False)]]
    labels = np.asarray([str(s) for s in strata], dtype=str)
    if len(labels) != len(order):
        raise InputError(
            f"{len(labels)} strata labels for {len(order)} population ids", field="strata"
        )
    labels = labels[order]
    names, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
    if n == 0:
        return []
    alloc = _largest_remainder(counts, int(n))
    sample: list[tuple[str, str | None]] = []
    for h, name in enumerate(names):
        members = ids[inverse == h]
        picked = members[rng.choice(len(members), size=int(alloc[h]), replace=False)]
        sample.extend((str(i), str(name)) for i in picked)
    return sample


def clopper_pearson_upper(defects: int, n: int, confidence: float) -> float:
    """Exact (Clopper-Pearson) one-sided upper confidence bound on the defect rate.

    The largest rate p with P(X <= defects | n, p) >= 1 - confidence, i.e. the
    ``confidence`` quantile of Beta(defects + 1, n - defects); 1.0 when every
    inspected item was defective.
    """
    from scipy.stats import beta

    confidence = _check_probability(confidence, "confidence")
    if not 0 <= defects <= n:
        raise InputError(
            f"defects must be in 0..{n} (the sample size), not {defects!r}", field="defects"
        )
    if defects == n:
        return 1.0
    return float(beta.ppf(confidence, defects + 1, n - defects))


def lot_decision(plan: SamplingPlan, defects: int) -> Decision:
    """Accept with at most Ac defects in the sample, reject with Re or more."""
    if not 0 <= defects <= plan.n:
        raise InputError(
            f"defects must be in 0..{plan.n} (the sample size), not {defects!r}", field="defects"
        )
    return "accept" if defects <= plan.ac else "reject"
