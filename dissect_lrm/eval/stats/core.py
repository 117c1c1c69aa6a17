"""Shared input checks and helpers of the statistics: correctness matrices, counts, JSON output."""

from __future__ import annotations

import math
from typing import Any, Literal

import numpy as np

PAPER_BIN_EDGES: tuple[float, ...] = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)  # Table 4 / Figure 5 bins
UNCERTAIN_BAND: tuple[float, float] = (0.2, 0.8)  # Section 5.2: uncertain if accuracy in [0.2, 0.8)
BootstrapLevel = Literal["problems", "runs", "both"]


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


def run_scores(correct: Any, mask: Any = None) -> np.ndarray:
    """Score of each run (mean correctness over problems), shape (num_runs,).

    A missing run of a problem (mask False: a failed request) counts as that problem's accuracy over
    its observed runs, its expected value: the run's score then stays an unbiased estimate of the
    benchmark score instead of being dropped or scored on fewer problems.
    """
    values, observed = check_correct(correct, mask)
    if observed is None:
        return values.mean(axis=0)
    num_correct, num_samples = _counts(values, observed)
    filled = np.where(observed, values, (num_correct / num_samples)[:, None])
    return filled.mean(axis=0)


def _default_powers(num_runs: int) -> list[int]:
    powers = [2**i for i in range(num_runs.bit_length()) if 2**i <= num_runs]
    return sorted(set(powers) | {num_runs})


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
