"""compute_score called the way verl's naive reward loop calls it: from many threads and from asyncio at once."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from dissect_lrm.reward.compute_score import compute_score
from dissect_lrm.reward.timeout import DeadlinePool

PROMPTS, SAMPLES = 512, 8  # one RL step of 512 prompts x 8 rollouts
WORKERS = 4


def _forms(v: int) -> list[tuple[str, str]]:
    # (gold, answer the model writes): right and wrong answers in the forms models produce; the surd and
    # decimal forms need a worker's sympy in one mode or the other.
    return [
        (str(v), str(v)),
        (str(v), str(v + 1)),
        (f"\\frac{{{v}}}{{7}}", f"\\dfrac{{{v}}}{{7}}"),
        (f"{v}\\sqrt{{2}}", f"\\sqrt{{{2 * v * v}}}"),
        ("\\sqrt{2}", "1.4142135623730951"),
        (f"({v}, {v + 1})", f"\\left({v},{v + 1}\\right)"),
        (str(v), f"x = {v}"),
        (f"{v}\\pi", f"{v + 1}\\pi"),
    ]


def _batch(seed: int = 0) -> list[tuple[str, str, str]]:
    """(data_source, response, ground truth) for PROMPTS x SAMPLES realistic long responses."""
    rng = random.Random(seed)
    reasoning = "Let me check each step of the computation again, carefully. " * 30
    rows = []
    for _ in range(PROMPTS):
        v = rng.randint(2, 999)
        form = rng.randrange(len(_forms(v)))
        gold, right = _forms(v)[form]
        for _ in range(SAMPLES):
            answer = right if rng.random() < 0.5 else _forms(v + rng.randint(1, 9))[form][1]
            if rng.random() < 0.05:  # truncated at the length limit: no answer
                rows.append(("math", f"<think>{reasoning}", gold))
            else:
                rows.append(
                    ("math", f"<think>{reasoning}</think>\nSo the answer is $\\boxed{{{answer}}}$.", gold)
                )
    return rows


@pytest.fixture(scope="module")
def pool() -> Iterator[DeadlinePool]:
    pool = DeadlinePool(workers=WORKERS)
    yield pool
    pool.close()


@pytest.mark.parametrize("mode", ["deepscaler", "robust"])
def test_a_step_scored_from_64_threads_matches_serial_scoring(mode: str, pool: DeadlinePool) -> None:
    rows = _batch()
    if mode == "robust":
        rows = rows[:1024]  # the same forms; keep the test short

    def score(row: tuple[str, str, str]) -> dict[str, Any]:
        return compute_score(row[0], row[1], row[2], mode=mode, pool=pool)

    pool.reset_stats()
    serial = [score(row) for row in rows]
    assert pool.peak_busy == 1 and len(pool.calls_by_pid) == 1  # one caller holds one worker at a time
    assert 0.2 < sum(r["score"] for r in serial) / len(serial) < 0.8

    pool.reset_stats()
    with ThreadPoolExecutor(max_workers=64) as executor:
        concurrent = list(executor.map(score, rows))
    assert concurrent == serial
    # the callers shared the pool: every worker process ran calls, all of them at once at some point
    assert pool.peak_busy == WORKERS
    assert len(pool.calls_by_pid) == WORKERS


def test_asyncio_callers_through_the_default_executor_share_the_pool(pool: DeadlinePool) -> None:
    # verl's naive reward-loop manager: one task per sample, each awaiting run_in_executor(None, scorer)
    rows = _batch(seed=1)[:512]
    expected = [compute_score(*row, mode="deepscaler", pool=pool) for row in rows]

    async def run_single(row: tuple[str, str, str]) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, lambda: compute_score(*row, mode="deepscaler", pool=pool))

    async def run_all() -> list[dict[str, Any]]:
        asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(max_workers=2 * WORKERS))
        return await asyncio.gather(*(run_single(row) for row in rows))

    pool.reset_stats()
    assert asyncio.run(run_all()) == expected
    assert pool.peak_busy == WORKERS
