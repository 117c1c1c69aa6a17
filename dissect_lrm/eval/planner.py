"""Run planner: predicts score spread (CI half-width, expected max gap) from per-problem accuracies."""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache
from statistics import NormalDist

import numpy as np

# Two-sided 95% normal quantile; other levels go through normal_quantile().
Z95 = 1.959963984540054


def normal_cdf(x: np.ndarray | float) -> np.ndarray:
    """Standard normal CDF, vectorised over math.erf (numpy has no erf and scipy is not a dependency)."""
    erf = np.frompyfunc(math.erf, 1, 1)
    return 0.5 * (1.0 + np.asarray(erf(np.asarray(x, dtype=np.float64) / math.sqrt(2.0)), dtype=np.float64))


def normal_quantile(probability: float) -> float:
    """Inverse standard normal CDF (the standard library's NormalDist: no scipy dependency needed)."""
    if not 0.0 < probability < 1.0:
        raise ValueError(f"probability must be in (0, 1), got {probability}")
    return NormalDist().inv_cdf(probability)


@lru_cache(maxsize=64)
def expected_normal_range(trials: int) -> float:
    """E[max - min] of `trials` iid standard normals (the d2 constant of control charts; d2(2) = 2/sqrt(pi)).

    Computed as the integral of 1 - F(x)^T - (1 - F(x))^T over the real line, on a fine grid.
    """
    if trials < 1:
        raise ValueError(f"trials must be >= 1, got {trials}")
    if trials == 1:
        return 0.0
    grid = np.linspace(-12.0, 12.0, 24001)
    cdf = normal_cdf(grid)
    integrand = 1.0 - cdf**trials - (1.0 - cdf) ** trials
    return float(np.sum((integrand[1:] + integrand[:-1]) * 0.5 * np.diff(grid)))


def problem_variances(accuracy: np.ndarray, observed_runs: np.ndarray | int | None = None) -> np.ndarray:
    """Per-problem Bernoulli variance p(1-p); with `observed_runs`, the unbiased estimate from p-hat.

    p-hat (1 - p-hat) underestimates p (1 - p) by the factor (n - 1) / n when p-hat comes from n runs,
    so the planner would otherwise promise too narrow an interval. The result is capped at 1/4, the
    largest value p (1 - p) can take.
    """
    accuracy = np.asarray(accuracy, dtype=np.float64)
    if accuracy.ndim != 1 or accuracy.size == 0:
        raise ValueError("accuracy must be a non-empty 1-D array of per-problem accuracies")
    if np.any((accuracy < 0) | (accuracy > 1)) or np.any(np.isnan(accuracy)):
        raise ValueError("accuracies must lie in [0, 1]")
    variance = accuracy * (1.0 - accuracy)
    if observed_runs is not None:
        runs = np.broadcast_to(np.asarray(observed_runs, dtype=np.float64), accuracy.shape)
        correction = np.where(runs > 1, runs / np.maximum(runs - 1.0, 1.0), 1.0)
        variance = np.minimum(variance * correction, 0.25)
    return variance


def score_sd(accuracy: np.ndarray, runs: int, observed_runs: np.ndarray | int | None = None) -> float:
    """Standard deviation of an avg@`runs` score over fresh runs, problems held fixed.

    Var = sum_i p_i (1 - p_i) / (P^2 R): each of the P R answers is an independent Bernoulli.
    """
    if runs < 1:
        raise ValueError(f"runs must be >= 1, got {runs}")
    variance = problem_variances(accuracy, observed_runs)
    return float(math.sqrt(variance.sum() / runs) / variance.size)


# The planner's interval is about re-running the same problems: "where would the score of another R runs
# land". The report's CI resamples problems and runs (a claim about the model); the names keep them apart.
def plan_runs(
    accuracy: np.ndarray,
    runs_list: Sequence[int] = (1, 4, 8, 16, 32, 64, 128),
    trials: int = 4,
    confidence: float = 0.95,
    observed_runs: np.ndarray | int | None = None,
) -> list[dict[str, float]]:
    """Predicted score sd, re-run half-width and expected max gap between `trials` trials, per run count.

    rerun_half_width: z * sd, the half-width of the range where the avg@R score of a fresh set of R runs
    on the same problems falls with `confidence` (problems held fixed; not the report's CI, which also
    resamples problems).

    Normal approximation of the avg@R score (a sum of P*R independent Bernoullis); the expected max gap
    is sd * E[range of `trials` normals], the quantity of the paper's Table 7.
    """
    z = normal_quantile(0.5 + confidence / 2.0)
    range_factor = expected_normal_range(trials)
    rows = []
    for runs in runs_list:
        sd = score_sd(accuracy, int(runs), observed_runs)
        rows.append(
            {"runs": int(runs), "sd": sd, "rerun_half_width": z * sd, "expected_max_gap": range_factor * sd}
        )
    return rows


def recommend_runs(
    accuracy: np.ndarray,
    target_half_width: float | None = None,
    target_max_gap: float | None = None,
    trials: int = 4,
    confidence: float = 0.95,
    observed_runs: np.ndarray | int | None = None,
) -> dict[str, int | None]:
    """Smallest run counts whose predicted re-run half-width / expected max gap meet the targets (fractions).

    Both predictions scale as 1/sqrt(R), so the answer is a closed form; None where no target is given.
    """
    variance = problem_variances(accuracy, observed_runs)
    sd_one_run = math.sqrt(variance.sum()) / variance.size
    result: dict[str, int | None] = {"runs_for_rerun_half_width": None, "runs_for_max_gap": None}
    for key, target, factor in (
        ("runs_for_rerun_half_width", target_half_width, normal_quantile(0.5 + confidence / 2.0)),
        ("runs_for_max_gap", target_max_gap, expected_normal_range(trials)),
    ):
        if target is None:
            continue
        if target <= 0:
            raise ValueError(f"{key}: target must be > 0, got {target}")
        # Tiny slack so that an exact target (e.g. computed from plan_runs) is not pushed one run up.
        result[key] = max(1, math.ceil((factor * sd_one_run / target) ** 2 * (1.0 - 1e-12)))
    return result
