"""Grading with the training reward, and the grader's equivalence classes of answers (for voting)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from dissect_lrm.eval.benchmarks import EvalProblem
from dissect_lrm.reward.compute_score import compute_scores, is_multiple_choice


def data_source_for(benchmark: str, problem: EvalProblem) -> str:
    """The data_source the grader routes on: multiple choice by task, never by an accidental name match."""
    if problem.task == "multiple_choice":
        return f"multiple_choice/{benchmark}"
    return "math" if is_multiple_choice(benchmark) else benchmark


def grade(
    benchmark: str, grader: str, problems: Sequence[EvalProblem], responses: Sequence[str]
) -> list[dict[str, Any]]:
    """Grade with exactly the training reward (`compute_scores`), so eval and training agree on a sample."""
    return compute_scores(
        [data_source_for(benchmark, problem) for problem in problems],
        list(responses),
        [list(problem.answers) for problem in problems],
        [{"task": problem.task, "question": problem.problem} for problem in problems],
        mode=grader,  # type: ignore[arg-type]
        think="required",
    )


def _same_answer(grader: str, pairs: Sequence[tuple[str, str]]) -> list[bool]:
    """Does the grader accept `pred` for the gold `gold`, for each (gold, pred) pair (one batch)?"""
    if not pairs:
        return []
    results = compute_scores(
        ["math"] * len(pairs),
        [f"</think>\n\\boxed{{{pred}}}" for _, pred in pairs],
        [[gold] for gold, _ in pairs],
        mode=grader,  # type: ignore[arg-type]
        think="required",
    )
    return [bool(result["score"]) for result in results]


def answer_labels(
    answers: Any, correct: Any = None, grader: str = "robust", multiple_choice: bool = False
) -> np.ndarray:
    """Per-problem labels of the grader's equivalence classes of extracted answers; -1 = no answer.

    Two answers share a label when the grader that scored the runs accepts one for the other, so
    \\frac{1}{2}, 1/2 and 0.5 vote together. Answers graded correct are all equivalent to the gold and
    form one class at once; the rest are grouped round by round: each problem's most frequent
    unassigned answer becomes a representative and every other unassigned answer of that problem is
    graded against it (one batch for all problems per round). Multiple-choice letters compare exactly.
    """
    array = np.asarray(answers, dtype=object)
    labels = np.full(array.shape, -1, dtype=np.int64)
    flags = None if correct is None else np.asarray(correct, dtype=bool)
    classes: list[dict[str, int]] = []
    for row in range(array.shape[0]):
        texts = [str(a).strip() for a in array[row] if a is not None and str(a).strip()]
        mapping: dict[str, int] = {}
        if flags is not None:
            right = {str(a).strip() for a, ok in zip(array[row], flags[row]) if ok and a is not None}
            mapping.update(dict.fromkeys(right, 0))
        counts = Counter(texts)
        if multiple_choice:
            for text in counts:
                mapping.setdefault(text, len(set(mapping.values())))
        classes.append(mapping)
    pending = [[t for t, _ in Counter(
        str(a).strip() for a in array[row] if a is not None and str(a).strip()
    ).most_common() if t not in classes[row]] for row in range(array.shape[0])]  # fmt: skip
    while any(pending):
        pairs, owners = [], []
        representatives = {}
        for row, texts in enumerate(pending):
            if not texts:
                continue
            representative, rest = texts[0], texts[1:]
            classes[row][representative] = len(set(classes[row].values()))
            representatives[row] = representative
            for text in rest:
                pairs.append((representative, text))
                owners.append((row, text))
        verdicts = _same_answer(grader, pairs)
        joined: dict[int, set[str]] = {row: set() for row in representatives}
        for (row, text), same in zip(owners, verdicts):
            if same:
                classes[row][text] = classes[row][representatives[row]]
                joined[row].add(text)
        pending = [
            [t for t in texts[1:] if t not in joined.get(row, set())] if texts else []
            for row, texts in enumerate(pending)
        ]
    for row in range(array.shape[0]):
        for column, answer in enumerate(array[row]):
            if answer is not None and str(answer).strip():
                labels[row, column] = classes[row][str(answer).strip()]
    return labels
