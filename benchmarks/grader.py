"""Grader benchmark: ours vs math-verify on the oracle corpus (accuracy, precision, recall, throughput), the
pathological set's wall times, and a batch of long responses through the deadline pool.

The corpus is rule-made from the real benchmark answers (tests/unit/reward/grader_corpus.py; labels come
from the rules, never from a grader). Every grader runs one pair at a time on one core: our cheap checks
in this process and what they leave to sympy in one deadline-pool worker, as in training; math-verify in
one deadline-pool worker (a timeout counts as "no", its time counted). Prints figures and ratios only;
asserts nothing about time. Example: python benchmarks/grader.py
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
from types import ModuleType

from dissect_lrm.reward import deepscaler, robust
from dissect_lrm.reward.compute_score import compute_score, compute_scores
from dissect_lrm.reward.deepscaler import clear_caches
from dissect_lrm.reward.robust import robust_equal
from dissect_lrm.reward.timeout import DeadlinePool

DEADLINE_S = 5.0


def _load_corpus_module() -> ModuleType:
    # The corpus lives with the tests (one source of truth); load it by path, not by package.
    path = Path(__file__).resolve().parents[1] / "tests" / "unit" / "reward" / "grader_corpus.py"
    spec = importlib.util.spec_from_file_location("_grader_corpus", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


def _ours(mode: str, gold: str, pred: str, pool: DeadlinePool) -> tuple[bool, bool]:
    """(decision, timed out): the cheap checks here, the rest in a worker under the deadline."""
    if mode == "robust":
        quick = robust.quick_verdict(gold, pred)
        if quick is not None:
            return quick, False
        outcome = pool.call(robust_equal, ([gold], pred, True), DEADLINE_S)
    else:
        triage = deepscaler.deepscaler_triage([gold], pred)
        if isinstance(triage, bool):
            return triage, False
        if triage is not None:
            outcome = pool.call(deepscaler.pending_equal, (triage,), DEADLINE_S)
        else:
            outcome = pool.call(deepscaler.deepscaler_equal, ([gold], pred), DEADLINE_S)
    return bool(outcome.ok and outcome.value), outcome.timed_out


def _math_verify(gold: str, pred: str, pool: DeadlinePool) -> tuple[bool, bool]:
    from dissect_lrm.reward.cascade import math_verify_equal

    outcome = pool.call(math_verify_equal, ([gold], pred), DEADLINE_S)
    return bool(outcome.ok and outcome.value), outcome.timed_out


def _run(grader, pairs: list[tuple[str, str]], pool: DeadlinePool) -> tuple[list[bool], list[float], int]:
    """Decisions, per-pair wall times and the number of deadline hits."""
    decisions, times, timeouts = [], [], 0
    for gold, pred in pairs:
        start = time.perf_counter()
        decision, timed_out = grader(gold, pred, pool)
        times.append(time.perf_counter() - start)
        decisions.append(decision)
        timeouts += timed_out
    return decisions, times, timeouts


def _scores(decisions: list[bool], labels: list[bool]) -> tuple[float, float, float]:
    tp = sum(d and y for d, y in zip(decisions, labels))
    fp = sum(d and not y for d, y in zip(decisions, labels))
    fn = sum(y and not d for d, y in zip(decisions, labels))
    accuracy = sum(d == y for d, y in zip(decisions, labels)) / len(labels)
    return accuracy, tp / max(tp + fp, 1), tp / max(tp + fn, 1)


def _corpus_report(graders: dict, corpus_module: ModuleType, pool: DeadlinePool) -> dict[str, list[bool]]:
    corpus = corpus_module.build_corpus()
    if not corpus:
        print(f"no benchmark answers under {corpus_module.SHARED_BENCHMARKS}: corpus skipped")
        return {}
    pairs = [(p.gold, p.pred) for p in corpus]
    labels = [p.equal for p in corpus]
    print(
        f"oracle corpus: {len(corpus)} pairs ({sum(labels)} equivalent, {len(labels) - sum(labels)} near-misses, "
        f"{len({p.rule for p in corpus})} rules) from {len(corpus_module.load_golds())} benchmark answers"
    )
    decisions: dict[str, list[bool]] = {}
    rates: dict[str, float] = {}
    for name, grader in graders.items():
        clear_caches()
        found, times, timeouts = _run(grader, pairs, pool)
        accuracy, precision, recall = _scores(found, labels)
        rates[name] = len(pairs) / sum(times)
        decisions[name] = found
        print(
            f"  {name:12s} accuracy {accuracy:.3f}  precision {precision:.3f}  recall {recall:.3f}  "
            f"{rates[name]:8.0f} pairs/s  deadline hits {timeouts}"
        )
    if "math-verify" in rates:
        for name in ("robust", "deepscaler"):
            print(f"  throughput ratio {name} / math-verify: {rates[name] / rates['math-verify']:.1f}x")
        for name in ("robust", "deepscaler"):  # what the optional cascade (ours, then math-verify) would give
            cascaded = [a or b for a, b in zip(decisions[name], decisions["math-verify"])]
            accuracy, precision, recall = _scores(cascaded, labels)
            print(
                f"  {name} + math-verify cascade: accuracy {accuracy:.3f}  precision {precision:.3f}  "
                f"recall {recall:.3f}"
            )
    return decisions


def _free_form_report(corpus_module: ModuleType, pool: DeadlinePool) -> None:
    # Responses without a box (templates in turn), graded with the free-form extraction on (fallback=True).
    responses = corpus_module.free_form_responses(corpus_module.build_corpus())
    if not responses:
        return
    results = [compute_score("math", r.response, r.pair.gold, fallback=True, pool=pool) for r in responses]
    accepted = [r for r, res in zip(responses, results) if res["score"]]
    right = sum(r.answered_equal for r in accepted)
    should = sum(r.answered_equal for r in responses)
    print(
        f"free-form extraction (robust, fallback=True): {len(responses)} responses, precision "
        f"{right / max(len(accepted), 1):.3f}, recall {right / max(should, 1):.3f}"
    )


def _pathological_report(graders: dict, corpus_module: ModuleType, pool: DeadlinePool) -> None:
    cases = corpus_module.PATHOLOGICAL
    pairs = [(g, p) for g, p, _ in cases]
    trivial = min(_run(graders["robust"], [("\\frac{1}{2}", "0.5")] * 20, pool)[1])
    print(
        f"pathological set: {len(cases)} pairs (deadline {DEADLINE_S:.0f} s); trivial pair {trivial * 1e6:.0f} us"
    )
    for name, grader in graders.items():
        found, times, timeouts = _run(grader, pairs, pool)
        right = sum(d == label for d, (_, _, label) in zip(found, cases))
        worst = max(range(len(times)), key=times.__getitem__)
        print(
            f"  {name:12s} max wall {max(times) * 1e3:8.1f} ms ({max(times) / trivial:.0f}x trivial; "
            f"pair #{worst}), deadline hits {timeouts}, right {right}/{len(cases)}"
        )


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
    parser.add_argument("--batch", type=int, default=4096, help="responses in the batched run (0: skip it)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes for the batched run")
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthetic long responses")
    parser.add_argument("--skip-math-verify", action="store_true", help="do not run the math-verify peer")
    args = parser.parse_args(argv)

    corpus_module = _load_corpus_module()
    graders = {
        "robust": functools.partial(_ours, "robust"),
        "deepscaler": functools.partial(_ours, "deepscaler"),
    }
    if not args.skip_math_verify:
        graders["math-verify"] = _math_verify
    pool = DeadlinePool(workers=1)
    try:
        pool.map(robust_equal, [("1", "1")], 30.0)  # start the worker outside the timing
        for grader in graders.values():  # warm-up: imports and first-call costs
            _run(grader, [("\\frac{1}{2}", "0.5"), ("x^2", "x\\cdot x")], pool)
        _corpus_report(graders, corpus_module, pool)
        _free_form_report(corpus_module, pool)
        _pathological_report(graders, corpus_module, pool)
    finally:
        pool.close()
    if args.batch <= 0:
        return 0

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
