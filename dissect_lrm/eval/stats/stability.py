"""Run stability: accuracy histogram and uncertain ratio, max gap between trials, greedy flips, lengths."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from dissect_lrm.eval.stats.core import PAPER_BIN_EDGES, UNCERTAIN_BAND, check_correct, run_scores


def accuracy_histogram(
    accuracy: Any,
    edges: Sequence[float] = PAPER_BIN_EDGES,
    band: tuple[float, float] = UNCERTAIN_BAND,
) -> dict[str, Any]:
    """Histogram of per-problem accuracies in the paper's bins (Table 4) and the uncertain ratio.

    Bins are [e_i, e_{i+1}) except the last, which includes its right edge (accuracy 1.0). A problem
    is uncertain if band[0] <= accuracy < band[1]. Accuracies are rounded to 12 decimals first so
    that 3/5 lands in [0.6, 0.8) despite floating point.
    """
    values = np.round(np.asarray(accuracy, dtype=np.float64), 12)
    edge_array = np.asarray(edges, dtype=np.float64)
    if values.ndim != 1 or values.size == 0:
        raise ValueError("accuracy must be a non-empty 1-D array")
    if edge_array.ndim != 1 or edge_array.size < 2 or np.any(np.diff(edge_array) <= 0):
        raise ValueError("edges must be strictly increasing with at least two values")
    if not band[0] < band[1]:
        raise ValueError(f"band must satisfy low < high, got {band}")
    bin_index = np.searchsorted(edge_array, values, side="right") - 1
    bin_index[values == edge_array[-1]] = edge_array.size - 2
    inside = (bin_index >= 0) & (bin_index < edge_array.size - 1)
    counts = np.bincount(bin_index[inside], minlength=edge_array.size - 1)
    labels = [
        f"[{low:g}, {high:g}{']' if i == edge_array.size - 2 else ')'}"
        for i, (low, high) in enumerate(zip(edge_array[:-1], edge_array[1:]))
    ]
    uncertain = (values >= band[0]) & (values < band[1])
    total = values.size
    return {
        "bins": labels,
        "counts": [int(c) for c in counts],
        "uncertain_count": int(uncertain.sum()),
        "uncertain_ratio": float(uncertain.mean()),
        "certain_ratio": float(1.0 - uncertain.mean()),
        "band": [float(band[0]), float(band[1])],
        "mixed_ratio": float(((values > 0) & (values < 1)).mean()),  # 0 < p < 1: not all-or-nothing
        "all_correct_ratio": float((values == 1).mean()),
        "all_wrong_ratio": float((values == 0).mean()),
        "total": int(total),
    }


# ------------------------------------------------------------------------------------- max gap (Table 7)


def max_gap(
    correct: Any,
    trials: int = 4,
    runs_per_trial: int = 16,
    num_draws: int = 1000,
    replace: bool = False,
    seed: int = 0,
    mask: Any = None,
) -> dict[str, Any]:
    """Max score gap between `trials` independent trials of `runs_per_trial` runs (Table 7).

    Each draw splits a random subset of the stored runs into disjoint trials (without replacement,
    needs trials * runs_per_trial <= stored runs; replace=True lifts that by resampling runs, which
    underestimates the gap when runs repeat), scores each trial as its avg pass@1 and records
    max - min. A trial's score is the mean of its runs' scores, so only per-run scores are resampled;
    with a mask, missing runs are filled as in run_scores.
    """
    if trials < 2 or runs_per_trial < 1 or num_draws < 1:
        raise ValueError("need trials >= 2, runs_per_trial >= 1 and num_draws >= 1")
    scores = run_scores(correct, mask)
    num_runs = scores.size
    needed = trials * runs_per_trial
    if not replace and needed > num_runs:
        raise ValueError(
            f"{trials} disjoint trials of {runs_per_trial} runs need {needed} runs, only {num_runs} stored; "
            "store more runs or pass replace=True"
        )
    rng = np.random.default_rng(seed)
    if replace:
        picks = rng.integers(0, num_runs, size=(num_draws, needed))
    else:
        picks = np.argsort(rng.random((num_draws, num_runs)), axis=1)[:, :needed]
    trial_scores = scores[picks].reshape(num_draws, trials, runs_per_trial).mean(axis=2)
    gaps = trial_scores.max(axis=1) - trial_scores.min(axis=1)
    return {
        "trials": trials,
        "runs_per_trial": runs_per_trial,
        "mean_gap": float(gaps.mean()),
        "median_gap": float(np.median(gaps)),
        "q95_gap": float(np.quantile(gaps, 0.95)),
        "mean_score": float(trial_scores.mean()),
        "num_draws": num_draws,
        "replace": replace,
        "seed": seed,
    }


# ------------------------------------------------------------------------------ greedy vs sampled flips


def greedy_flips(
    sampled_accuracy: Any,
    greedy_correct: Any,
    threshold: float = 0.5,
    band: tuple[float, float] = UNCERTAIN_BAND,
) -> dict[str, Any]:
    """How often greedy decoding's verdict differs from the sampled majority (Section 5.3).

    greedy_correct: (P,) or (P, G) for G greedy runs (vLLM greedy is not deterministic, Appendix D).
    A flip is a problem where greedy is correct but sampled accuracy < threshold, or the reverse.
    Counts and rates average over the G greedy runs; `greedy_inconsistent_ratio` is the share of
    problems whose greedy runs disagree among themselves.
    """
    accuracy = np.asarray(sampled_accuracy, dtype=np.float64)
    greedy = np.asarray(greedy_correct)
    if greedy.ndim == 1:
        greedy = greedy[:, None]
    if accuracy.ndim != 1 or greedy.ndim != 2 or greedy.shape[0] != accuracy.size:
        raise ValueError("need sampled_accuracy (P,) and greedy_correct (P,) or (P, G) on the same problems")
    greedy = greedy.astype(bool)
    sampled_pass = (accuracy >= threshold)[:, None]
    lucky = greedy & ~sampled_pass  # greedy right where sampling is mostly wrong
    unlucky = ~greedy & sampled_pass
    uncertain = (accuracy >= band[0]) & (accuracy < band[1])
    flips = (lucky | unlucky).mean(axis=1)
    greedy_rate = greedy.mean(axis=1)
    return {
        "greedy_accuracy": float(greedy.mean()),
        "sampled_accuracy": float(accuracy.mean()),
        "flip_rate": float(flips.mean()),
        "flip_count": float(flips.sum()),
        "greedy_right_sampled_wrong": float(lucky.mean(axis=1).sum()),
        "greedy_wrong_sampled_right": float(unlucky.mean(axis=1).sum()),
        "flip_rate_uncertain": float(flips[uncertain].mean()) if uncertain.any() else math.nan,
        "expected_disagreement": float(np.abs(greedy - accuracy[:, None]).mean()),
        "greedy_inconsistent_ratio": float(((greedy_rate > 0) & (greedy_rate < 1)).mean()),
        "threshold": threshold,
        "num_greedy_runs": int(greedy.shape[1]),
    }


def correctness_flips(before: Any, after: Any) -> dict[str, int]:
    """Per-problem correctness changes between two single runs (e.g. greedy before/after one step)."""
    first, second = np.asarray(before, dtype=bool), np.asarray(after, dtype=bool)
    if first.shape != second.shape:
        raise ValueError(f"shapes differ: {first.shape} vs {second.shape}")
    return {
        "wrong_to_right": int((~first & second).sum()),
        "right_to_wrong": int((first & ~second).sum()),
        "unchanged": int((first == second).sum()),
    }


# ------------------------------------------------------------------------------------------ output length


def token_stats(
    tokens: Any,
    mask: Any = None,
    correct: Any = None,
    baseline_tokens: Any = None,
    baseline_mask: Any = None,
    max_tokens: int | None = None,
) -> dict[str, Any]:
    """Output length statistics (Table 3): mean/median/p90 tokens, by correctness, saving vs a baseline.

    tokens_saved_ratio = 1 - mean / baseline_mean (positive: shorter than the baseline).
    With max_tokens, truncated_ratio is the share of responses that reached the cap.
    """
    lengths = np.asarray(tokens, dtype=np.float64)
    if lengths.ndim != 2:
        raise ValueError(f"tokens must have shape (num_problems, num_runs), got {lengths.shape}")
    observed = np.ones(lengths.shape, bool) if mask is None else np.asarray(mask, dtype=bool)
    if observed.shape != lengths.shape:
        raise ValueError("mask shape differs from tokens shape")
    if np.isnan(lengths[observed]).any():
        raise ValueError("tokens contains NaN at an observed position: pass mask=")
    sample = lengths[observed]
    result: dict[str, Any] = {
        "mean_tokens": float(sample.mean()),
        "median_tokens": float(np.median(sample)),
        "p90_tokens": float(np.quantile(sample, 0.9)),
        "max_tokens_observed": float(sample.max()),
    }
    if correct is not None:
        is_correct, _ = check_correct(correct, observed if mask is not None else None)
        if is_correct.shape != lengths.shape:
            raise ValueError("correct shape differs from tokens shape")
        right, wrong = lengths[observed & is_correct], lengths[observed & ~is_correct]
        result["mean_tokens_correct"] = float(right.mean()) if right.size else math.nan
        result["mean_tokens_incorrect"] = float(wrong.mean()) if wrong.size else math.nan
    if max_tokens is not None:
        result["truncated_ratio"] = float((sample >= max_tokens).mean())
    if baseline_tokens is not None:
        base = np.asarray(baseline_tokens, dtype=np.float64)
        base_observed = (
            np.ones(base.shape, bool) if baseline_mask is None else np.asarray(baseline_mask, bool)
        )
        base_mean = float(base[base_observed].mean())
        result["baseline_mean_tokens"] = base_mean
        result["tokens_saved"] = base_mean - result["mean_tokens"]
        result["tokens_saved_ratio"] = 1.0 - result["mean_tokens"] / base_mean if base_mean else math.nan
    return result
