"""pass@k, G-Pass@k_tau and mG-Pass@k against math.comb formulas and brute-force enumeration."""

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dissect_lrm.eval.stats import g_pass_at_k, mg_pass_at_k, pass_at_k, pass_at_k_curve


def comb_pass_at_k(n: int, c: int, k: int) -> float:
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)


def enumerated_pass_at_k(row: list[int], k: int) -> float:
    subsets = list(itertools.combinations(range(len(row)), k))
    return sum(any(row[i] for i in subset) for subset in subsets) / len(subsets)


def comb_g_pass(n: int, c: int, k: int, tau: float) -> float:
    threshold = max(1, math.ceil(tau * k - 1e-9))
    return sum(
        math.comb(c, j) * math.comb(n - c, k - j) for j in range(threshold, min(c, k) + 1)
    ) / math.comb(n, k)


@pytest.mark.parametrize("n", [1, 2, 5, 8])
def test_pass_at_k_matches_comb_for_every_c_and_k(n):
    counts = np.arange(n + 1)
    table = pass_at_k(counts, np.full(n + 1, n), list(range(1, n + 1)))
    for c in range(n + 1):
        for k in range(1, n + 1):
            assert table[c, k - 1] == pytest.approx(comb_pass_at_k(n, c, k), abs=1e-12)


def test_pass_at_k_curve_matches_enumeration_of_subsets():
    correct = np.array([[1, 0, 0, 1, 0, 0], [0, 0, 0, 0, 0, 0], [1, 1, 1, 1, 1, 0], [0, 0, 0, 0, 0, 1]])
    curve = pass_at_k_curve(correct)
    assert list(curve) == [1, 2, 3, 4, 5, 6]
    for k, value in curve.items():
        expected = np.mean([enumerated_pass_at_k(list(row), k) for row in correct])
        assert value == pytest.approx(expected, abs=1e-12)
    assert curve[1] == pytest.approx(correct.mean())


def test_pass_at_k_is_stable_for_large_n():
    # C(1024, 512) overflows float64; the product form must still agree with exact integer arithmetic.
    n, c, k = 1024, 3, 512
    exact = 1 - math.comb(n - c, k) / math.comb(n, k)  # Python ints/fractions: exact ratio
    assert pass_at_k([c], [n], [k])[0, 0] == pytest.approx(exact, rel=1e-10)


def test_pass_at_k_nan_beyond_n_and_ragged_curve_refuses_large_k():
    table = pass_at_k([1, 2], [2, 4], [3])
    assert np.isnan(table[0, 0]) and table[1, 0] == pytest.approx(comb_pass_at_k(4, 2, 3))
    correct = np.array([[1.0, 0.0, np.nan], [0.0, 1.0, 1.0]])
    mask = ~np.isnan(correct)
    assert pass_at_k_curve(correct, mask) == pytest.approx(
        {1: (0.5 + 2 / 3) / 2, 2: (1.0 + comb_pass_at_k(3, 2, 2)) / 2}
    )
    with pytest.raises(ValueError, match="smallest number of runs"):
        pass_at_k_curve(correct, mask, ks=[3])


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 40).flatmap(lambda n: st.tuples(st.just(n), st.integers(0, n))))
def test_pass_at_k_properties(case):
    n, c = case
    values = pass_at_k([c], [n], list(range(1, n + 1)))[0]
    assert values[0] == pytest.approx(c / n)
    assert values[-1] == (1.0 if c > 0 else 0.0)
    assert np.all(np.diff(values) >= -1e-12)  # more tries never hurt


@pytest.mark.parametrize("n,k", [(4, 4), (8, 4), (16, 8), (48, 16)])
@pytest.mark.parametrize("tau", [0.0, 0.25, 0.5, 0.75, 1.0])
def test_g_pass_matches_comb_formula(n, k, tau):
    counts = np.arange(n + 1)
    values = g_pass_at_k(counts, np.full(n + 1, n), k, tau)
    expected = [comb_g_pass(n, c, k, tau) for c in range(n + 1)]
    np.testing.assert_allclose(values, expected, atol=1e-12)


def test_g_pass_edges_are_pass_at_k_and_all_correct():
    counts, n, k = np.arange(9), 8, 4
    np.testing.assert_allclose(
        g_pass_at_k(counts, np.full(9, n), k, 0.0), pass_at_k(counts, np.full(9, n), [k])[:, 0]
    )
    all_correct = [math.comb(c, k) / math.comb(n, k) for c in range(9)]
    np.testing.assert_allclose(g_pass_at_k(counts, np.full(9, n), k, 1.0), all_correct, atol=1e-12)


def test_g_pass_enumerated_on_a_tiny_case():
    row = [1, 1, 0, 1, 0]  # n=5, c=3; k=3, tau=2/3 -> at least 2 correct among 3
    subsets = list(itertools.combinations(range(5), 3))
    expected = sum(sum(row[i] for i in s) >= 2 for s in subsets) / len(subsets)
    assert g_pass_at_k([3], [5], 3, 2 / 3)[0] == pytest.approx(expected)


@pytest.mark.parametrize("k", [1, 2, 3, 4, 7, 8])
def test_mg_pass_is_the_mean_of_g_pass_over_upper_thresholds(k):
    n = 8
    counts = np.arange(n + 1)
    expected = [
        2.0 / k * sum(comb_g_pass(n, c, k, i / k) for i in range(math.ceil(0.5 * k) + 1, k + 1))
        for c in counts
    ]
    np.testing.assert_allclose(mg_pass_at_k(counts, np.full(n + 1, n), k), expected, atol=1e-12)
