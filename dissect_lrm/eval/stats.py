"""Statistics of multi-run evaluations: pass@k, CIs, uncertain problems, max gaps, planner, paired tests.

Conventions: the core input is a correctness matrix of shape (num_problems, num_runs); scores are
fractions in [0, 1] (reports multiply by 100); every random procedure takes a `seed` and uses its own
`numpy.random.Generator`, so results are reproducible. Missing runs are only accepted through an explicit
`mask` (True = observed); NaN without a mask is refused, so a failed request never counts as wrong.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, Protocol, runtime_checkable

import numpy as np

from dissect_lrm.eval.planner import plan_runs, problem_variances, recommend_runs

PAPER_BIN_EDGES: tuple[float, ...] = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)  # Table 4 / Figure 5 bins
UNCERTAIN_BAND: tuple[float, float] = (0.2, 0.8)  # Section 5.2: uncertain if accuracy in [0.2, 0.8)
BootstrapLevel = Literal["problems", "runs", "both"]
_BOOTSTRAP_CHUNK = 1 << 21  # draws per chunk: bounds memory at ~50 MB whatever the resample count


# ----------------------------------------------------------------------------------------- input checks


def check_correct(correct: Any, mask: Any = None) -> tuple[np.ndarray, np.ndarray | None]:
    """Validate a (num_problems, num_runs) correctness matrix; returns (bool matrix, mask or None).

    `correct` may be bool, 0/1 ints or floats; NaN marks a missing run and then `mask` is required.
    A mask that is all True is returned as None so callers can take the complete-matrix fast path.
    """
    try:
        array = np.asarray(correct)
    except ValueError as error:  # numpy >= 1.24 refuses ragged nested lists
        raise ValueError("correct is ragged; pad it to (num_problems, num_runs) and pass a mask") from error
    if array.dtype == object:
        raise ValueError("correct is ragged or not numeric; pad it and pass mask= for missing runs")
    if array.ndim != 2 or array.shape[0] == 0 or array.shape[1] == 0:
        raise ValueError(f"correct must have shape (num_problems, num_runs) with both > 0, got {array.shape}")
    values = array.astype(np.float64)
    if mask is None:
        if np.isnan(values).any():
            raise ValueError("correct contains NaN (missing runs): pass mask= (True = observed run)")
        observed = None
    else:
        observed = np.asarray(mask, dtype=bool)
        if observed.shape != array.shape:
            raise ValueError(f"mask shape {observed.shape} differs from correct shape {array.shape}")
        if not observed.any(axis=1).all():
            raise ValueError("every problem needs at least one observed run")
        if np.isnan(values[observed]).any():
            raise ValueError("correct is NaN at an observed (mask=True) position")
        values = np.where(observed, values, 0.0)
    if not np.isin(values, (0.0, 1.0)).all():
        raise ValueError("correct must hold only 0/1 (or bool) values")
    if observed is not None and observed.all():
        observed = None
    return values.astype(bool), observed


def _counts(correct: np.ndarray, mask: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Per-problem (num_correct, num_samples) as int64 arrays."""
    if mask is None:
        return correct.sum(axis=1, dtype=np.int64), np.full(correct.shape[0], correct.shape[1], np.int64)
    return (correct & mask).sum(axis=1, dtype=np.int64), mask.sum(axis=1, dtype=np.int64)


def _require_complete(mask: np.ndarray | None, what: str) -> None:
    if mask is not None:
        raise ValueError(f"{what} needs every run of every problem (each run is a full pass over the set)")


# ------------------------------------------------------------------------------------- basic statistics


def per_problem_accuracy(correct: Any, mask: Any = None) -> np.ndarray:
    """Fraction of correct runs per problem, shape (num_problems,)."""
    num_correct, num_samples = _counts(*check_correct(correct, mask))
    return num_correct / num_samples


