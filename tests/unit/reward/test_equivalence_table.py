"""Table-driven equivalence tests: (gold, prediction, expected) for the robust and deepscaler graders."""

from __future__ import annotations

import pytest

from dissect_lrm.reward.compute_score import compute_score
from dissect_lrm.reward.deepscaler import deepscaler_equal
from dissect_lrm.reward.robust import robust_equal

# Pairs every grader must accept (the original DeepScaleR grader accepts them too).
BOTH_TRUE = [
    ("8", "8"), ("204", "204"), ("025", "25"), ("\\frac{1}{2}", "\\frac12"), ("\\frac{1}{2}", "\\dfrac{1}{2}"),
    ("\\frac{1}{2}", "\\tfrac{1}{2}"), ("\\frac{1}{2}", "1/2"), ("\\frac{1}{2}", "0.5"), ("0.5", ".5"),
    ("10", "10.0"), ("-3", "-3"), ("\\sqrt{3}", "\\sqrt3"), ("2\\sqrt{2}", "2\\sqrt{2}"),
    ("\\frac{\\pi}{2}", "\\frac{\\pi}{2}"), ("(1,2)", "(1, 2)"), ("[1,2)", "[1, 2)"), ("5", "x = 5"),
    ("5", "5^\\circ"), ("5", "5\\%"), ("\\$5", "5"), ("\\text{Monday}", "\\text{Monday}"),
    ("1000", "1,000"), ("1000000", "1,000,000"), ("3", "3.0"), ("x^2+1", "x^2+1"), ("2x", "2x"),
    ("\\left(3, \\frac{\\pi}{2}\\right)", "(3, \\frac{\\pi}{2})"), ("-\\frac{1}{3}", "-\\frac{1}{3}"),
    ("\\infty", "\\infty"), ("0", "0"), ("100", "100"), ("12", "12"),
]  # fmt: skip

# Pairs the robust grader accepts and the original misses (higher recall than the original grader).
ROBUST_ONLY_TRUE = [
    ("2^{10}", "1024"), ("1024", "2^{10}"), ("10", "\\binom{5}{2}"), ("e^{16}-1", "-1+e^{16}"), ("2, 3", "3, 2"),
    ("\\frac{\\pi}{4}", "45^\\circ"), ("7\\frac{3}{4}", "7 3/4"), ("7.75", "7\\frac{3}{4}"), ("0.5", "50\\%"),
    ("\\{1,2,3\\}", "\\{3,2,1\\}"), ("\\{1,2,3\\}", "3, 2, 1"), ("8.7\\times 10^{8}", "8.7e8"),
    ("14-i", "14.0 + -1.0i"), ("2\\sqrt{2}", "\\sqrt{8}"), ("\\frac{\\sqrt{2}}{2}", "\\frac{1}{\\sqrt{2}}"),
    ("(x+1)^2", "x^2+2x+1"), ("y=2x+1", "2x-y+1=0"), ("\\frac{2}{4}", "\\frac{1}{2}"), ("\\pi/2", "\\dfrac{\\pi}{2}"),
    ("-2\\pi", "-2*pi"), ("3\\pi", "3 \\pi"), ("\\text{(B)}", "B"), ("13", "\\text{13}"), ("5", "5\\text{ cm}"),
    ("5", "5 \\text{ meters}"), ("1\\,000", "1000"), ("1{,}000", "1000"), ("2.88 \\times 10^{16}", "2.88e16"),
    ("\\begin{pmatrix}1&2\\\\3&4\\end{pmatrix}", "\\begin{bmatrix}1 & 2\\\\ 3 & 4\\end{bmatrix}"),
    ("(-\\infty, 1) \\cup (2, \\infty)", "(2,\\infty)\\cup(-\\infty,1)"), ("x=1, x=2", "2, 1"),
    ("1 \\text{ or } 2", "2, 1"), ("\\sqrt{2}\\cdot\\sqrt{3}", "\\sqrt{6}"), ("i", "\\sqrt{-1}"),
    ("\\frac{1+\\sqrt{5}}{2}", "\\frac{\\sqrt{5}+1}{2}"), ("\\ln 8", "3\\ln 2"), ("6!", "720"),
    ("1.5", "\\frac{3}{2}"), ("3/4", "0.75"), ("2a+b", "b+2a"), ("x^{\\prime}", "x'"), ("0.003^{\\prime\\prime}", "0.003"),
]  # fmt: skip

# Near-misses: every grader must reject them.
BOTH_FALSE = [
    ("8", "9"), ("-3", "3"), ("\\frac{1}{3}", "0.333"), ("\\frac{1}{3}", "0.3333333"), ("12", "12.5"),
    ("12.5", "12"), ("(1,2)", "(2,1)"), ("[1,2)", "[1,2]"), ("(1,2]", "(1,2)"), ("\\{1,2,3\\}", "\\{1,2\\}"),
    ("\\frac{1}{2^{99}}", "\\frac{1}{2^{98}}"), ("\\pi", "3.14159"), ("\\sqrt{2}", "1.414"), ("2021", "\\pm 2021"),
    ("3x+4y+14=0", "3x-y+13=0"), ("\\infty", "-\\infty"), ("x^2", "x^3"), ("2x", "2y"), ("1", "0"),
    ("100", "10"), ("0.5", "0.05"), ("\\frac{\\pi}{2}", "\\frac{\\pi}{3}"), ("(1,2,3)", "(1,2)"),
    ("\\text{Monday}", "\\text{Tuesday}"), ("1000", "100"), ("e", "2.718"), ("2", "\\sqrt{2}"),
    ("14-i", "14+i"), ("\\{1,2\\}", "\\{1,2,3\\}"), ("5", "55"), ("-\\frac{1}{2}", "\\frac{1}{2}"),
    ("\\frac{1}{2004!}", "\\frac{1}{2006!}"), ("x=5", "x=6"), ("[0, 1]", "(0, 1)"), ("2", ""),
    # A numeral right after a factor is a different answer, never a product with it (found in review).
    ("\\text{even}", "\\text{even}1"), ("4 \\times 10^{33}", "4 \\times 10^{33}1"), ("\\frac{1}{2}", "\\frac{1}{2}1"),
]  # fmt: skip

