"""Extraction (think policy, boxes, fallbacks) and multiple-choice letter extraction."""

from __future__ import annotations

import pytest

from dissect_lrm.reward.compute_score import compute_score, is_multiple_choice
from dissect_lrm.reward.extract import extract_answer
from dissect_lrm.reward.multiple_choice import extract_choice, normalize_choice, option_letters

EXTRACTION = [
    ("</think> \\boxed{5}", "required", False, "5"),
    ("</think> \\boxed{\\frac{1}{2}}", "required", False, "\\frac{1}{2}"),
    ("</think> \\boxed{\\{1, 2\\}}", "required", False, "\\{1, 2\\}"),
    ("</think> \\fbox{7}", "required", False, "7"),
    ("</think> \\framebox{7}", "required", False, "7"),
    ("</think> so \\boxed 5.", "required", False, "5"),
    ("</think> \\boxed{1} then \\boxed{2}", "required", False, "2"),
    ("\\boxed{1} </think> \\boxed{2}", "required", False, "2"),
    ("\\boxed{1} </think> no box here", "required", False, None),
    ("no think \\boxed{3}", "required", False, None),
    ("no think \\boxed{3}", "optional", False, "3"),
    (
        "</think> \\boxed{3} and \\boxed{4",
        "required",
        False,
        None,
    ),  # truncated: no answer, not an earlier box
    ("</think> The final answer is 42.", "required", True, "42"),
    ("</think> The final answer is 42.", "required", False, None),
    ("</think> blah\nAnswer: $x=3$", "required", True, "x=3"),
    ("</think> \\boxed{}", "required", False, None),
    ("</think> \\boxed{a{b}c}", "required", False, "a{b}c"),
    ("</think> \\boxed{\\}}", "required", False, "\\}"),
]


@pytest.mark.parametrize(("response", "think", "fallback", "expected"), EXTRACTION)
def test_extract_answer(response: str, think: str, fallback: bool, expected: str | None) -> None:
    extraction = extract_answer(response, think=think, fallback=fallback)  # type: ignore[arg-type]
    assert extraction.answer == expected
    assert extraction.format_ok is (expected is not None)


def test_extract_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="think"):
        extract_answer("</think>\\boxed{1}", think="maybe")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        extract_answer(None)  # type: ignore[arg-type]


QUESTION = "Which?\nAnswer Choices:\n(A) 12 apples\n(B) 7\n(C) the moon\n(D) 4"

CHOICES = [
    ("</think> \\boxed{C}", "C"),
    ("</think> \\boxed{(C)}", "C"),
    ("</think> \\boxed{\\text{C}}", "C"),
    ("</think> \\boxed{C: the moon}", "C"),
    ("</think> \\boxed{the moon}", "C"),
    ("</think> Answer: B", "B"),
    ("</think> The answer is (D).", "D"),
    ("</think> I pick (A) over (B), so (D)", "D"),
    ("</think> \\boxed{E}", None),  # not an option of this question
    ("no think \\boxed{C}", None),
    ("</think> \\boxed{A, D}", "AD"),
    ("</think> \\boxed{A B D}", "ABD"),
]


@pytest.mark.parametrize(("response", "expected"), CHOICES)
def test_extract_choice(response: str, expected: str | None) -> None:
    assert extract_choice(response, QUESTION) == expected


def test_option_letters_and_gold_normalisation() -> None:
    assert sorted(option_letters(QUESTION)) == ["A", "B", "C", "D"]
    assert normalize_choice("A B D") == normalize_choice("DBA") == "ABD"
    with pytest.raises(ValueError):
        normalize_choice("42")


@pytest.mark.parametrize(
    ("data_source", "expected"),
    [
        ("gpqa_diamond", True),
        ("mmlu_stem", True),
        ("gaokao_math_qa", True),
        ("synthetic/arith", False),
        ("", False),
    ],
)
def test_routing(data_source: str, expected: bool) -> None:
    assert is_multiple_choice(data_source) is expected


def test_compute_score_multiple_choice() -> None:
    info = {"question": QUESTION}
    assert compute_score("gpqa", "</think>\\boxed{C}", "C", info)["score"] == 1.0
    assert compute_score("gpqa", "</think>\\boxed{B}", "C", info)["score"] == 0.0
    assert compute_score("gaokao", "</think>\\boxed{AD}", "A D", info)["score"] == 1.0
    assert compute_score("gaokao", "</think>\\boxed{A}", "AD", info)["score"] == 0.0