def run_scores(correct: Any) -> np.ndarray:
    """Score of each run (mean correctness over problems), shape (num_runs,); needs a complete matrix."""
    values, _ = check_correct(correct)
    return values.mean(axis=0)


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
    std_over_runs: sample std (ddof=1) of the per-run scores, the run-to-run spread the paper plots.
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
    if observed is None and values.shape[1] > 1:
        result["std_over_runs"] = float(values.mean(axis=0).std(ddof=1))
    result["ci"] = bootstrap_ci(values, observed, level, num_resamples, confidence, seed)
    return result


# ------------------------------------------------------------------------------- pass@k and G-Pass@k


def pass_at_k(num_correct: Any, num_samples: Any, ks: Any) -> np.ndarray:
    """Unbiased pass@k per problem, 1 - C(n-c, k) / C(n, k), shape (num_problems, len(ks)).

    Computed stably as 1 - prod_{j<k} (n-c-j)/(n-j): every factor is in [0, 1], so no huge binomials,
    and one cumulative product gives every k at once. NaN where k > n for that problem.
    """
    c = np.asarray(num_correct, dtype=np.float64).reshape(-1, 1)
    n = np.asarray(num_samples, dtype=np.float64).reshape(-1, 1)
    ks_array = np.atleast_1d(np.asarray(ks, dtype=np.int64))
    if np.any(ks_array < 1):
        raise ValueError("k must be >= 1")
    if np.any(c > n) or np.any(c < 0):
        raise ValueError("need 0 <= num_correct <= num_samples")
    offsets = np.arange(int(ks_array.max()), dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        factors = np.clip((n - c - offsets) / (n - offsets), 0.0, 1.0)
    all_wrong_ratio = np.cumprod(factors, axis=1)  # [:, k-1] = C(n-c, k) / C(n, k)
    result = 1.0 - all_wrong_ratio[:, ks_array - 1]
    return np.where(ks_array[None, :] > n, np.nan, result)


def pass_at_k_curve(correct: Any, mask: Any = None, ks: Sequence[int] | None = None) -> dict[int, float]:
    """Mean unbiased pass@k over problems for every k (default: 1..min runs per problem)."""
    num_correct, num_samples = _counts(*check_correct(correct, mask))
    max_k = int(num_samples.min())
    ks_list = list(range(1, max_k + 1)) if ks is None else [int(k) for k in ks]
    if any(k > max_k for k in ks_list):
        raise ValueError(f"k must be <= the smallest number of runs per problem ({max_k})")
    values = pass_at_k(num_correct, num_samples, ks_list).mean(axis=0)
    return {k: float(v) for k, v in zip(ks_list, values)}


def _log_factorials(max_n: int) -> np.ndarray:
    return np.concatenate(([0.0], np.cumsum(np.log(np.arange(1, max_n + 1, dtype=np.float64)))))


def _hypergeometric_pmf(good: np.ndarray, total: np.ndarray, draws: int) -> np.ndarray:
    """pmf of the number of good items among `draws` taken without replacement, shape (len(good), draws + 1).

    pmf(j) = C(good, j) C(total - good, draws - j) / C(total, draws), from a log-factorial table so that
    no binomial coefficient is ever formed (C(64, 32) alone is 1.8e18).
    """
    good = np.asarray(good, dtype=np.int64).reshape(-1, 1)
    total = np.broadcast_to(np.asarray(total, dtype=np.int64).reshape(-1, 1), good.shape)
    if np.any(draws > total):
        raise ValueError(f"cannot draw {draws} from fewer items (k exceeds the runs of some problem)")
    log_fact = _log_factorials(int(total.max()))
    j = np.arange(draws + 1)
    valid = (j <= good) & (draws - j <= total - good)

    def log_fact_at(values: np.ndarray) -> np.ndarray:
        return log_fact[np.where(valid, values, 0)]

    log_pmf = (
        log_fact_at(good)
        - log_fact_at(j)
        - log_fact_at(good - j)
        + log_fact_at(total - good)
        - log_fact_at(draws - j)
        - log_fact_at(total - good - draws + j)
        - (log_fact[total] - log_fact[draws] - log_fact[total - draws])
    )
    return np.where(valid, np.exp(log_pmf), 0.0)


def _hypergeometric_tail(num_correct: np.ndarray, num_samples: np.ndarray, k: int) -> np.ndarray:
    """P(at least m of k runs drawn without replacement are correct), for m = 0..k+1; shape (P, k + 2)."""
    pmf = _hypergeometric_pmf(num_correct, num_samples, k)
    tail = np.cumsum(pmf[:, ::-1], axis=1)[:, ::-1]  # tail[:, m] = sum_{j >= m} pmf[:, j]
    return np.concatenate((np.minimum(tail, 1.0), np.zeros((tail.shape[0], 1))), axis=1)


def g_pass_at_k(num_correct: Any, num_samples: Any, k: int, tau: float) -> np.ndarray:
    """G-Pass@k_tau per problem (Liu et al. 2024, arXiv 2412.13147): P(>= ceil(tau k) of k correct).

    The threshold is at least 1, so tau -> 0 gives pass@k and tau = 1 gives "all k correct" (pass^k).
    """
    if not 0.0 <= tau <= 1.0:
        raise ValueError(f"tau must be in [0, 1], got {tau}")
    tail = _hypergeometric_tail(np.asarray(num_correct), np.asarray(num_samples), int(k))
    threshold = max(1, math.ceil(tau * k - 1e-9))  # the epsilon keeps 0.75 * 16 at 12, not 13
    return tail[:, threshold]


def mg_pass_at_k(num_correct: Any, num_samples: Any, k: int) -> np.ndarray:
    """mG-Pass@k per problem: (2/k) sum_{i = ceil(k/2)+1}^{k} G-Pass@k_{i/k}, the area for tau in [0.5, 1]."""
    tail = _hypergeometric_tail(np.asarray(num_correct), np.asarray(num_samples), int(k))
    start = math.ceil(0.5 * k) + 1
    return (2.0 / k) * tail[:, start : k + 1].sum(axis=1)


# ---------------------------------------------------------------------------------------------- maj@k


def encode_answers(answers: Any) -> np.ndarray:
    """Map extracted answers (P, R) to per-problem integer labels 0..D_p-1; -1 for a missing answer.

    Strings are compared exactly (normalise them before, as the grader does); None, NaN and "" are
    missing, i.e. no vote. Integer input is taken as labels already (negative = missing).
    """
    array = np.asarray(answers)
    if array.ndim != 2:
        raise ValueError(f"answers must have shape (num_problems, num_runs), got {array.shape}")
    if np.issubdtype(array.dtype, np.integer):
        labels = array.astype(np.int64)
        missing = labels < 0
    else:
        objects = array.astype(object)
        is_missing = np.frompyfunc(
            lambda value: value is None or value == "" or (isinstance(value, float) and math.isnan(value)),
            1,
            1,
        )
        missing = is_missing(objects).astype(bool)
        _, labels = np.unique(objects.astype(str), return_inverse=True)
        labels = labels.reshape(array.shape).astype(np.int64)
    # Renumber per problem: unique over (row, label) pairs is sorted by row, so each row's ids are contiguous.
    num_labels = int(labels.max(initial=0)) + 1
    rows = np.broadcast_to(np.arange(array.shape[0])[:, None], array.shape)
    keys = np.where(missing, -1, rows * num_labels + np.maximum(labels, 0))
    unique_keys, compact = np.unique(keys, return_inverse=True)
    compact = compact.reshape(array.shape)
    row_of_key = np.where(unique_keys >= 0, unique_keys // num_labels, -1)
    first_of_row = np.searchsorted(row_of_key, np.arange(array.shape[0]))
    local = compact - first_of_row[rows]
    return np.where(missing, -1, local)


def maj_at_k(
    answers: Any,
    correct: Any,
    ks: Sequence[int] | None = None,
    num_permutations: int = 16,
    seed: int = 0,
) -> dict[int, float]:
    """Majority-vote accuracy of k runs, averaged over problems, for each k (default: powers of 2 and n).

    maj@k is the expected correctness of the most frequent answer among k runs drawn without
    replacement; a tie between answers gets the mean correctness of the tied answers (a fair coin
    instead of an arbitrary first-seen rule). maj@n is exact; k < n is a Monte Carlo average over
    `num_permutations` random orders (first k of each order), seeded. An answer's correctness is the
    mean correctness of its runs (normally all equal).
    """
    values, _ = check_correct(correct)
    labels = encode_answers(answers)
    if labels.shape != values.shape:
        raise ValueError(f"answers shape {labels.shape} differs from correct shape {values.shape}")
    num_problems, num_runs = values.shape
    ks_list = _default_powers(num_runs) if ks is None else sorted({int(k) for k in ks})
    if any(k < 1 or k > num_runs for k in ks_list):
        raise ValueError(f"k must be in [1, {num_runs}]")
    num_labels = int(labels.max(initial=-1)) + 1
    if num_labels == 0:
        return {k: 0.0 for k in ks_list}
    valid = labels >= 0
    row_offset = (np.arange(num_problems) * num_labels)[:, None]
    flat = (row_offset + np.maximum(labels, 0)).ravel()
    votes_total = np.bincount(flat, weights=valid.ravel(), minlength=num_problems * num_labels)
    correct_total = np.bincount(flat, weights=(valid & values).ravel(), minlength=num_problems * num_labels)
    with np.errstate(invalid="ignore", divide="ignore"):
        credit = np.where(votes_total > 0, correct_total / votes_total, 0.0).reshape(num_problems, num_labels)

    def vote(keys: np.ndarray, weights: np.ndarray) -> float:
        counts = np.bincount(keys.ravel(), weights=weights.ravel(), minlength=num_problems * num_labels)
        counts = counts.reshape(num_problems, num_labels)
        top = counts.max(axis=1, keepdims=True)
        tied = (counts == top) & (top > 0)
        score = (tied * credit).sum(axis=1) / np.maximum(tied.sum(axis=1), 1)
        return float(score.mean())

    keys_all = row_offset + np.maximum(labels, 0)
    result = {}
    partial = [k for k in ks_list if k < num_runs]
    if partial:
        rng = np.random.default_rng(seed)
        sums = dict.fromkeys(partial, 0.0)
        for _ in range(num_permutations):  # one shuffle serves every k
            order = np.argsort(rng.random((num_problems, num_runs)), axis=1)
            keys = np.take_along_axis(keys_all, order, axis=1)
            weights = np.take_along_axis(valid, order, axis=1)
            for k in partial:
                sums[k] += vote(keys[:, :k], weights[:, :k])
        result = {k: sums[k] / num_permutations for k in partial}
    if num_runs in ks_list:
        result[num_runs] = vote(keys_all, valid)
    return {k: result[k] for k in ks_list}


def _default_powers(num_runs: int) -> list[int]:
    powers = [2**i for i in range(num_runs.bit_length()) if 2**i <= num_runs]
    return sorted(set(powers) | {num_runs})


# ----------------------------------------------------------------------- per-problem accuracy histogram


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
) -> dict[str, Any]:
    """Max score gap between `trials` independent trials of `runs_per_trial` runs (Table 7).

    Each draw splits a random subset of the stored runs into disjoint trials (without replacement,
    needs trials * runs_per_trial <= stored runs; replace=True lifts that by resampling runs, which
    underestimates the gap when runs repeat), scores each trial as its avg pass@1 and records
    max - min. A trial's score is the mean of its runs' scores, so only per-run scores are resampled.
    """
    values, _ = check_correct(correct)
    if trials < 2 or runs_per_trial < 1 or num_draws < 1:
        raise ValueError("need trials >= 2, runs_per_trial >= 1 and num_draws >= 1")
    scores = values.mean(axis=0)
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


# ----------------------------------------------------------------------------------- paired comparison


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

    CI: paired percentile bootstrap at `level` (default "runs": the benchmark is fixed, as in the
    question "is A better than B on AIME24?"; "both" also resamples problems, jointly for A and B).
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
    replicates = _bootstrap_means(
        [(correct_count_a, samples_a), (correct_count_b, samples_b)], level, num_resamples, seed
    )
    low, high = _percentile_interval(replicates[:, 0] - replicates[:, 1], confidence)

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
            "num_resamples": num_resamples,
        },
        "p_value": p_value,
        "test": "stratified run-level permutation, two-sided, "
        + ("exact (FFT convolution)" if use_exact else f"Monte Carlo ({num_permutations} relabellings)"),
        "problems_a_better": int(wins.sum()),
        "problems_b_better": int(losses.sum()),
        "problems_tied": int((~wins & ~losses).sum()),
        "seed": seed,
    }


