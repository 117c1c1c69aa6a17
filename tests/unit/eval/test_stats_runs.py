"""Run-level statistics: max gap (Table 7), the run planner against simulation, the paired comparison."""

import itertools
import math

import numpy as np
import pytest

from dissect_lrm.eval.planner import (
    expected_normal_range,
    normal_quantile,
    plan_runs,
    recommend_runs,
    score_sd,
)
from dissect_lrm.eval.stats import max_gap, paired_comparison


def enumerated_mean_gap(scores: list[float], trials: int, runs: int) -> float:
    gaps = []
    for order in itertools.permutations(range(len(scores))):
        trial_scores = [np.mean([scores[i] for i in order[t * runs : (t + 1) * runs]]) for t in range(trials)]
        gaps.append(max(trial_scores) - min(trial_scores))
    return float(np.mean(gaps))


def test_max_gap_tiny_hand_case():
    # One problem, runs 1,1,0,0; two trials of two runs: gap 1 with probability 1/3, else 0.
    correct = np.array([[1, 1, 0, 0]])
    result = max_gap(correct, trials=2, runs_per_trial=2, num_draws=20000, seed=3)
    assert enumerated_mean_gap([1, 1, 0, 0], 2, 2) == pytest.approx(1 / 3)
    assert result["mean_gap"] == pytest.approx(1 / 3, abs=0.015)
    assert result["mean_score"] == pytest.approx(0.5)


def test_max_gap_matches_enumeration_over_all_orders():
    correct = np.array([[1, 0, 1, 1, 0, 0, 1], [1, 1, 0, 1, 0, 1, 1]])
    scores = list(correct.mean(axis=0))
    expected = enumerated_mean_gap(scores, 3, 2)
    result = max_gap(correct, trials=3, runs_per_trial=2, num_draws=40000, seed=0)
    assert result["mean_gap"] == pytest.approx(expected, abs=0.01)


def test_max_gap_is_zero_when_runs_agree_and_refuses_too_few_runs():
    correct = np.tile(np.array([[1], [0], [1]]), (1, 8))
    assert max_gap(correct, trials=4, runs_per_trial=2)["mean_gap"] == 0.0
    with pytest.raises(ValueError, match="replace=True"):
        max_gap(correct, trials=4, runs_per_trial=4)
    assert max_gap(correct, trials=4, runs_per_trial=4, replace=True)["mean_gap"] == 0.0
    with pytest.raises(ValueError, match="mask"):
        max_gap(np.array([[1.0, np.nan]]))


def test_normal_helpers():
    assert normal_quantile(0.975) == pytest.approx(1.959963984540054, abs=1e-9)
    assert expected_normal_range(2) == pytest.approx(2 / math.sqrt(math.pi), abs=1e-6)
    assert expected_normal_range(3) == pytest.approx(3 / math.sqrt(math.pi), abs=1e-6)
    draws = np.random.default_rng(0).standard_normal((200000, 4))
    assert expected_normal_range(4) == pytest.approx(np.ptp(draws, axis=1).mean(), rel=0.01)


