"""The deepscaler fast paths (numerals, numeric non-zero, caches, in-process quick check) keep every decision."""

from __future__ import annotations

import itertools
import random

import pytest

from dissect_lrm.reward import deepscaler, normalize
from dissect_lrm.reward.compute_score import compute_scores
from dissect_lrm.reward.deepscaler import deepscaler_equal, deepscaler_quick, deepscaler_triage, pending_equal

from .test_equivalence_table import BOTH_FALSE, BOTH_TRUE, DEEPSCALER_DECISIONS, ROBUST_ONLY_TRUE

TABLE = [(g, p) for g, p in BOTH_TRUE + ROBUST_ONLY_TRUE + BOTH_FALSE] + [
    (g, p) for g, p, _ in DEEPSCALER_DECISIONS
]
# Both directions, so every pair is also graded with gold and prediction swapped.
PAIRS = TABLE + [(p, g) for g, p in TABLE]

# Forms that reach the sympy stage in the original: numerals, surds, constants, polynomials, tuples.
ATOMS = [
    "3", "3.0", "0.5", "\\frac{1}{3}", "0.333", "\\sqrt{8}", "2\\sqrt{2}", "\\pi", "3.14159", "x^2+2x+1",
    "(x+1)^2", "2x", "i", "(025, 1)", "(25, 1)", "-0.0",
]  # fmt: skip


@pytest.fixture(autouse=True)
def _cold_caches() -> None:
    deepscaler.clear_caches()  # each test sees the uncached path first


def test_fast_and_reference_paths_agree_on_the_labelled_table() -> None:
    disagreements = [
        (g, p) for g, p in PAIRS if deepscaler_equal(g, p, fast=True) != deepscaler_equal(g, p, fast=False)
    ]
    assert disagreements == []


def test_fast_and_reference_paths_agree_on_atom_pairs() -> None:
    disagreements = [
        (g, p)
        for g, p in itertools.product(ATOMS, repeat=2)
        if deepscaler_equal(g, p, fast=True) != deepscaler_equal(g, p, fast=False)
    ]
    assert disagreements == []


def test_cached_answers_match_the_first_answers() -> None:
    first = [deepscaler_equal(g, p) for g, p in PAIRS]
    assert [deepscaler_equal(g, p) for g, p in PAIRS] == first


def _numeral(rng: random.Random) -> str:
    whole = rng.choice(["0", str(rng.randint(1, 999)), str(rng.randint(10**11, 10**12 - 1))])
    text = whole if rng.random() < 0.5 else f"{whole}.{rng.choice(['0', '5', '50', '25', '333'])}"
    return ("-" if rng.random() < 0.3 else "") + text


def test_numeral_shortcut_matches_sympy_on_random_numerals() -> None:
    rng = random.Random(4)
    pairs = [(_numeral(rng), _numeral(rng)) for _ in range(150)]
    pairs += [(a, a + "0") for a, _ in pairs[:40] if "." in a and len(a) < 15]  # "0.5" vs "0.50"
    pairs += [
        ("-0.0", "0"),
        ("3", "3.0"),
        ("12345678901234", "12345678901234.0"),
        ("123456789012345", "123456789012345"),
    ]
    for gold, pred in pairs:
        verdict = deepscaler._numeral_verdict(gold, pred)
        assert verdict is not None, (gold, pred)
        assert verdict == deepscaler._sympy_zero_reference(f"({gold})-({pred})"), (gold, pred)


@pytest.mark.parametrize("numeral", ["025", "1" * 16, "1e5", "5.", ".5", "--3", "1,000"])
def test_numeral_shortcut_declines_forms_sympy_reads_differently(numeral: str) -> None:
    assert deepscaler._numeral_verdict(numeral, "25") is None


def test_shortcuts_decide_without_simplify(monkeypatch: pytest.MonkeyPatch) -> None:
    def forbidden(difference: object) -> bool:
        raise AssertionError(f"simplify ran on {difference}")

    monkeypatch.setattr(deepscaler, "_simplifies_to_zero", forbidden)
    assert deepscaler_equal("8", "9") is False  # numerals: no sympy at all
    assert deepscaler_equal("\\pi", "3.14159") is False  # clearly non-zero at a point
    assert deepscaler_equal("x^2", "x^3") is False