# --------------------------------------------------------------------------------- composable metrics


@dataclass(frozen=True)
class EvalData:
    """What the metrics read: one model on one benchmark under one protocol.

    correct: (P, R) bool/0-1, NaN only with `mask`; mask: (P, R) bool, True = observed run;
    answers: (P, R) extracted answers (str/None or int labels) for maj@k; tokens: (P, R) output lengths;
    greedy: (P,) or (P, G) greedy-decoding correctness on the same problems.
    """

    correct: Any
    mask: Any = None
    answers: Any = None
    tokens: Any = None
    greedy: Any = None

    def __post_init__(self) -> None:
        values, observed = check_correct(self.correct, self.mask)
        object.__setattr__(self, "correct", values)
        object.__setattr__(self, "mask", observed)
        for name in ("answers", "tokens"):
            array = getattr(self, name)
            if array is not None and np.shape(array) != values.shape:
                raise ValueError(f"{name} shape {np.shape(array)} differs from correct shape {values.shape}")
        if self.greedy is not None and np.shape(self.greedy)[0] != values.shape[0]:
            raise ValueError("greedy must have one row per problem")

    @property
    def num_problems(self) -> int:
        return int(self.correct.shape[0])

    @property
    def num_runs(self) -> int:
        return int(self.correct.shape[1])

    @property
    def counts(self) -> tuple[np.ndarray, np.ndarray]:
        """(num_correct, num_samples) per problem."""
        return _counts(self.correct, self.mask)

    @property
    def accuracy(self) -> np.ndarray:
        num_correct, num_samples = self.counts
        return num_correct / num_samples


