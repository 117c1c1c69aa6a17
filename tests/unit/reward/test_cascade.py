"""The optional math-verify cascade: off by default, rescues real misses, reported, bounded by the pool."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pytest

from dissect_lrm.reward import cascade
from dissect_lrm.reward.compute_score import compute_score, compute_scores
from dissect_lrm.reward.deepscaler import deepscaler_equal
from dissect_lrm.reward.robust import robust_equal
from dissect_lrm.reward.timeout import DeadlinePool, Outcome

pytest.importorskip("math_verify", reason="the cascade needs the math-verify extra")

# Real misses of our graders that math-verify accepts: "the reals" for the whole line (a common MATH
# domain answer), and a power the faithful DeepScaleR grader does not evaluate.
ROBUST_MISS = ("\\log 100", "2")  # math-verify reads \log as base 10, our grader as the natural log
DEEPSCALER_MISS = ("1024", "2^{10}")


def _response(answer: str) -> str:
    return f"<think>reasoning</think> The answer is $\\boxed{{{answer}}}$."


@pytest.fixture(scope="module")
def pool() -> Iterator[DeadlinePool]:
    pool = DeadlinePool(workers=2)
    # import math-verify in both workers first, so a deadline below is spent on the pair, not an import
    pool.map(cascade.math_verify_equal, [(["1"], "1")] * 2, 30.0)
    yield pool
    pool.close()


class ScriptedPool:
    """Runs our grader in-process and answers every math-verify call with a fixed outcome."""

    def __init__(self, cascade_outcome: Outcome) -> None:
        self.cascade_outcome = cascade_outcome
        self.cascade_jobs: list[tuple] = []

    def map(self, function: Callable[..., Any], jobs: Sequence[tuple], deadline_s: float) -> list[Outcome]:
        if function is cascade.math_verify_equal:
            self.cascade_jobs.extend(jobs)
            return [self.cascade_outcome for _ in jobs]
        return [Outcome(value=function(*job), ok=True) for job in jobs]

    def call(self, function: Callable[..., Any], job: tuple, deadline_s: float) -> Outcome:
        return self.map(function, [job], deadline_s)[0]


def test_the_rescued_pairs_are_real_misses_of_our_graders() -> None:
    assert robust_equal(*ROBUST_MISS) is False
    assert deepscaler_equal(*DEEPSCALER_MISS) is False
    assert cascade.math_verify_equal([ROBUST_MISS[0]], ROBUST_MISS[1]) is True
    assert cascade.math_verify_equal([DEEPSCALER_MISS[0]], DEEPSCALER_MISS[1]) is True


@pytest.mark.parametrize(("mode", "pair"), [("robust", ROBUST_MISS), ("deepscaler", DEEPSCALER_MISS)])
def test_cascade_rescues_a_miss_and_reports_it(mode: str, pair: tuple[str, str], pool: DeadlinePool) -> None:
    gold, pred = pair
    off = compute_score("math", _response(pred), gold, mode=mode, pool=pool)
    assert off["score"] == 0.0 and off["math_verify_rescued"] is False
    on = compute_score("math", _response(pred), gold, mode=mode, pool=pool, cascade_math_verify=True)
    assert on["score"] == 1.0 and on["acc"] == 1.0
    assert on["math_verify_rescued"] is True and on["timed_out"] is False


def test_cascade_is_off_by_default_and_the_environment_turns_it_on(monkeypatch: pytest.MonkeyPatch) -> None:
    scripted = ScriptedPool(Outcome(value=True, ok=True))
    monkeypatch.delenv(cascade.CASCADE_ENV, raising=False)
    assert compute_score("math", _response("9"), "8", pool=scripted)["score"] == 0.0
    assert scripted.cascade_jobs == []
    monkeypatch.setenv(cascade.CASCADE_ENV, "1")
    result = compute_score("math", _response("9"), "8", pool=scripted)
    assert result["score"] == 1.0 and result["math_verify_rescued"] is True
    assert scripted.cascade_jobs == [(["8"], "9")]
    assert (
        compute_score("math", _response("9"), "8", pool=scripted, cascade_math_verify=False)["score"] == 0.0
    )


def test_only_definite_misses_of_extracted_math_answers_are_sent() -> None:
    scripted = ScriptedPool(Outcome(value=True, ok=True))
    correct = compute_score("math", _response("8"), "8", pool=scripted, cascade_math_verify=True)
    unformatted = compute_score("math", "no think, \\boxed{9}", "8", pool=scripted, cascade_math_verify=True)
    choice = compute_score("gpqa", _response("B"), "C", pool=scripted, cascade_math_verify=True)
    assert correct["math_verify_rescued"] is False and correct["score"] == 1.0
    assert unformatted["score"] == 0.0 and choice["score"] == 0.0
    assert scripted.cascade_jobs == []


@pytest.mark.parametrize(
    "outcome",
    [Outcome(error="Traceback: RuntimeError: boom"), Outcome(timed_out=True, error="deadline exceeded")],
    ids=["exception", "timeout"],
)
def test_a_failed_cascade_call_leaves_our_decision(outcome: Outcome) -> None:
    scripted = ScriptedPool(outcome)
    result = compute_score("math", _response("9"), "8", pool=scripted, cascade_math_verify=True)
    assert result["score"] == 0.0 and result["math_verify_rescued"] is False
    assert result["timed_out"] is outcome.timed_out
    assert len(scripted.cascade_jobs) == 1


def test_a_hanging_math_verify_is_killed_at_the_deadline(pool: DeadlinePool) -> None:
    # DeepScaleR's guard rejects the tower at once; math-verify tries to evaluate it and never returns.
    result = compute_score(
        "math",
        _response("9^{9^{9}}"),
        "1",
        mode="deepscaler",
        pool=pool,
        deadline_s=1.0,
        cascade_math_verify=True,
    )
    assert result["score"] == 0.0 and result["math_verify_rescued"] is False
    assert result["timed_out"] is True
    # the killed worker was replaced: the pool still grades
    assert compute_score(
        "math", _response(ROBUST_MISS[1]), ROBUST_MISS[0], pool=pool, cascade_math_verify=True
    )["math_verify_rescued"]


def test_batched_cascade_matches_single_calls(pool: DeadlinePool) -> None:
    golds = [ROBUST_MISS[0], "8", "8", "C", DEEPSCALER_MISS[0]]
    preds = [ROBUST_MISS[1], "8", "9", "B", DEEPSCALER_MISS[1]]
    sources = ["math", "math", "math", "gpqa", "math"]
    responses = [_response(p) for p in preds]
    batch = compute_scores(sources, responses, golds, pool=pool, cascade_math_verify=True)
    single = [
        compute_score(s, r, g, pool=pool, cascade_math_verify=True)
        for s, r, g in zip(sources, responses, golds)
    ]
    assert batch == single
    assert [r["math_verify_rescued"] for r in batch] == [True, False, False, False, False]
    assert [r["score"] for r in batch] == [1.0, 1.0, 0.0, 0.0, 1.0]


def test_missing_math_verify_fails_fast_only_when_the_cascade_is_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cascade, "math_verify_available", lambda: False)
    scripted = ScriptedPool(Outcome(value=True, ok=True))
    assert compute_score("math", _response("8"), "8", pool=scripted)["score"] == 1.0
    with pytest.raises(ImportError, match="math-verify"):
        compute_score("math", _response("8"), "8", pool=scripted, cascade_math_verify=True)
