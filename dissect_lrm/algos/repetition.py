"""N-gram repetition penalty for incorrect samples (docs/original-code.md#repetition-penalty), on the response text only."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["ngram_repetition_fraction", "repetition_penalty"]


def ngram_repetition_fraction(text: str, ngram_size: int = 40) -> float:
    """``1 - |unique n-grams| / |n-grams|`` over lower-cased whitespace words; 0 when there is no n-gram."""
    words = text.lower().split()
    total = len(words) - ngram_size + 1
    if total <= 0:
        return 0.0
    unique = len({tuple(words[i : i + ngram_size]) for i in range(total)})
    return 1.0 - unique / total


def repetition_penalty(
    responses: Sequence[str],
    correct: Sequence[bool] | np.ndarray,
    ngram_size: int = 40,
    max_penalty: float = -0.5,
) -> tuple[np.ndarray, np.ndarray]:
    """Penalty ``max_penalty * repetition_fraction`` for each *incorrect* response; correct ones get 0.

    Pass the decoded response only (no prompt, no special tokens): the original counted the prompt's
    words too (docs/original-code.md#repetition-over-prompt), which made the penalty depend on the prompt.

    Returns:
        ``(penalty, repetitive)``: ``(bs,)`` float64 penalties (<= 0 for ``max_penalty`` <= 0) and ``(bs,)``
        bool flags, True where the penalty is non-zero (some n-gram repeats).
    """
    correct = np.asarray(correct, dtype=bool)
    if len(responses) != correct.shape[0]:
        raise ValueError(f"{len(responses)} responses but {correct.shape[0]} correctness flags")
    # Text work is per string by nature; correct samples are skipped without tokenising.
    fraction = np.array(
        [0.0 if ok else ngram_repetition_fraction(text, ngram_size) for text, ok in zip(responses, correct)],
        dtype=np.float64,
    )
    penalty = max_penalty * fraction
    return penalty, penalty != 0