@runtime_checkable
class Metric(Protocol):
    """A named statistic: compute(data) returns a flat-ish dict of numbers (JSON-ready after summarize)."""

    name: str

    def compute(self, data: EvalData) -> dict[str, Any]: ...


@dataclass(frozen=True)
class AvgPass1:
    """avg pass@1, std over runs, standard errors and a bootstrap CI."""

    level: BootstrapLevel = "both"
    num_resamples: int = 1000
    confidence: float = 0.95
    seed: int = 0
    name: ClassVar[str] = "avg_pass@1"

    def compute(self, data: EvalData) -> dict[str, Any]:
        return avg_pass_at_1(
            data.correct, data.mask, self.level, self.num_resamples, self.confidence, self.seed
        )


@dataclass(frozen=True)
class PassAtK:
    """Unbiased pass@k for the given ks (default: every k up to the runs of the least-run problem)."""

    ks: tuple[int, ...] | None = None
    name: ClassVar[str] = "pass@k"

    def compute(self, data: EvalData) -> dict[str, Any]:
        return {str(k): v for k, v in pass_at_k_curve(data.correct, data.mask, self.ks).items()}


@dataclass(frozen=True)
class MajAtK:
    """Majority-vote accuracy maj@k from extracted answers (needs data.answers)."""

    ks: tuple[int, ...] | None = None
    num_permutations: int = 16
    seed: int = 0
    name: ClassVar[str] = "maj@k"

    def compute(self, data: EvalData) -> dict[str, Any]:
        if data.answers is None:
            raise ValueError("maj@k needs extracted answers (EvalData.answers)")
        _require_complete(data.mask, "maj@k")
        values = maj_at_k(data.answers, data.correct, self.ks, self.num_permutations, self.seed)
        return {str(k): v for k, v in values.items()}


