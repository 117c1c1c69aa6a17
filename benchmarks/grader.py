"""Grader benchmark: throughput of robust/deepscaler vs math-verify, a 4096-sample batch, accuracy on the table.

Prints ratios only; asserts nothing about time. Example: python benchmarks/grader.py --repeat 3
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import os
import random
import statistics
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


def _time_passes(graders: dict, pairs: list[tuple[str, str, bool]], repeat: int) -> dict[str, tuple]:
    """Per grader: (best ms/pair, median ms/pair, accuracy) over ``repeat`` timed passes.

    Passes of the graders alternate so that load from other processes falls on all of them alike, and
    the best pass is the headline (the least disturbed). Our memo caches are emptied before every pass:
    a repeated pass must not be a lookup (sympy's own cache stays warm for every grader alike, as it
    does in a long-lived worker).
    """
    times: dict[str, list[float]] = {name: [] for name in graders}
    accuracy: dict[str, float] = {}
    for _ in range(repeat):
        for name, function in graders.items():
            clear_caches()
            start = time.perf_counter()
            correct = sum(function(g, p) == label for g, p, label in pairs)
            times[name].append((time.perf_counter() - start) / len(pairs))
            accuracy[name] = correct / len(pairs)
    return {name: (min(t), statistics.median(t), accuracy[name]) for name, t in times.items()}


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


def _cascade_accuracy(pairs: list[tuple[str, str, bool]]) -> None:
    # compute_score(..., cascade_math_verify=True) decides "ours or math-verify"; a rescue of a labelled
    # non-equivalent pair is a false positive the cascade adds.
    from dissect_lrm.reward.cascade import math_verify_equal

    verdicts = {(g, p): math_verify_equal([g], p) for g, p, _ in pairs}
    for name, function in (("robust", robust_equal), ("deepscaler", deepscaler_equal)):
        ours = [function(g, p) for g, p, _ in pairs]
        cascaded = [mine or verdicts[(g, p)] for mine, (g, p, _) in zip(ours, pairs)]
        correct = sum(decision == label for decision, (_, _, label) in zip(cascaded, pairs))
        rescued = [(d, label) for mine, d, (_, _, label) in zip(ours, cascaded, pairs) if d and not mine]
        false_rescues = sum(not label for _, label in rescued)
        print(
            f"{name:12s} + math-verify cascade: accuracy {correct / len(pairs):.3f}, "
            f"{len(rescued)} rescued of which {false_rescues} wrongly"
        )


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
    parser.add_argument(
        "--repeat", type=int, default=5, help="timed passes over the labelled table per grader"
    )
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
    for function in graders.values():
        for gold, pred, _ in pairs:  # warm-up pass: imports, sympy's cache (ours is emptied per pass)
            function(gold, pred)
    stats = _time_passes(graders, pairs, args.repeat)
    for name, (best, median, accuracy) in stats.items():
        print(
            f"{name:12s} single process: {best * 1e3:8.3f} ms/pair (median of {args.repeat} passes "
            f"{median * 1e3:.3f}), accuracy {accuracy:.3f}"
        )
    if "math-verify" in stats:
        for name in ("robust", "deepscaler"):
            best = stats["math-verify"][0] / stats[name][0]
            median = stats["math-verify"][1] / stats[name][1]
            print(f"throughput ratio {name} / math-verify: {best:.1f}x (medians: {median:.1f}x)")
        _cascade_accuracy(pairs)

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
