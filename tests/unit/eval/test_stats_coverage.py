"""Coverage of the paired comparison's 95% interval under the null, at the run counts people use."""

from __future__ import annotations

import numpy as np
import pytest

from dissect_lrm.eval.stats import paired_comparison

NUM_PROBLEMS, NUM_SIMULATIONS = 30, 600  # an AIME-sized set; 600 draws: coverage SE ~0.9 points


def null_pairs(runs: int, seed: int):
    """Two models with the same per-problem success probability (no real difference), AIME-like spread.

    Most problems are nearly always or nearly never solved (Beta(0.3, 0.3)), the case where a bootstrap
    that redraws runs from the observed rate sees no variance at all.
    """
    rng = np.random.default_rng(seed)
    for _ in range(NUM_SIMULATIONS):
        rate = rng.beta(0.3, 0.3, size=(NUM_PROBLEMS, 1))
        yield rng.random((NUM_PROBLEMS, runs)) < rate, rng.random((NUM_PROBLEMS, runs)) < rate


@pytest.mark.parametrize("runs", [1, 4, 16, 64])
def test_default_paired_interval_covers_the_null(runs):
    covered = 0
    for correct_a, correct_b in null_pairs(runs, seed=runs):
        ci = paired_comparison(correct_a, correct_b, num_resamples=200, num_permutations=1)["ci"]
        covered += ci["low"] <= 0.0 <= ci["high"]
    assert covered / NUM_SIMULATIONS >= 0.93


def test_paired_interval_is_not_needlessly_wide_with_many_runs():
    """With 64 runs and a real 10-point gap on every problem, the interval excludes 0 (it has power)."""
    rng = np.random.default_rng(7)
    rate = rng.uniform(0.2, 0.8, size=(NUM_PROBLEMS, 1))
    correct_a = rng.random((NUM_PROBLEMS, 64)) < rate + 0.1
    correct_b = rng.random((NUM_PROBLEMS, 64)) < rate
    ci = paired_comparison(correct_a, correct_b, num_permutations=1)["ci"]
    assert ci["low"] > 0.0
    assert ci["high"] - ci["low"] < 0.1


def test_few_discordant_problems_at_one_run_agree_with_the_exact_test():
    """One run each, 4 problems solved by A only, none by B only: exact p = 2/16, so 0 must stay inside."""
    correct_a = np.zeros((NUM_PROBLEMS, 1), dtype=bool)
    correct_b = np.zeros((NUM_PROBLEMS, 1), dtype=bool)
    correct_a[:4] = True
    correct_a[10:20] = correct_b[10:20] = True
    result = paired_comparison(correct_a, correct_b)
    assert result["p_value"] == pytest.approx(2 / 16)
    assert result["ci"]["low"] <= 0.0 <= result["ci"]["high"]
