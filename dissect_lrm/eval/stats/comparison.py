"""Paired comparison of two models on the same problems: difference, interval, permutation p-value."""

from __future__ import annotations

import math
from statistics import NormalDist
from typing import Any, Literal

import numpy as np

from dissect_lrm.eval.stats.bootstrap import _BOOTSTRAP_CHUNK, _bootstrap_means, _percentile_interval
from dissect_lrm.eval.stats.core import BootstrapLevel, _counts, check_correct
from dissect_lrm.eval.stats.passk import _hypergeometric_pmf


def _exact_permutation_p(pooled_correct: np.ndarray, runs_a: int, runs_b: int, difference: float) -> float:
    """Exact p-value of the stratified permutation test when every problem has runs_a and runs_b runs.

    Then d* = (S (1/runs_a + 1/runs_b) - sum_i pooled_i / runs_b) / P with S = sum_i x_i, x_i independent
    hypergeometrics, so the null law of d* is that of S: the convolution of P small pmfs. Problems with
    the same pooled count share a pmf, so the convolution is a product of powers in Fourier space. The
    FFT is circular; its length covers mean +- (64 sd + 16 runs_a), beyond which Bernstein's inequality
    leaves < 1e-10 of mass, and each index is mapped back to the value of S nearest the mean.
    """
    num_problems = pooled_correct.size
    total = runs_a + runs_b
    profiles, multiplicity = np.unique(pooled_correct, return_counts=True)
    pmf = _hypergeometric_pmf(profiles, total, runs_a)
    share = profiles / total
    mean = float((multiplicity * runs_a * share).sum())
    variance = float((multiplicity * runs_a * share * (1 - share) * runs_b / max(total - 1, 1)).sum())
    span = num_problems * runs_a + 1
    window = 2 * int(64 * math.sqrt(variance) + 16 * runs_a) + 1
    length = 1 << (min(span, window) - 1).bit_length()
    spectrum = np.prod(np.fft.rfft(pmf, n=length, axis=1) ** multiplicity[:, None], axis=0)
    law = np.clip(np.fft.irfft(spectrum, n=length), 0.0, None)
    index = np.arange(length)
    sums = index + length * np.round((mean - index) / length)
    step = 1.0 / runs_a + 1.0 / runs_b
    permuted = (sums * step - pooled_correct.sum() / runs_b) / num_problems
    tolerance = 1e-9 * step / num_problems  # differences are multiples of step / P: compare with slack
    return float(min(1.0, law[np.abs(permuted) >= abs(difference) - tolerance].sum()))


def paired_runs_interval(
    count_a: np.ndarray,
    samples_a: np.ndarray,
    count_b: np.ndarray,
    samples_b: np.ndarray,
    confidence: float = 0.95,
) -> dict[str, float]:
    """Interval for mean_i(c_a/n_a - c_b/n_b) with the problems fixed, valid from a single run up.

    The variance of each problem's difference is taken at the pooled rate q_i = (c_a + c_b)/(n_a + n_b),
    q(1-q) N/(N-1) (1/n_a + 1/n_b) with N = n_a + n_b: the exact variance under "same rate on this
    problem" (the permutation test's null, so interval and p-value agree), and an over-estimate when the
    rates differ (conservative). A bootstrap that redraws runs at the observed rate c/n gives problems
    with c = 0 or c = n no variance at all and so under-covers at few runs (19% at one run on an
    AIME-like set). A continuity correction of half the lattice step, (1/n_a + 1/n_b) / 2P, keeps the
    normal interval honest when few problems are discordant (one run per model: a McNemar interval).
    """
    num_problems = count_a.size
    total = samples_a + samples_b
    pooled = (count_a + count_b) / total
    variance = pooled * (1 - pooled) * total / (total - 1) * (1 / samples_a + 1 / samples_b)
    standard_error = math.sqrt(float(variance.sum())) / num_problems
    correction = 0.5 * float(np.mean(1 / samples_a + 1 / samples_b)) / num_problems
    difference = float((count_a / samples_a).mean() - (count_b / samples_b).mean())
    half_width = NormalDist().inv_cdf(0.5 + confidence / 2) * standard_error + correction
    return {"low": difference - half_width, "high": difference + half_width, "standard_error": standard_error}