@dataclass(frozen=True)
class GPassAtK:
    """G-Pass@k_tau for each (k, tau) and mG-Pass@k (defaults as lighteval/OpenCompass: taus .25-1)."""

    ks: tuple[int, ...] | None = None
    taus: tuple[float, ...] = (0.25, 0.5, 0.75, 1.0)
    name: ClassVar[str] = "g-pass@k"

    def compute(self, data: EvalData) -> dict[str, Any]:
        num_correct, num_samples = data.counts
        max_k = int(num_samples.min())
        if self.ks is None:
            ks = [k for k in (4, 8, 16) if k <= max_k] or [max_k]
        else:
            ks = list(self.ks)
        result: dict[str, Any] = {}
        for k in ks:
            tail = _hypergeometric_tail(num_correct, num_samples, k)
            for tau in self.taus:
                threshold = max(1, math.ceil(tau * k - 1e-9))
                result[f"k={k},tau={tau:g}"] = float(tail[:, threshold].mean())
            start = math.ceil(0.5 * k) + 1
            result[f"mG-Pass@{k}"] = float(((2.0 / k) * tail[:, start : k + 1].sum(axis=1)).mean())
        return result


@dataclass(frozen=True)
class AccuracyHistogram:
    """Per-problem accuracy histogram in the paper's bins and the uncertain ratio."""

    edges: tuple[float, ...] = PAPER_BIN_EDGES
    band: tuple[float, float] = UNCERTAIN_BAND
    include_per_problem: bool = False
    name: ClassVar[str] = "accuracy_histogram"

    def compute(self, data: EvalData) -> dict[str, Any]:
        result = accuracy_histogram(data.accuracy, self.edges, self.band)
        if self.include_per_problem:
            result["per_problem_accuracy"] = data.accuracy.tolist()
        return result


