"""Free-form extraction (no box: "the answer is", "Answer:", a last line of math) and several boxes in a row."""

from __future__ import annotations

import pytest

from dissect_lrm.reward.compute_score import compute_score
from dissect_lrm.reward.extract import extract_answer

from .grader_corpus import build_corpus, free_form_responses, load_golds, subsample

FREE_FORM = [
    ("We add them.\nThe answer is $\\frac{1}{2}$.", "\\frac{1}{2}"),
    ("We add them.\nAnswer: 7", "7"),
    ("**Answer:** $x = 3$", "x = 3"),
    ("Thus we get\n$$\\frac{3}{4}$$", "\\frac{3}{4}"),
    ("Thus we get\n\\[ 2\\sqrt{2} \\]", "2\\sqrt{2}"),
    ("Computing 12 and 30 first.\n**42**", "42"),
    ("We get 5 apples in the end.", None),  # prose: no unique answer
    ("It is either 3 or 4, I am not sure", None),
    ("", None),
]


@pytest.mark.parametrize(("solution", "expected"), FREE_FORM)
def test_free_form_extraction(solution: str, expected: str | None) -> None:
    extraction = extract_answer(f"<think>.</think>{solution}", fallback=True)
    assert extraction.answer == expected
    assert extract_answer(f"<think>.</think>{solution}").answer is None  # off unless asked for


SEVERAL_BOXES: list[tuple[str, str]] = [
    ("x = \\boxed{2} or x = \\boxed{3}", "3"),  # more than a separator between: only the last box
    ("\\boxed{2} or \\boxed{3}", "2, 3"),
    ("$\\boxed{2}$, $\\boxed{3}$", "2, 3"),
    ("\\boxed{1} \\text{ and } \\boxed{4}", "1, 4"),
    ("first \\boxed{5}. Wait, that is wrong: \\boxed{6}", "6"),
    ("\\boxed{5}\n\nLet me double-check. \\boxed{6}", "6"),
]


@pytest.mark.parametrize(("solution", "expected"), SEVERAL_BOXES)
def test_adjacent_boxes_are_one_answer(solution: str, expected: str) -> None:
    assert extract_answer(f"<think>.</think>{solution}").answer == expected


def test_several_boxes_score_as_a_list() -> None:
    response = "<think>.</think> $\\boxed{2}$ and $\\boxed{3}$"
    assert compute_score("math", response, "2, 3")["score"] == 1.0
    assert compute_score("math", response, "3")["score"] == 0.0  # hedging between two answers is wrong
    assert compute_score("math", "<think>.</think> \\boxed{\\frac12} or \\boxed{0.5}", "1/2")["score"] == 1.0


@pytest.mark.skipif(not load_golds(), reason="benchmark answers not found in ../shared/data/benchmarks")
def test_free_form_precision_on_the_corpus() -> None:
    responses = free_form_responses(subsample(build_corpus(), 4))
    results = [compute_score("math", r.response, r.pair.gold, fallback=True) for r in responses]
    false_positives = [
        (r.response, r.pair.gold)
        for r, res in zip(responses, results)
        if res["score"] and not r.answered_equal
    ]
    assert false_positives == []  # precision 1.000
    stated = [(r, res) for r, res in zip(responses, results) if r.stated]
    assert sum(res["pred"] == r.pair.pred.strip() for r, res in stated) >= 0.95 * len(stated)
    equal = [res for r, res in stated if r.pair.equal]
    assert sum(res["score"] for res in equal) >= 0.9 * len(equal)