def test_numerically_zero_difference_still_runs_simplify(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[object] = []
    original = deepscaler._simplifies_to_zero

    def recording(difference: object) -> bool:
        calls.append(difference)
        return original(difference)

    monkeypatch.setattr(deepscaler, "_simplifies_to_zero", recording)
    assert deepscaler_equal("(x+1)^2", "x^2+2x+1") is True
    assert len(calls) == 1


def test_quick_check_never_contradicts_the_full_decision() -> None:
    decided = 0
    for gold, pred in PAIRS:
        quick = deepscaler_quick(gold, pred)
        if quick is not None:
            decided += 1
            assert quick == deepscaler_equal(gold, pred, fast=False), (gold, pred)
    assert decided > len(PAIRS) // 2  # most pairs never need a worker


def _triaged_decision(gold: str, pred: str) -> bool:
    # what compute_score does: decide in-process, or finish the pending sympy work (in a worker)
    verdict = deepscaler_triage(gold, pred)
    if verdict is None:
        return deepscaler_equal(gold, pred)
    return verdict if isinstance(verdict, bool) else pending_equal(verdict)


def test_triage_then_pending_sympy_work_matches_the_reference() -> None:
    pairs = PAIRS + list(itertools.product(ATOMS, repeat=2)) + [(["2^{10}", "1024"], "1024.0")]
    disagreements = [
        (g, p) for g, p in pairs if _triaged_decision(g, p) != deepscaler_equal(g, p, fast=False)
    ]
    assert disagreements == []
    assert isinstance(deepscaler_triage("(x+1)^2", "x^2+2x+1"), tuple)  # only sympy work is left over


def test_quick_check_defers_sympy_work_and_long_strings() -> None:
    assert deepscaler_quick("(x+1)^2", "x^2+2x+1") is None
    assert deepscaler_quick("8", "9") is False
    assert deepscaler_quick("1" * 300, "2") is None


def test_compute_scores_in_deepscaler_mode_matches_the_reference() -> None:
    responses = [f"<think>work</think> so \\boxed{{{p}}}." for _, p in TABLE]
    results = compute_scores(["math"] * len(TABLE), responses, [g for g, _ in TABLE], mode="deepscaler")
    expected = [float(deepscaler_equal(g, p, fast=False)) for g, p in TABLE]
    assert [r["score"] for r in results] == expected


# Short strings on which pylatexenc backtracks exponentially: they must never be normalised in-process.
SLOW_LATEX = [
    ("\\frac{{{{(((" * 20)[:256],
    "\\sqrt[" * 10,
    "\\frac{" * 8,
    "\\frac{\\frac{\\frac{\\frac{\\frac{x",
]


@pytest.mark.parametrize("answer", SLOW_LATEX)
def test_triage_leaves_pylatexenc_risks_to_a_worker(answer: str, monkeypatch: pytest.MonkeyPatch) -> None:
    def forbidden(text: str) -> str:
        raise AssertionError(f"pylatexenc ran in-process on {text!r}")

    monkeypatch.setattr(normalize, "_latex_to_text", forbidden)
    assert deepscaler_triage("1", answer) is None
    assert deepscaler_triage(answer, "1") is None


def test_triage_still_normalises_common_latex_in_process(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    original = normalize._latex_to_text
    monkeypatch.setattr(normalize, "_latex_to_text", lambda text: calls.append(text) or original(text))
    # only the surd's sympy difference is left for a worker; the tuple's first element is decided here
    assert deepscaler_triage("5\\sqrt{2}", "\\sqrt{50}") == (("(5sqrt(2))-(sqrt(50))",),)
    assert deepscaler_triage("\\left(3, \\frac{\\pi}{2}\\right)", "(3, \\frac{\\pi}{3})") == (
        ("(pi/2)-(pi/3)",),
    )
    assert len(calls) == 4  # pylatexenc ran in-process on all four answers