@dataclass(frozen=True)
class MaxGap:
    """Table 7: mean max gap between `trials` trials for each run count that the stored runs allow."""

    trials: int = 4
    runs_per_trial: tuple[int, ...] | None = None
    num_draws: int = 1000
    seed: int = 0
    name: ClassVar[str] = "max_gap"

    def compute(self, data: EvalData) -> dict[str, Any]:
        _require_complete(data.mask, "max gap")
        runs_list = self.runs_per_trial
        if runs_list is None:
            runs_list = tuple(r for r in _default_powers(data.num_runs) if r * self.trials <= data.num_runs)
        return {
            str(runs): max_gap(data.correct, self.trials, runs, self.num_draws, seed=self.seed)
            for runs in runs_list
        }


@dataclass(frozen=True)
class GreedyFlips:
    """Greedy-vs-sampled correctness flips (needs data.greedy)."""

    threshold: float = 0.5
    band: tuple[float, float] = UNCERTAIN_BAND
    name: ClassVar[str] = "greedy_flips"

    def compute(self, data: EvalData) -> dict[str, Any]:
        if data.greedy is None:
            raise ValueError("greedy flips need greedy correctness (EvalData.greedy)")
        return greedy_flips(data.accuracy, data.greedy, self.threshold, self.band)


@dataclass(frozen=True)
class TokenStats:
    """Output length statistics, optionally against a baseline model's token counts."""

    baseline_tokens: Any = None
    max_tokens: int | None = None
    name: ClassVar[str] = "tokens"

    def compute(self, data: EvalData) -> dict[str, Any]:
        if data.tokens is None:
            raise ValueError("token statistics need token counts (EvalData.tokens)")
        return token_stats(data.tokens, data.mask, data.correct, self.baseline_tokens, None, self.max_tokens)


