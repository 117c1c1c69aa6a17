"""Pins: the numeric tolerance, the think policy of training and evaluation, the multiple-choice letter set."""

from __future__ import annotations

import pytest

from dissect_lrm.eval.benchmarks import EvalProblem
from dissect_lrm.eval.protocols import Protocol
from dissect_lrm.eval.runner import grade
from dissect_lrm.reward.compute_score import compute_score
from dissect_lrm.reward.multiple_choice import extract_choice
from dissect_lrm.reward.robust import robust_equal

# Symbols (or irrational constants) force the numeric identity test, where the tolerance acts; rational
# values are compared exactly and never see it. Relative differences (hand-computed): 0.5/1001 = 5e-4,
# 1e-4/1000 = 1e-7, 1e-6/1e6 = 1e-12... Any tolerance of 1e-7 or looser accepts one of these.
TOLERANCE_NEAR_MISSES = [
    ("x+1000", "x+1000.5"),
    ("x+1000", "x+1000.0001"),
    ("1000x", "1000.0001x"),
    ("\\pi+1000", "\\pi+1000.0001"),
    ("\\sqrt{2}+10^{6}", "\\sqrt{2}+1000000.01"),
    ("\\frac{x}{3}", "0.3333333x"),
]
# Identities whose float evaluation differs in the last bits: a tolerance of 0 (or 1e-15) rejects them.
TOLERANCE_IDENTITIES = [
    ("(x+1)^{2}", "x^2+2x+1"),
    ("(x+3)^{5}", "x^5+15x^4+90x^3+270x^2+405x+243"),
    ("\\sin^2 x+\\cos^2 x", "1+0x"),
    ("\\frac{x^3-1}{x-1}", "x^2+x+1"),
    ("e^{x}e^{2x}", "e^{3x}"),
]


@pytest.mark.parametrize(("gold", "pred"), TOLERANCE_NEAR_MISSES)
def test_tolerance_rejects_near_misses(gold: str, pred: str) -> None:
    assert not robust_equal(gold, pred)
    assert not robust_equal(pred, gold)


@pytest.mark.parametrize(("gold", "pred"), TOLERANCE_IDENTITIES)
def test_tolerance_accepts_float_rounded_identities(gold: str, pred: str) -> None:
    assert robust_equal(gold, pred, allow_sympy=False)


# ---------------------------------------------------------------- think policy

NO_THINK = "The sum is \\boxed{12}."
WITH_THINK = "<think>6+6</think> The sum is \\boxed{12}."
UNBOXED = "<think>6+6</think> The final answer is 12."


def test_training_default_requires_think_and_a_box() -> None:
    # verl calls compute_score(data_source, solution_str, ground_truth, extra_info) with no policy
    assert compute_score("math", WITH_THINK, "12")["score"] == 1.0
    missing = compute_score("math", NO_THINK, "12")
    assert (missing["score"], missing["format_ok"]) == (0.0, False)
    assert compute_score("math", UNBOXED, "12")["score"] == 0.0  # free-form extraction is off
    # the switches exist and flip the outcome, so the defaults above are what is pinned
    assert compute_score("math", NO_THINK, "12", think="optional")["score"] == 1.0
    assert compute_score("math", UNBOXED, "12", fallback=True)["score"] == 1.0


def test_training_default_applies_to_multiple_choice() -> None:
    info = {"question": "Pick one.\n(A) 1\n(B) 2\n(C) 3\n(D) 4"}
    assert compute_score("gpqa", "<think>.</think> \\boxed{B}", "B", info)["score"] == 1.0
    assert compute_score("gpqa", "\\boxed{B}", "B", info)["score"] == 0.0


def test_evaluation_requires_think() -> None:
    # what the evaluation framework receives from its grading step, for both graders
    problems = [EvalProblem(id="p0", problem="6+6?", answers=("12",), source="math")] * 2
    for grader in ("robust", "deepscaler"):
        protocol = Protocol(grader=grader)
        results = grade("math", protocol.grader, problems, [WITH_THINK, NO_THINK])
        assert [r["score"] for r in results] == [1.0, 0.0], grader


# ---------------------------------------------------------------- multiple-choice letters

TEN_OPTIONS = "Which?\n" + "\n".join(f"({letter}) option {letter.lower()}" for letter in "ABCDEFGHIJ")


@pytest.mark.parametrize("letter", list("ABCDEFGHIJ"))
def test_options_a_to_j_are_read_from_the_question(letter: str) -> None:
    assert extract_choice(f"</think> \\boxed{{{letter}}}", TEN_OPTIONS) == letter


def test_letters_beyond_j_are_never_options() -> None:
    question = TEN_OPTIONS + "\n(K) option k"
    assert extract_choice("</think> \\boxed{K}", question) is None


def test_without_options_in_the_question_only_a_to_d_count() -> None:
    assert [extract_choice(f"</think> \\boxed{{{x}}}") for x in "ABCDE"] == ["A", "B", "C", "D", None]


def test_letters_outside_the_questions_options_are_rejected() -> None:
    question = "Which?\n(A) 1\n(B) 2\n(C) 3"
    assert extract_choice("</think> \\boxed{C}", question) == "C"
    assert extract_choice("</think> \\boxed{D}", question) is None
