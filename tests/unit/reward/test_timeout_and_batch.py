"""Hard time bounds: pathological inputs, worker kill/replace, threads, asyncio, batched scoring."""

from __future__ import annotations

import asyncio
import math
import operator
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import psutil
import pytest

from dissect_lrm.reward.compute_score import compute_score, compute_scores
from dissect_lrm.reward.timeout import DeadlinePool

DEADLINE = 1.0
MARGIN = 0.5 + 1.0  # the bound is deadline + 0.5 s; 1 s more absorbs a loaded 2-core CI box

PATHOLOGICAL = {
    "tower": "9^{9^{9}}",
    "big_power": "(x+1)^{500}",
    "nested_fractions": "\\frac{1}{" * 200 + "2" + "}" * 200,
    "garbage": "x" * 100_000,
    "unbalanced": "\\frac{{{{(((" * 50,
    "nul": "1\x002\x00",
    "unicode": "√π∞×÷−ℵ₀ 😀" * 50,
    "long_sum": "+".join(["x"] * 2000),
    "power_chain": "2^{2^{2^{2^{2^{2}}}}}",
    "sympy_hard": "\\sin(x)^{200}+\\cos(x)^{200}",
}


@pytest.fixture()
def pool() -> Iterator[DeadlinePool]:
    pool = DeadlinePool(workers=2)
    yield pool
    pool.close()


@pytest.mark.parametrize("name", sorted(PATHOLOGICAL))
def test_pathological_answers_return_within_deadline(name: str, pool: DeadlinePool) -> None:
    answer = PATHOLOGICAL[name]
    response = f"</think> \\boxed{{{answer}}}"
    for gold in ("1", "(x+1)^{500}"):
        start = time.monotonic()
        result = compute_score("math", response, gold, deadline_s=DEADLINE, pool=pool)
        elapsed = time.monotonic() - start
        assert elapsed < DEADLINE + MARGIN, f"{name} took {elapsed:.2f}s"
        assert set(result) == {"score", "acc", "pred", "format_ok", "timed_out", "math_verify_rescued"}
        if gold == "1":
            assert result["score"] == 0.0


def test_raw_pathological_responses_never_raise(pool: DeadlinePool) -> None:
    for text in PATHOLOGICAL.values():
        for mode in ("robust", "deepscaler"):
            result = compute_score(
                "math", text + "</think>" + text, "1", mode=mode, pool=pool, deadline_s=DEADLINE
            )
            assert result["score"] == 0.0


def _forked_workers() -> set[int]:
    """Live processes forked by this process's forkserver: pool workers, never the forkserver itself nor
    multiprocessing's resource tracker (both our direct children, started on the first forkserver pool of
    the process, so whether they exist depends on which tests ran before)."""
    me = psutil.Process()
    forked = set()
    for child in me.children(recursive=True):
        try:
            if child.status() != psutil.STATUS_ZOMBIE and child.ppid() != me.pid:
                forked.add(child.pid)
        except psutil.NoSuchProcess:  # ended between the listing and the look
            pass
    return forked


def test_overrunning_worker_is_killed_and_replaced_without_leaks() -> None:
    before = _forked_workers()
    pool = DeadlinePool(workers=2, start_method="forkserver")
    # workers must import what they run: test modules are not importable there, so use the stdlib
    outcomes = pool.map(time.sleep, [(30.0,), (0.0,), (30.0,), (0.0,)], deadline_s=0.5)
    assert [o.timed_out for o in outcomes] == [True, False, True, False]
    assert [o.ok for o in outcomes] == [False, True, False, True]
    assert 1 <= len(pool.worker_pids) <= 2
    # the two overrunning workers are gone (killed and reaped): only the pool's idle workers remain
    assert _forked_workers() - before == set(pool.worker_pids)
    pool.close()
    assert _forked_workers() - before == set()


def test_worker_exception_is_reported_not_fatal(pool: DeadlinePool) -> None:
    outcome = pool.call(operator.truediv, (1, 0))
    assert not outcome.ok and "ZeroDivisionError" in outcome.error and not outcome.timed_out
    assert pool.call(operator.add, (3, 4)).value == 7


def test_timed_out_sample_is_flagged(pool: DeadlinePool) -> None:
    # A sum of 50 square roots against its float value: numerically equal, so only sympy can decide, which
    # takes a few hundred ms even warm (towers of powers no longer reach sympy: residues decide them).
    radicands = [k for k in range(2, 60) if math.isqrt(k) ** 2 != k]
    roots = "+".join(f"\\sqrt{{{k}}}" for k in radicands)
    value = repr(sum(math.sqrt(k) for k in radicands))
    result = compute_score("math", f"</think>\\boxed{{{value}}}", roots, deadline_s=0.02, pool=pool)
    assert result == {
        "score": 0.0,
        "acc": 0.0,
        "pred": value,
        "format_ok": True,
        "timed_out": True,
        "math_verify_rescued": False,
    }


def test_works_from_threads(pool: DeadlinePool) -> None:
    responses = [f"</think>\\boxed{{\\sqrt{{{k * k}}}+\\pi-\\pi}}" for k in range(1, 13)]
    with ThreadPoolExecutor(4) as executor:
        results = list(executor.map(lambda r: compute_score("math", r, "0", pool=pool)["score"], responses))
    assert results == [0.0] * 12
    with ThreadPoolExecutor(4) as executor:
        results = list(
            executor.map(
                lambda k: compute_score("math", responses[k - 1], str(k), pool=pool)["score"], range(1, 13)
            )
        )
    assert results == [1.0] * 12


def test_works_inside_asyncio(pool: DeadlinePool) -> None:
    async def main() -> list[float]:
        tasks = [
            asyncio.to_thread(compute_score, "math", "</think>\\boxed{\\sqrt{2}\\sqrt{2}}", "2", pool=pool)
            for _ in range(4)
        ]
        return [r["score"] for r in await asyncio.gather(*tasks)]

    assert asyncio.run(main()) == [1.0] * 4


def test_compute_scores_matches_compute_score(pool: DeadlinePool) -> None:
    golds = ["8", "\\frac{1}{2}", "2", "C", "\\pi/2", "1"]
    responses = [
        "</think>\\boxed{8}",
        "</think>\\boxed{0.5}",
        "</think>\\boxed{\\sqrt{2}^2}",
        "</think>\\boxed{B}",
        "</think>\\boxed{\\frac{\\pi}{2}}",
        "</think>\\boxed{9^{9^{9}}}",
    ]
    sources = ["math", "math", "math", "gpqa", "math", "math"]
    batch = compute_scores(sources, responses, golds, pool=pool, deadline_s=DEADLINE)
    single = [
        compute_score(s, r, g, pool=pool, deadline_s=DEADLINE) for s, r, g in zip(sources, responses, golds)
    ]
    assert [b["score"] for b in batch] == [1.0, 1.0, 1.0, 0.0, 1.0, 0.0]
    assert batch == single
    assert batch[-1]["timed_out"] is False  # the tower is decided by residues, not by the deadline


def test_compute_scores_rejects_mismatched_lengths() -> None:
    with pytest.raises(ValueError, match="lengths"):
        compute_scores(["math"], ["a", "b"], ["1", "2"])


def test_pool_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError):
        DeadlinePool(workers=0)
    pool = DeadlinePool(workers=1)
    with pytest.raises(ValueError):
        pool.map(operator.add, [(0, 1)], deadline_s=0)
    pool.close()
