"""Majority voting (maj@k) over extracted answers."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from dissect_lrm.eval.stats.core import _default_powers, check_correct


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


def _binomial_row(count: int, limit: int) -> np.ndarray:
    """C(count, u) for u = 0..limit (zero past count), as floats (C(64, 32) ~ 1.8e18 is exact enough)."""
    return np.array([float(math.comb(count, u)) for u in range(limit + 1)])


def _majority_credit(sizes: np.ndarray, credit: np.ndarray, abstain: int, ks: Sequence[int]) -> np.ndarray:
    """Exact expected credit of the vote winner(s) for one problem, for each k; shape (len(ks),).

    sizes[j]: runs whose answer is in class j; credit[j]: that class's correctness; abstain: runs
    without an answer. k runs are drawn without replacement from the n = sum(sizes) + abstain runs.
    For a class j with credit, P(j gets v votes, every other class fewer, except t classes tied at v)
    is counted with a polynomial in x (runs drawn) and y (classes tied): each other class l gives
    sum_{u <= v} C(m_l, u) x^u (times y when u = v), the abstentions sum_w C(a, w) x^w. The tied
    winners share the credit (each wins with probability 1/(t + 1)), so maj@k =
    sum_j credit_j sum_v C(m_j, v) sum_t [x^(k-v) y^t] / (t + 1) / C(n, k). Classes without credit
    (wrong answers) never need their own term, so the cost is a few polynomial products per problem.
    """
    total = int(sizes.sum()) + abstain
    result = np.zeros(len(ks))
    for j in np.flatnonzero(credit > 0):
        others = np.delete(sizes, j)
        for votes in range(1, int(sizes[j]) + 1):
            rivals = int((others >= votes).sum())
            poly = np.zeros((total + 1, rivals + 1))
            poly[0, 0] = 1.0
            for size in others:
                limit = min(int(size), votes)
                weights = _binomial_row(int(size), limit)
                grown = np.zeros_like(poly)
                for drawn in range(limit + 1):
                    shifted = poly[: total + 1 - drawn] * weights[drawn]
                    if drawn == votes:  # this class ties the candidate
                        grown[drawn:, 1:] += shifted[:, :-1]
                    else:
                        grown[drawn:, :] += shifted
                poly = grown
            if abstain:
                weights = _binomial_row(abstain, abstain)
                grown = np.zeros_like(poly)
                for drawn in range(abstain + 1):
                    grown[drawn:] += poly[: total + 1 - drawn] * weights[drawn]
                poly = grown
            share = poly @ (1.0 / np.arange(1, rivals + 2))  # sum_t coefficient / (t + 1), per draw count
            ways = float(math.comb(int(sizes[j]), votes))
            for position, k in enumerate(ks):
                if votes <= k and k - votes <= total:
                    result[position] += credit[j] * ways * share[k - votes] / math.comb(total, k)
    return result


def maj_at_k(
    answers: Any,
    correct: Any,
    ks: Sequence[int] | None = None,
    mask: Any = None,
) -> dict[int, float]:
    """Majority-vote accuracy of k runs, averaged over problems, for each k (default: powers of 2 and n).

    maj@k is the expected correctness of the most frequent answer among k runs drawn without
    replacement from a problem's observed runs (mask; each problem may have its own count n_i, k is
    at most the smallest); a tie between answers gets the mean correctness of the tied answers (a fair
    coin instead of an arbitrary first-seen rule); runs without an answer draw but do not vote.
    Computed exactly (_majority_credit), not by sampling orders. An answer's correctness is the mean
    correctness of its runs (normally all equal). `answers` are compared exactly: pass labels from
    the grader's equivalence classes (dissect_lrm.eval.grading.answer_labels) so that 1/2 and 0.5 vote
    together.
    """
    values, observed = check_correct(correct, mask)
    labels = encode_answers(answers)
    if labels.shape != values.shape:
        raise ValueError(f"answers shape {labels.shape} differs from correct shape {values.shape}")
    present = np.ones(values.shape, bool) if observed is None else observed
    runs_per_problem = present.sum(axis=1)
    max_k = int(runs_per_problem.min())
    ks_list = _default_powers(max_k) if ks is None else sorted({int(k) for k in ks})
    if any(k < 1 or k > max_k for k in ks_list):
        raise ValueError(f"k must be in [1, {max_k}] (the fewest observed runs of a problem)")
    scores = np.zeros((values.shape[0], len(ks_list)))
    cache: dict[tuple, np.ndarray] = {}  # problems with the same vote profile share the computation
    for row in range(values.shape[0]):
        row_labels = labels[row][present[row]]
        row_correct = values[row][present[row]]
        answered = row_labels >= 0
        classes, sizes = np.unique(row_labels[answered], return_counts=True)
        credit = np.array([row_correct[answered][row_labels[answered] == c].mean() for c in classes])
        abstain = int((~answered).sum())
        order = np.lexsort((credit, sizes))
        key = (tuple(sizes[order].tolist()), tuple(credit[order].tolist()), abstain)
        if key not in cache:
            cache[key] = _majority_credit(sizes[order], credit[order], abstain, ks_list)
        scores[row] = cache[key]
    means = scores.mean(axis=0)
    return {k: float(means[position]) for position, k in enumerate(ks_list)}