def paired_comparison(
    correct_a: Any,
    correct_b: Any,
    mask_a: Any = None,
    mask_b: Any = None,
    level: BootstrapLevel = "runs",
    num_resamples: int = 1000,
    num_permutations: int = 10000,
    confidence: float = 0.95,
    seed: int = 0,
    method: Literal["auto", "exact", "monte_carlo"] = "auto",
) -> dict[str, Any]:
    """Model A minus model B on the same problems (same row order): difference, bootstrap CI, p-value.

    CI at `level`: "runs" (default; the benchmark is fixed, as in "is A better than B on AIME24?") is
    paired_runs_interval, right from one run per problem up; "problems" and "both" are paired percentile
    bootstraps that also resample problems (jointly for A and B).
    p-value: two-sided stratified permutation test. H0: on every problem A and B succeed with the same
    probability, so each problem's pooled runs may be relabelled freely; A's share of a problem's
    pooled correct runs is then hypergeometric. method="exact" (the default "auto" picks it whenever
    each model has the same run count on every problem) computes the null law by FFT convolution;
    "monte_carlo" draws `num_permutations` relabellings, p = (1 + #{|d*| >= |d|}) / (1 + B).
    The two models may have different run counts.
    """
    values_a, observed_a = check_correct(correct_a, mask_a)
    values_b, observed_b = check_correct(correct_b, mask_b)
    if values_a.shape[0] != values_b.shape[0]:
        raise ValueError(
            f"models cover different numbers of problems: {values_a.shape[0]} vs {values_b.shape[0]}"
        )
    if method not in ("auto", "exact", "monte_carlo"):
        raise ValueError(f"method must be 'auto', 'exact' or 'monte_carlo', got {method!r}")
    correct_count_a, samples_a = _counts(values_a, observed_a)
    correct_count_b, samples_b = _counts(values_b, observed_b)
    accuracy_a, accuracy_b = correct_count_a / samples_a, correct_count_b / samples_b
    difference = float(accuracy_a.mean() - accuracy_b.mean())
    if level == "runs":
        interval = paired_runs_interval(correct_count_a, samples_a, correct_count_b, samples_b, confidence)
        low, high, method_text = interval["low"], interval["high"], "pooled-rate normal, continuity-corrected"
    else:
        replicates = _bootstrap_means(
            [(correct_count_a, samples_a), (correct_count_b, samples_b)], level, num_resamples, seed
        )
        low, high = _percentile_interval(replicates[:, 0] - replicates[:, 1], confidence)
        method_text = f"paired percentile bootstrap ({num_resamples} resamples)"

    pooled_correct = correct_count_a + correct_count_b
    uniform_runs = bool(np.all(samples_a == samples_a[0]) and np.all(samples_b == samples_b[0]))
    if method == "exact" and not uniform_runs:
        raise ValueError("the exact test needs the same run count on every problem (per model)")
    use_exact = method == "exact" or (method == "auto" and uniform_runs)
    if use_exact:
        p_value = _exact_permutation_p(pooled_correct, int(samples_a[0]), int(samples_b[0]), difference)
    else:
        rng = np.random.default_rng(seed + 1)  # a stream apart from the bootstrap's
        pooled_wrong = samples_a + samples_b - pooled_correct
        exceed = 0
        chunk = max(1, _BOOTSTRAP_CHUNK // accuracy_a.size)
        for start in range(0, num_permutations, chunk):  # chunks of many relabellings at once
            size = min(chunk, num_permutations - start)
            shape = (size, accuracy_a.size)
            drawn_a = rng.hypergeometric(
                np.broadcast_to(pooled_correct, shape),
                np.broadcast_to(pooled_wrong, shape),
                np.broadcast_to(samples_a, shape),
            )
            permuted = (drawn_a / samples_a - (pooled_correct - drawn_a) / samples_b).mean(axis=1)
            exceed += int((np.abs(permuted) >= abs(difference) - 1e-12).sum())
        p_value = (1 + exceed) / (1 + num_permutations)
    wins = accuracy_a > accuracy_b
    losses = accuracy_a < accuracy_b
    return {
        "difference": difference,
        "mean_a": float(accuracy_a.mean()),
        "mean_b": float(accuracy_b.mean()),
        "ci": {
            "low": low,
            "high": high,
            "level": level,
            "confidence": confidence,
            "method": method_text,
        },
        "p_value": p_value,
        "test": "stratified run-level permutation, two-sided, "
        + ("exact (FFT convolution)" if use_exact else f"Monte Carlo ({num_permutations} relabellings)"),
        "problems_a_better": int(wins.sum()),
        "problems_b_better": int(losses.sum()),
        "problems_tied": int((~wins & ~losses).sum()),
        "seed": seed,
    }
