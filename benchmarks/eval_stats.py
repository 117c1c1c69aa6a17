"""Benchmark: every evaluation statistic on 64 runs x 3018 problems (MMLU-STEM size) with 1000 resamples.

Prints our time and ratios against two peers measured in the same run on the same data:
a straightforward per-problem Python loop computing the same statistics, and verl's
`process_validation_metrics` (bootstrap best@N / worst@N / maj@N). Both peers are linear in the
number of problems and slow, so they run on a subset (--peer-problems) and are also extrapolated to
the full set; the ratio on the subset compares equal work directly. Asserts nothing about time.
"""

from __future__ import annotations

import argparse
import math
import time
from collections import Counter
from collections.abc import Callable

import numpy as np

from dissect_lrm.eval.stats import (
    AccuracyHistogram,
    AvgPass1,
    EvalData,
    GPassAtK,
    GreedyFlips,
    MajAtK,
    MaxGap,
    PairedComparison,
    PassAtK,
    RunPlanner,
    TokenStats,
    summarize,
)


def make_model(num_problems: int, num_runs: int, rng: np.random.Generator, shift: float = 0.0) -> EvalData:
    """Synthetic evaluation shaped like Table 4: many certain problems at both ends, some uncertain."""
    kind = rng.choice(3, size=num_problems, p=[0.4, 0.4, 0.2])
    accuracy = np.where(kind == 0, rng.beta(0.3, 6, num_problems), rng.beta(6, 0.3, num_problems))
    accuracy = np.where(kind == 2, rng.uniform(0, 1, num_problems), accuracy)
    accuracy = np.clip(accuracy + shift, 0, 1)
    correct = rng.random((num_problems, num_runs)) < accuracy[:, None]
    # Label 0 is the right answer; wrong runs pick one of five distractors; 2% fail to extract (-1).
    answers = np.where(correct, 0, rng.integers(1, 6, (num_problems, num_runs)))
    answers = np.where(rng.random((num_problems, num_runs)) < 0.02, -1, answers)
    tokens = rng.lognormal(8.5, 0.6, (num_problems, num_runs)).astype(np.int64)
    greedy = rng.random(num_problems) < accuracy
    return EvalData(correct, answers=answers, tokens=tokens, greedy=greedy)


def our_statistics(data: EvalData, baseline: EvalData, resamples: int, seed: int) -> dict:
    metrics = [
        AvgPass1(num_resamples=resamples, seed=seed),
        PassAtK(),
        MajAtK(),
        GPassAtK(),
        AccuracyHistogram(),
        MaxGap(num_draws=resamples, seed=seed),
        GreedyFlips(),
        TokenStats(baseline_tokens=baseline.tokens, max_tokens=32768),
        RunPlanner(),
        PairedComparison(baseline=baseline, num_resamples=resamples, seed=seed),
    ]
    return summarize(data, metrics)


def loop_statistics(data: EvalData, baseline: EvalData, resamples: int, seed: int) -> dict:
    """The same statistics written the straightforward way: a Python loop per problem / per resample."""
    rng = np.random.default_rng(seed)
    correct, other = data.correct.astype(int).tolist(), baseline.correct.astype(int).tolist()
    answers, tokens = data.answers.tolist(), data.tokens
    num_problems, num_runs = data.num_problems, data.num_runs
    result: dict = {}
    accuracy = [sum(row) / num_runs for row in correct]
    result["avg"] = sum(accuracy) / num_problems
    boot = []
    for _ in range(resamples):
        total = 0.0
        for problem in rng.integers(0, num_problems, num_problems):
            runs = rng.integers(0, num_runs, num_runs)
            total += sum(correct[problem][run] for run in runs) / num_runs
        boot.append(total / num_problems)
    result["ci"] = np.quantile(boot, [0.025, 0.975]).tolist()
    result["pass@k"] = {
        k: sum(1 - math.comb(num_runs - sum(row), k) / math.comb(num_runs, k) for row in correct)
        / num_problems
        for k in range(1, num_runs + 1)
    }
    gpass = {}
    for k in (4, 8, 16):
        for tau in (0.25, 0.5, 0.75, 1.0):
            threshold, total = max(1, math.ceil(tau * k)), 0.0
            for row in correct:
                c = sum(row)
                total += sum(
                    math.comb(c, j) * math.comb(num_runs - c, k - j) for j in range(threshold, min(c, k) + 1)
                ) / math.comb(num_runs, k)
            gpass[(k, tau)] = total / num_problems
    result["gpass"] = gpass
    maj = {}
    for k in (1, 2, 4, 8, 16, 32, 64):
        total = 0.0
        for row_answers, row_correct in zip(answers, correct):
            credit = {}
            for answer, mark in zip(row_answers, row_correct):
                credit.setdefault(answer, []).append(mark)
            for _ in range(16 if k < num_runs else 1):
                picked = rng.permutation(num_runs)[:k]
                votes = Counter(row_answers[i] for i in picked if row_answers[i] >= 0)
                if votes:
                    top = max(votes.values())
                    tied = [a for a, v in votes.items() if v == top]
                    total += (
                        sum(sum(credit[a]) / len(credit[a]) for a in tied)
                        / len(tied)
                        / (16 if k < num_runs else 1)
                    )
        maj[k] = total / num_problems
    result["maj"] = maj
    bins = [0] * 5
    for value in accuracy:
        bins[min(int(value * 5 + 1e-9), 4)] += 1
    result["bins"] = bins
    scores = [sum(correct[p][r] for p in range(num_problems)) / num_problems for r in range(num_runs)]
    gaps = {}
    for runs in (1, 2, 4, 8, 16):
        draws = []
        for _ in range(resamples):
            order = rng.permutation(num_runs)
            trial = [sum(scores[i] for i in order[t * runs : (t + 1) * runs]) / runs for t in range(4)]
            draws.append(max(trial) - min(trial))
        gaps[runs] = sum(draws) / resamples
    result["gaps"] = gaps
    result["flips"] = sum((g == 1) != (a >= 0.5) for g, a in zip(data.greedy, accuracy))
    result["tokens"] = float(np.mean([t for row in tokens.tolist() for t in row]))
    difference = result["avg"] - sum(sum(row) / len(row) for row in other) / num_problems
    exceed = 0
    for _ in range(resamples):
        permuted = 0.0
        for row_a, row_b in zip(correct, other):
            pooled = row_a + row_b
            order = rng.permutation(len(pooled))
            permuted += sum(pooled[i] for i in order[:num_runs]) / num_runs
            permuted -= sum(pooled[i] for i in order[num_runs:]) / len(row_b)
        exceed += abs(permuted / num_problems) >= abs(difference)
    result["p_value"] = (1 + exceed) / (1 + resamples)
    return result


