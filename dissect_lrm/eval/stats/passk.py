"""Unbiased pass@k, G-Pass@k_tau and mG-Pass@k from per-problem (correct, samples) counts."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from dissect_lrm.eval.stats.core import _counts, check_correct


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
