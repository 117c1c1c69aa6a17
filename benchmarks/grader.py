"""Grader benchmark: throughput of robust/deepscaler vs math-verify, a 4096-sample batch, accuracy on the table.

Prints ratios only; asserts nothing about time. Example: python benchmarks/grader.py --repeat 3
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import os
import random
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from dissect_lrm.reward.compute_score import compute_score, compute_scores
from dissect_lrm.reward.deepscaler import clear_caches, deepscaler_equal
from dissect_lrm.reward.robust import robust_equal
from dissect_lrm.reward.timeout import DeadlinePool


def _load_table() -> list[tuple[str, str, bool]]:
    # The labelled table lives with the tests (one source of truth); load it by path, not by package.
    path = Path(__file__).resolve().parents[1] / "tests" / "unit" / "reward" / "test_equivalence_table.py"
    spec = importlib.util.spec_from_file_location("_grader_table", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    rows = [(g, p, True) for g, p in module.BOTH_TRUE + module.ROBUST_ONLY_TRUE]
    return rows + [(g, p, False) for g, p in module.BOTH_FALSE]


def _math_verify_equal(gold: str, pred: str) -> bool:
    from math_verify import parse, verify

    try:
        return bool(verify(parse(f"${gold}$"), parse(f"${pred}$")))
    except Exception:
        return False


def _time_per_pair(function, pairs: list[tuple[str, str, bool]], repeat: int) -> tuple[float, float]:
    # Our memo caches are emptied before every pass: a repeated pass must not be a lookup. (sympy's own
    # cache stays warm for every grader alike, as it does in a long-lived worker.)
    elapsed = 0.0
    correct = 0
    for _ in range(repeat):
        clear_caches()
        start = time.perf_counter()
        correct = sum(function(g, p) == label for g, p, label in pairs)
        elapsed += time.perf_counter() - start
    return elapsed / (repeat * len(pairs)), correct / len(pairs)


def _long_responses(count: int, seed: int) -> tuple[list[str], list[str]]:
    rng = random.Random(seed)
    forms = [
        lambda v: (str(v), str(v)),
        lambda v: (f"\\frac{{{v}}}{{7}}", f"\\dfrac{{{v}}}{{7}}"),
        lambda v: (str(v), f"{v}.0"),
        lambda v: (f"{v}\\sqrt{{2}}", f"\\sqrt{{{2 * v * v}}}"),
        lambda v: (f"({v}, {v + 1})", f"\\left({v},{v + 1}\\right)"),
        lambda v: (str(v), str(v + 1)),
    ]
    filler = "Let me reconsider the computation step by step, checking each term carefully. " * 150
    responses, golds = [], []
    for _ in range(count):
        gold, pred = rng.choice(forms)(rng.randint(1, 999))
        responses.append(f"<think>{filler}</think>\nTherefore the final answer is $\\boxed{{{pred}}}$.")
        golds.append(gold)
    return responses, golds


def _timed_on_fresh_pool(run, args: argparse.Namespace) -> tuple[list[dict], float]:
    # a fresh pool and empty caches for every timed run: no run profits from an earlier one
    clear_caches()
    pool = DeadlinePool(workers=args.workers)
    pool.map(robust_equal, [("1", "1")] * args.workers, 30.0)  # start the workers outside the timing
    try:
        start = time.perf_counter()
        results = run(pool)
        return results, time.perf_counter() - start
    finally:
        pool.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=3, help="passes over the labelled table per grader")
    parser.add_argument("--batch", type=int, default=4096, help="responses in the batched run")
    parser.add_argument("--workers", type=int, default=2, help="worker processes for the batched run")
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthetic long responses")
    parser.add_argument("--skip-math-verify", action="store_true", help="do not run the math-verify peer")
    args = parser.parse_args(argv)

    pairs = _load_table()
    print(f"labelled table: {len(pairs)} pairs ({sum(p[2] for p in pairs)} equivalent)")
    graders = {"robust": robust_equal, "deepscaler": deepscaler_equal}
    if not args.skip_math_verify:
        graders["math-verify"] = _math_verify_equal
    stats = {}
    for name, function in graders.items():
        for gold, pred, _ in pairs:  # warm-up pass: imports, sympy's cache (ours is emptied per pass)
            function(gold, pred)
        stats[name] = _time_per_pair(function, pairs, args.repeat)
        per_pair, accuracy = stats[name]
        print(f"{name:12s} single process: {per_pair * 1e3:8.3f} ms/pair, accuracy {accuracy:.3f}")
    if "math-verify" in stats:
        reference = stats["math-verify"][0]
        for name in ("robust", "deepscaler"):
            print(f"throughput ratio {name} / math-verify: {reference / stats[name][0]:.1f}x")

    responses, golds = _long_responses(args.batch, args.seed)
    chars = sum(map(len, responses)) / len(responses)
    threads = min(32, (os.cpu_count() or 1) + 4)  # asyncio's default executor size (verl's naive manager)
    for mode in ("robust", "deepscaler"):
        batched = functools.partial(compute_scores, ["math"] * len(responses), mode=mode)
        results, elapsed = _timed_on_fresh_pool(
            lambda pool, run=batched: run(responses, golds, pool=pool), args
        )
        accuracy = sum(r["score"] for r in results) / len(results)
        print(
            f"batch of {len(responses)} responses (~{chars:.0f} chars) in {mode} mode on {args.workers} workers: "
            f"{elapsed:.2f} s (ratio to the 2 s target: {elapsed / 2.0:.2f}), mean score {accuracy:.3f}"
        )

        # verl's naive reward-loop manager: one compute_score per sample from the event loop's executor
        def per_sample(pool: DeadlinePool, mode: str = mode) -> list[dict]:
            single = functools.partial(compute_score, "math", mode=mode, pool=pool)
            with ThreadPoolExecutor(threads) as executor:
                return list(executor.map(single, responses, golds))

        singles, elapsed = _timed_on_fresh_pool(per_sample, args)
        print(
            f"  one compute_score per sample from {threads} threads (verl's naive manager): {elapsed:.2f} s, "
            f"identical results: {singles == results}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