def verl_statistics(data: EvalData, baseline: EvalData, resamples: int, seed: int) -> dict:
    from verl.trainer.ppo.metric_utils import process_validation_metrics

    del baseline, resamples  # verl fixes 1000 bootstrap resamples and has no paired test
    uids = [str(p) for p in range(data.num_problems) for _ in range(data.num_runs)]
    infos = {"acc": data.correct.astype(float).ravel().tolist(), "pred": data.answers.ravel().tolist()}
    return process_validation_metrics(["bench"] * len(uids), uids, infos, seed=seed)


def best_time(function: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--problems", type=int, default=3018, help="problems per benchmark (MMLU-STEM: 3018)")
    parser.add_argument("--runs", type=int, default=64, help="runs per problem")
    parser.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples / max-gap draws")
    parser.add_argument("--repeats", type=int, default=3, help="timed repetitions of ours (best is reported)")
    parser.add_argument(
        "--peer-problems", type=int, default=100, help="subset size on which the (slow) peers are timed"
    )
    parser.add_argument(
        "--skip-verl", action="store_true", help="do not time verl's process_validation_metrics"
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of the synthetic data and of every statistic"
    )
    args = parser.parse_args()

    rng = np.random.default_rng(args.seed)
    data = make_model(args.problems, args.runs, rng)
    baseline = make_model(args.problems, args.runs, rng, shift=-0.01)
    ours = best_time(lambda: our_statistics(data, baseline, args.resamples, args.seed), args.repeats)
    print(f"data: {args.problems} problems x {args.runs} runs, {args.resamples} resamples, seed {args.seed}")
    print(f"ours (all statistics, best of {args.repeats}): {ours:.3f} s")

    subset = min(args.peer_problems, args.problems)
    scale = args.problems / subset
    small = EvalData(data.correct[:subset], answers=data.answers[:subset], tokens=data.tokens[:subset],
                     greedy=data.greedy[:subset])  # fmt: skip
    small_baseline = EvalData(baseline.correct[:subset], tokens=baseline.tokens[:subset])
    ours_small = best_time(
        lambda: our_statistics(small, small_baseline, args.resamples, args.seed), args.repeats
    )
    print(f"ours on the {subset}-problem subset: {ours_small:.3f} s")
    peers = [("per-problem Python loop (same statistics)", loop_statistics)]
    if not args.skip_verl:
        peers.append(("verl process_validation_metrics (acc + pred)", verl_statistics))
    for name, function in peers:
        elapsed = best_time(
            lambda function=function: function(small, small_baseline, args.resamples, args.seed), 1
        )
        print(
            f"{name}: {elapsed:.3f} s on {subset} problems -> ratio {elapsed / ours_small:.1f}x same data; "
            f"extrapolated {elapsed * scale:.1f} s for {args.problems} -> ratio {elapsed * scale / ours:.0f}x"
        )


if __name__ == "__main__":
    main()