@dataclass(frozen=True)
class RunPlanner:
    """Predicted CI half-width / expected max gap per run count, and runs recommended for targets."""

    runs_list: tuple[int, ...] = (1, 4, 8, 16, 32, 64, 128)
    trials: int = 4
    target_half_width: float | None = 0.01
    target_max_gap: float | None = 0.01
    confidence: float = 0.95
    band: tuple[float, float] = UNCERTAIN_BAND
    name: ClassVar[str] = "planner"

    def compute(self, data: EvalData) -> dict[str, Any]:
        accuracy = data.accuracy
        observed_runs = data.counts[1]
        variance = problem_variances(accuracy, observed_runs)
        uncertain = (accuracy >= self.band[0]) & (accuracy < self.band[1])
        return {
            "plan": plan_runs(accuracy, self.runs_list, self.trials, self.confidence, observed_runs),
            "recommend": recommend_runs(
                accuracy,
                self.target_half_width,
                self.target_max_gap,
                self.trials,
                self.confidence,
                observed_runs,
            ),
            "targets": {"half_width": self.target_half_width, "max_gap": self.target_max_gap},
            # Why a benchmark is unstable: the share of score variance that the uncertain problems carry.
            "variance_share_uncertain": float(variance[uncertain].sum() / variance.sum())
            if variance.sum()
            else 0.0,
        }


@dataclass(frozen=True)
class PairedComparison:
    """This model minus a baseline model on the same problems (bootstrap CI + permutation p-value)."""

    baseline: EvalData | None = None
    level: BootstrapLevel = "runs"
    num_resamples: int = 1000
    num_permutations: int = 10000
    seed: int = 0
    name: ClassVar[str] = "paired_comparison"

    def compute(self, data: EvalData) -> dict[str, Any]:
        if self.baseline is None:
            raise ValueError("PairedComparison needs baseline=EvalData(...)")
        return paired_comparison(
            data.correct,
            self.baseline.correct,
            data.mask,
            self.baseline.mask,
            self.level,
            self.num_resamples,
            self.num_permutations,
            seed=self.seed,
        )


def default_metrics(data: EvalData, seed: int = 0, num_resamples: int = 1000) -> list[Metric]:
    """Every metric the data supports: the optional ones appear when answers/tokens/greedy are present."""
    metrics: list[Metric] = [
        AvgPass1(num_resamples=num_resamples, seed=seed),
        PassAtK(),
        GPassAtK(),
        AccuracyHistogram(),
        RunPlanner(),
    ]
    if data.mask is None:
        metrics.append(MaxGap(seed=seed))
        if data.answers is not None:
            metrics.append(MajAtK(seed=seed))
    if data.tokens is not None:
        metrics.append(TokenStats())
    if data.greedy is not None:
        metrics.append(GreedyFlips())
    return metrics


def to_jsonable(value: Any) -> Any:
    """numpy scalars/arrays to Python, NaN/inf to None (strict JSON), tuples to lists, keys to str."""
    if isinstance(value, dict):
        return {str(key): to_jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(item) for item in value]
    if isinstance(value, np.ndarray):
        return to_jsonable(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def summarize(data: EvalData, metrics: Sequence[Metric] | None = None) -> dict[str, Any]:
    """Run a list of metrics on one model x benchmark; returns a JSON-serialisable dict keyed by name."""
    chosen = default_metrics(data) if metrics is None else list(metrics)
    names = [metric.name for metric in chosen]
    if len(set(names)) != len(names):
        raise ValueError(f"metric names must be unique in one summary, got {names}")
    report: dict[str, Any] = {
        "num_problems": data.num_problems,
        "num_runs": data.num_runs,
        "complete": data.mask is None,
    }
    for metric in chosen:
        report[metric.name] = metric.compute(data)
    return to_jsonable(report)
