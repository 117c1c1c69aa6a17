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
