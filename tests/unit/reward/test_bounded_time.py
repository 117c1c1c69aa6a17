"""Pathological answers are decided in-process by cheap reasoning (residues, sizes), never left to the deadline.

Time is compared with a trivial pair timed in the same run (a ratio, never a wall-clock constant).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from fractions import Fraction

import pytest

from dissect_lrm.reward.compute_score import compute_scores
from dissect_lrm.reward.huge import PRIMES, residue
from dissect_lrm.reward.latex_expr import parse_latex
from dissect_lrm.reward.robust import quick_verdict
from dissect_lrm.reward.timeout import DeadlinePool

from .grader_corpus import PATHOLOGICAL

TRIVIAL = ("\\frac{1}{2}", "0.5")
# A trivial pair takes ~30-60 us here; 100 ms is ~2000x that. 4000x leaves room for a loaded 2-core box
# (both sides are timed in the same run, best of three, so load mostly cancels).
MAX_RATIO = 4000.0


def _best_time(gold: str, pred: str, repeat: int = 3) -> tuple[float, bool | None]:
    best, verdict = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        verdict = quick_verdict(gold, pred)
        best = min(best, time.perf_counter() - start)
    return best, verdict


@pytest.fixture(scope="module")
def trivial_time() -> float:
    _best_time(*TRIVIAL)  # imports and first-call costs
    return _best_time(*TRIVIAL, repeat=20)[0]


@pytest.mark.parametrize(
    ("gold", "pred", "label"), PATHOLOGICAL, ids=[f"p{i}" for i in range(len(PATHOLOGICAL))]
)
def test_pathological_pair_is_decided_cheaply(gold: str, pred: str, label: bool, trivial_time: float) -> None:
    elapsed, verdict = _best_time(gold, pred)
    # decided without sympy (None would send it to a worker until the deadline), and rightly so
    assert verdict is label
    assert elapsed <= MAX_RATIO * trivial_time, (
        f"{elapsed * 1e3:.1f} ms vs trivial {trivial_time * 1e6:.0f} us"
    )


@pytest.fixture()
def pool() -> Iterator[DeadlinePool]:
    pool = DeadlinePool(workers=2)
    yield pool
    pool.close()


def test_pathological_responses_never_reach_the_deadline(pool: DeadlinePool) -> None:
    # what the trainer receives: a decision, never a timeout, for each pathological answer in a batch
    responses = [f"<think>.</think> \\boxed{{{pred}}}" for _, pred, _ in PATHOLOGICAL]
    results = compute_scores(["math"] * len(responses), responses, [g for g, _, _ in PATHOLOGICAL], pool=pool)
    assert [r["timed_out"] for r in results] == [False] * len(results)
    expected = [float(label) if len(pred) <= 2000 else 0.0 for _, pred, label in PATHOLOGICAL]
    assert [r["score"] for r in results] == expected  # answers over 2000 characters are refused at extraction


def _fraction_residue(value: Fraction, prime: int) -> int:
    return value.numerator % prime * pow(value.denominator, -1, prime) % prime


# Residues against Python's own integers (an independent computation): exact values where affordable, and
# Python's modular power for exponents too large for our exact path (the Fermat reduction).
RESIDUE_CASES = [
    ("9^{9^{2}}", lambda p: _fraction_residue(Fraction(9 ** (9**2)), p)),
    ("2^{3^{4}}+7", lambda p: _fraction_residue(Fraction(2 ** (3**4) + 7), p)),
    ("250!", lambda p: _fraction_residue(Fraction(math.factorial(250)), p)),
    ("\\binom{300}{150}", lambda p: _fraction_residue(Fraction(math.comb(300, 150)), p)),
    ("\\frac{7^{500}}{3}", lambda p: _fraction_residue(Fraction(7**500, 3), p)),
    ("3^{2^{5000}}", lambda p: pow(3, 2**5000, p)),
    ("5^{2^{5000}+3}-2", lambda p: (pow(5, 2**5000 + 3, p) - 2) % p),
    ("2^{10^{100}}", lambda p: pow(2, 10**100, p)),
]


@pytest.mark.parametrize(("text", "expected"), RESIDUE_CASES, ids=[c[0] for c in RESIDUE_CASES])
def test_residues_match_integer_arithmetic(text: str, expected: Callable[[int], int]) -> None:
    node = parse_latex(text)
    for prime in PRIMES:
        assert residue(node, prime) == expected(prime)