def simulate_trials(accuracy: np.ndarray, runs: int, trials: int, sims: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    counts = rng.binomial(runs, accuracy, size=(sims, trials, accuracy.size))
    return (counts / runs).mean(axis=2)  # (sims, trials) avg@runs scores


@pytest.mark.parametrize("runs", [4, 16])
def test_planner_predictions_match_simulation(runs):
    accuracy = np.random.default_rng(1).uniform(0, 1, 30)  # AIME-sized benchmark
    scores = simulate_trials(accuracy, runs, trials=4, sims=20000, seed=2)
    (row,) = plan_runs(accuracy, [runs], trials=4)
    assert row["sd"] == pytest.approx(scores.std(), rel=0.03)
    assert row["expected_max_gap"] == pytest.approx(np.ptp(scores, axis=1).mean(), rel=0.04)
    covered = np.abs(scores - accuracy.mean()) <= row["rerun_half_width"]
    assert covered.mean() == pytest.approx(0.95, abs=0.01)


def test_planner_bias_correction_for_estimated_accuracies():
    accuracy = np.array([0.5, 0.25])
    assert score_sd(accuracy, 1, observed_runs=4) == pytest.approx(
        math.sqrt(min(0.25 * 4 / 3, 0.25) + 0.1875 * 4 / 3) / 2
    )


def test_recommend_runs_is_the_smallest_sufficient_count():
    accuracy = np.random.default_rng(4).uniform(0, 1, 30)
    result = recommend_runs(accuracy, target_half_width=0.02, target_max_gap=0.01, trials=4)
    for key, field in (
        ("runs_for_rerun_half_width", "rerun_half_width"),
        ("runs_for_max_gap", "expected_max_gap"),
    ):
        target = 0.02 if key == "runs_for_rerun_half_width" else 0.01
        enough, fewer = plan_runs(accuracy, [result[key], result[key] - 1], trials=4)
        assert enough[field] <= target < fewer[field]
    assert recommend_runs(accuracy) == {"runs_for_rerun_half_width": None, "runs_for_max_gap": None}


def exact_permutation_p(correct_a: np.ndarray, correct_b: np.ndarray) -> float:
    """Enumerate every relabelling of each problem's pooled runs (independently per problem)."""
    observed = correct_a.mean(axis=1).mean() - correct_b.mean(axis=1).mean()
    runs_a = correct_a.shape[1]
    per_problem = []
    for row_a, row_b in zip(correct_a, correct_b):
        pooled = list(row_a) + list(row_b)
        options = []
        for chosen in itertools.combinations(range(len(pooled)), runs_a):
            rest = [pooled[i] for i in range(len(pooled)) if i not in chosen]
            options.append(np.mean([pooled[i] for i in chosen]) - np.mean(rest))
        per_problem.append(options)
    diffs = [np.mean(combo) for combo in itertools.product(*per_problem)]
    return float(np.mean(np.abs(diffs) >= abs(observed) - 1e-12))


PAIRED_A = np.array([[1, 1, 1], [1, 0, 1], [0, 0, 1]])
PAIRED_B = np.array([[0, 1], [0, 0], [1, 0]])  # fewer runs for B is allowed


def test_paired_exact_p_value_equals_enumeration():
    result = paired_comparison(PAIRED_A, PAIRED_B, num_resamples=200)
    assert result["difference"] == pytest.approx((1 + 2 / 3 + 1 / 3) / 3 - 1 / 3)
    assert "exact" in result["test"]
    assert result["p_value"] == pytest.approx(exact_permutation_p(PAIRED_A, PAIRED_B), abs=1e-9)
    assert (result["problems_a_better"], result["problems_b_better"], result["problems_tied"]) == (2, 1, 0)


@pytest.mark.parametrize("seed", range(5))
def test_paired_exact_p_value_equals_enumeration_on_random_cases(seed):
    rng = np.random.default_rng(seed)
    correct_a = rng.random((3, 3)) < rng.uniform(0, 1, (3, 1))
    correct_b = rng.random((3, 3)) < rng.uniform(0, 1, (3, 1))
    result = paired_comparison(correct_a, correct_b, num_resamples=10)
    assert result["p_value"] == pytest.approx(exact_permutation_p(correct_a, correct_b), abs=1e-9)


def test_paired_monte_carlo_p_value_approaches_enumeration():
    result = paired_comparison(
        PAIRED_A, PAIRED_B, num_permutations=20000, num_resamples=10, method="monte_carlo"
    )
    assert "Monte Carlo" in result["test"]
    assert result["p_value"] == pytest.approx(exact_permutation_p(PAIRED_A, PAIRED_B), abs=0.01)


def test_paired_exact_p_value_on_a_large_set_agrees_with_monte_carlo():
    # 5000 problems x 4 runs: the FFT window is shorter than the support, so the wrap-around is exercised.
    rng = np.random.default_rng(8)
    accuracy = rng.uniform(0, 1, 5000)
    correct_a = rng.random((5000, 4)) < accuracy[:, None]
    correct_b = rng.random((5000, 4)) < np.clip(accuracy - 0.005, 0, 1)[:, None]
    exact = paired_comparison(correct_a, correct_b, num_resamples=10)["p_value"]
    monte_carlo = paired_comparison(
        correct_a, correct_b, num_resamples=10, num_permutations=4000, method="monte_carlo"
    )["p_value"]
    assert 0.01 < exact < 0.9
    assert exact == pytest.approx(monte_carlo, abs=4 * math.sqrt(exact * (1 - exact) / 4000))


def test_paired_ragged_runs_use_monte_carlo():
    correct_a = np.array([[1.0, 1.0, np.nan], [0.0, 1.0, 1.0]])
    mask_a = ~np.isnan(correct_a)
    with pytest.raises(ValueError, match="same run count"):
        paired_comparison(correct_a, PAIRED_B[:2], mask_a=mask_a, method="exact")
    result = paired_comparison(correct_a, PAIRED_B[:2], mask_a=mask_a, num_permutations=500, num_resamples=10)
    assert "Monte Carlo" in result["test"] and 0 < result["p_value"] <= 1


def test_paired_test_is_calibrated_under_the_null_and_has_power():
    rng = np.random.default_rng(5)
    accuracy = rng.uniform(0.1, 0.9, 30)
    p_values = []
    for sim in range(200):
        correct_a = rng.random((30, 8)) < accuracy[:, None]
        correct_b = rng.random((30, 8)) < accuracy[:, None]
        p_values.append(
            paired_comparison(correct_a, correct_b, num_permutations=999, num_resamples=50, seed=sim)[
                "p_value"
            ]
        )
    assert 0.01 <= np.mean(np.array(p_values) <= 0.05) <= 0.10
    better = rng.random((30, 8)) < np.minimum(accuracy + 0.2, 1)[:, None]
    worse = rng.random((30, 8)) < accuracy[:, None]
    result = paired_comparison(better, worse, num_permutations=999)
    assert result["p_value"] < 0.01 and result["ci"]["low"] > 0


def test_paired_runs_level_ci_covers_the_true_difference():
    rng = np.random.default_rng(6)
    accuracy_a = rng.uniform(0.1, 0.9, 40)
    accuracy_b = np.clip(accuracy_a - 0.05, 0, 1)
    truth = accuracy_a.mean() - accuracy_b.mean()
    hits = 0
    for sim in range(300):
        correct_a = rng.random((40, 16)) < accuracy_a[:, None]
        correct_b = rng.random((40, 8)) < accuracy_b[:, None]
        ci = paired_comparison(correct_a, correct_b, num_resamples=400, num_permutations=1, seed=sim)["ci"]
        hits += ci["low"] <= truth <= ci["high"]
    assert 0.90 <= hits / 300 <= 0.99


def test_paired_comparison_refuses_mismatched_problems():
    with pytest.raises(ValueError, match="problems"):
        paired_comparison(np.ones((3, 2)), np.ones((4, 2)))
