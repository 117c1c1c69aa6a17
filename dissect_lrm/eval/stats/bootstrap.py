"""Bootstrap intervals of avg pass@1 (problems, runs or both resampled) and its standard errors."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from dissect_lrm.eval.stats.core import BootstrapLevel, _counts, check_correct, run_scores

_BOOTSTRAP_CHUNK = 1 << 21  # draws per chunk: bounds memory at ~50 MB whatever the resample count


def _percentile_interval(samples: np.ndarray, confidence: float) -> tuple[float, float]:
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(samples, [alpha, 1.0 - alpha], axis=0)
    return float(low), float(high)


def _bootstrap_means(
    groups: Sequence[tuple[np.ndarray, np.ndarray]],
    level: BootstrapLevel,
    num_resamples: int,
    seed: int,
) -> np.ndarray:
    """Bootstrap replicates of mean_i(c_i / n_i) for one or more models sharing the same problems.

    groups: (num_correct, num_samples) per model. Returns (num_resamples, num_models).
    - "problems": resample problems with replacement (the same draw for every model: paired);
    - "runs": keep problems, resample each problem's runs with replacement: c* ~ Binomial(n_i, c_i/n_i);
    - "both": problems first, then runs within each drawn problem (two-level bootstrap).

    Problems with the same (c, n) for every model are interchangeable, so instead of P draws per
    resample we draw how many times each distinct profile v is picked (multinomial, m_v) and, since a
    sum of m_v iid Binomial(n_v, p_v) is Binomial(m_v n_v, p_v), one binomial per profile. A complete
    64-run matrix has at most 65 profiles, so 1000 resamples of 3018 problems cost ~65k draws, not 3M.
    """
    if level not in ("problems", "runs", "both"):
        raise ValueError(f"level must be 'problems', 'runs' or 'both', got {level!r}")
    if num_resamples < 1:
        raise ValueError(f"num_resamples must be >= 1, got {num_resamples}")
    rng = np.random.default_rng(seed)
    num_problems = groups[0][0].size
    replicates = np.empty((num_resamples, len(groups)))
    # Problem resampling must pick the same problems for every model (paired), so profiles are joint;
    # with problems fixed the models are independent and per-model profiles are far fewer.
    batches = [list(range(len(groups)))] if level != "runs" else [[model] for model in range(len(groups))]
    for models in batches:
        stacked = np.stack([array for model in models for array in groups[model]], axis=1)
        profiles, multiplicity = np.unique(stacked, axis=0, return_counts=True)
        num_profiles = profiles.shape[0]
        chunk = max(1, _BOOTSTRAP_CHUNK // num_profiles)
        for start in range(0, num_resamples, chunk):  # chunks of many resamples, not one per step
            size = min(chunk, num_resamples - start)
            if level == "runs":
                picked = np.broadcast_to(multiplicity, (size, num_profiles))
            else:
                picked = rng.multinomial(num_problems, multiplicity / num_problems, size=size)
            for column, model in enumerate(models):
                num_samples = profiles[:, 2 * column + 1]
                accuracy = profiles[:, 2 * column] / num_samples
                if level == "problems":
                    total = picked @ accuracy
                else:
                    total = (rng.binomial(picked * num_samples, accuracy) / num_samples).sum(axis=1)
                replicates[start : start + size, model] = total / num_problems
    return replicates


def bootstrap_ci(
    correct: Any,
    mask: Any = None,
    level: BootstrapLevel = "both",
    num_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict[str, Any]:
    """Percentile bootstrap CI of avg pass@1 (the mean over problems of per-problem accuracy).

    level="both" (default) treats problems and runs as sampled, the honest interval for a claim about
    the model on this kind of problem; "runs" holds the benchmark fixed and answers "how much would a
    re-run move the score" (the paper's instability); "problems" is the usual eval-harness interval.
    The two-level bootstrap slightly over-covers, since each problem's accuracy already carries run noise.
    """
    num_correct, num_samples = _counts(*check_correct(correct, mask))
    replicates = _bootstrap_means([(num_correct, num_samples)], level, num_resamples, seed)[:, 0]
    low, high = _percentile_interval(replicates, confidence)
    return {
        "low": low,
        "high": high,
        "std": float(replicates.std(ddof=1)) if num_resamples > 1 else 0.0,
        "level": level,
        "confidence": confidence,
        "num_resamples": num_resamples,
        "seed": seed,
    }


def avg_pass_at_1(
    correct: Any,
    mask: Any = None,
    level: BootstrapLevel = "both",
    num_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict[str, Any]:
    """avg pass@1 with its spread and uncertainty.

    mean: mean over problems of per-problem accuracy (equal to the grand mean on a complete matrix).
    std_over_runs: sample std (ddof=1) of the per-run scores, the run-to-run spread the paper plots
        (a failed run counts as its problem's accuracy, see run_scores).
    sem_runs: standard error with problems held fixed, sqrt(sum_i p_i(1-p_i)/(n_i-1)) / P, where
        p_i(1-p_i)/(n_i-1) is the unbiased estimate of Var(p_i-hat); on a complete matrix it is close to
        std_over_runs/sqrt(R). NaN if a problem has a single run.
    sem_problems: clustered standard error treating problems as sampled: std(p_i, ddof=1)/sqrt(P).
    ci: bootstrap_ci at the given level.
    """
    values, observed = check_correct(correct, mask)
    num_correct, num_samples = _counts(values, observed)
    accuracy = num_correct / num_samples
    num_problems = accuracy.size
    with np.errstate(invalid="ignore", divide="ignore"):
        within = np.where(num_samples > 1, accuracy * (1 - accuracy) / (num_samples - 1), np.nan)
    sem_runs = math.sqrt(within.sum()) / num_problems if np.all(num_samples > 1) else math.nan
    result: dict[str, Any] = {
        "mean": float(accuracy.mean()),
        "std_over_runs": math.nan,
        "sem_runs": sem_runs,
        "sem_problems": float(accuracy.std(ddof=1) / math.sqrt(num_problems))
        if num_problems > 1
        else math.nan,
        "num_problems": int(num_problems),
        "num_runs": int(values.shape[1]),
    }
    if values.shape[1] > 1:  # missing runs filled with the problem's accuracy (run_scores)
        result["std_over_runs"] = float(run_scores(values, observed).std(ddof=1))
    result["ci"] = bootstrap_ci(values, observed, level, num_resamples, confidence, seed)
    return result
