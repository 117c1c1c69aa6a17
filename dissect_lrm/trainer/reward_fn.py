"""The training reward with the optional repetition penalty (the original's LUFFY runs, §6.4).

Selected by the entry point when ``algorithm.repetition.enable=true``: it scores with the shared
grader (``dissect_lrm.reward.compute_score``) and lowers the score of *incorrect* responses by
``max_penalty * repeated-n-gram fraction`` of the response text, reporting ``repetitive`` so the
truncation mask can require it. ``acc`` stays the verifier's decision.
"""

from __future__ import annotations

from typing import Any

from dissect_lrm.algos.repetition import repetition_penalty
from dissect_lrm.reward.compute_score import compute_score as grade


def compute_score(
    data_source: str,
    solution_str: str,
    ground_truth: Any,
    extra_info: dict | None = None,
    repetition_ngram_size: int = 40,
    repetition_max_penalty: float = -0.5,
    **kwargs: Any,
) -> dict:
    result = dict(grade(data_source, solution_str, ground_truth, extra_info, **kwargs))
    penalty, repetitive = repetition_penalty(
        [solution_str],
        [result["acc"] > 0.5],
        ngram_size=repetition_ngram_size,
        max_penalty=repetition_max_penalty,
    )
    result["score"] = float(result["score"]) + float(penalty[0])
    result["repetition_penalty"] = float(penalty[0])
    result["repetitive"] = bool(repetitive[0])
    return result