# Where the original's decisions are deliberately different (reproduced, not "fixed"), per §6.2.
DEEPSCALER_DECISIONS = [
    ("2^{10}", "1024", False), ("10", "\\binom{5}{2}", False), ("2, 3", "3, 2", False),
    ("\\frac{1}{2}", "\\frac{2}{4}", False), ("\\frac{\\pi}{4}", "45^\\circ", False), ("A B D", "ABD", True),
    ("1000", "1,000", True), ("\\frac{1}{2}", "0.5", True), ("5", "5^{\\circ}", True),
]  # fmt: skip


def _response(answer: str, form: str) -> str:
    if form == "boxed":
        return f"Let me think.\n</think>\nSo the answer is $\\boxed{{{answer}}}$."
    if form == "fbox":
        return f"work </think> Therefore \\fbox{{{answer}}}"
    return f"<think>\\boxed{{wrong}}</think>\nFinal: \\boxed{{ {answer} }}"


FORMS = ("boxed", "fbox", "think_box")


@pytest.mark.parametrize(("gold", "pred"), BOTH_TRUE + ROBUST_ONLY_TRUE)
def test_robust_accepts(gold: str, pred: str) -> None:
    assert robust_equal(gold, pred) is True


@pytest.mark.parametrize(("gold", "pred"), BOTH_TRUE + ROBUST_ONLY_TRUE)
def test_robust_is_symmetric_on_equivalents(gold: str, pred: str) -> None:
    assert robust_equal(pred, gold) is True


@pytest.mark.parametrize(("gold", "pred"), BOTH_FALSE)
def test_robust_rejects_near_misses(gold: str, pred: str) -> None:
    assert robust_equal(gold, pred) is False


@pytest.mark.parametrize(("gold", "pred"), BOTH_TRUE)
def test_deepscaler_accepts(gold: str, pred: str) -> None:
    assert deepscaler_equal(gold, pred) is True


@pytest.mark.parametrize(("gold", "pred"), BOTH_FALSE)
def test_deepscaler_rejects_near_misses(gold: str, pred: str) -> None:
    assert deepscaler_equal(gold, pred) is False


@pytest.mark.parametrize(("gold", "pred", "expected"), DEEPSCALER_DECISIONS)
def test_deepscaler_reproduces_original_decisions(gold: str, pred: str, expected: bool) -> None:
    assert deepscaler_equal(gold, pred) is expected


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize(
    ("gold", "pred", "expected"),
    [(g, p, True) for g, p in BOTH_TRUE[:16] + ROBUST_ONLY_TRUE[:16]]
    + [(g, p, False) for g, p in BOTH_FALSE[:16]],
)
def test_compute_score_on_full_responses(gold: str, pred: str, expected: bool, form: str) -> None:
    result = compute_score("math", _response(pred, form), gold)
    assert result["score"] == float(expected)
    assert result["acc"] == result["score"]
    assert result["format_ok"] is True
    assert result["timed_out"] is False


def test_multiple_accepted_ground_truths() -> None:
    assert robust_equal(["-\\frac{1}{3}", "-1/3"], "-0.3333") is False
    assert robust_equal(["41.8^\\circ", "41.8^{\\circ}"], "41.8") is True
    assert compute_score("minerva", "</think>\\boxed{9.6}", ["9.6\n"])["score"] == 1.0


def test_amc_float_ground_truth_is_an_integer() -> None:
    assert compute_score("amc", "</think>\\boxed{142}", 142.0)["score"] == 1.0


def test_synthetic_task_response() -> None:
    result = compute_score("synthetic/arith", "3 + 5 = 8\n</think>\nThe answer is \\boxed{8}.", "8")
    assert result == {
        "score": 1.0,
        "acc": 1.0,
        "pred": "8",
        "format_ok": True,
        "timed_out": False,
        "math_verify_rescued": False,
    }


def test_missing_think_is_a_format_error_by_default() -> None:
    result = compute_score("synthetic/arith", "The answer is \\boxed{8}.", "8")
    assert result["score"] == 0.0 and result["format_ok"] is False
    assert (
        compute_score("synthetic/arith", "The answer is \\boxed{8}.", "8", think="optional")["score"] == 1.0
    )


def test_deepscaler_mode_treats_fbox_as_format_error() -> None:
    result = compute_score("math", "</think> \\fbox{8}", "8", mode="deepscaler")
    assert result["format_ok"] is False and result["score"] == 0.0


def test_bad_input_gives_clear_errors() -> None:
    with pytest.raises(ValueError, match="mode"):
        compute_score("math", "</think>\\boxed{1}", "1", mode="fast")
    with pytest.raises(TypeError, match="solution_str"):
        compute_score("math", None, "1")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="ground_truth"):
        compute_score("math", "</think>\\boxed{1}", [])


def test_bracketed_pair_is_not_a_thousands_number() -> None:
    assert robust_equal("(123, 124)", "\\left(123,124\\right)") is True
    assert robust_equal("123124", "(123,124)") is False
