"""One failed request must not remove a statistic: every estimator works on each problem's own runs."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from dissect_lrm.eval.stats import EvalData, GPassAtK, summarize

# 3 problems x 4 runs; problem 1 lost run 2 to a failed request (n_1 = 3).
CORRECT = np.array([[1, 1, 0, 1], [0, 1, -1, 1], [0, 0, 0, 1]], dtype=float)
MASK = CORRECT >= 0
ANSWERS = np.array([["4", "4", "5", "4"], ["2", "3", None, "3"], ["1", "1", "1", "9"]], dtype=object)


def data() -> EvalData:
    return EvalData(np.where(MASK, CORRECT, np.nan), mask=MASK, answers=ANSWERS)


def test_one_failed_run_keeps_std_pass_at_n_maj_and_max_gap():
    report = summarize(data())
    avg = report["avg_pass@1"]
    # run scores with the missing run filled by problem 1's accuracy (2/3), by hand:
    runs = [(1 + 0 + 0) / 3, (1 + 1 + 0) / 3, (0 + 2 / 3 + 0) / 3, (1 + 1 + 1) / 3]
    assert avg["std_over_runs"] == pytest.approx(np.std(runs, ddof=1))
    # pass@k up to the fewest observed runs (3): unbiased estimator per problem with its own n_i
    expected_pass3 = np.mean(
        [1 - math.comb(1, 3) / math.comb(4, 3), 1 - 0 / 1, 1 - math.comb(3, 3) / math.comb(4, 3)]
    )
    assert report["pass@k"]["3"] == pytest.approx(expected_pass3)
    assert "max_gap" in report and "maj@k" in report

    # maj@3 by enumeration of the 3-subsets of each problem's observed runs
    def maj(answers, correct, k):
        total = []
        for subset in itertools.combinations(range(len(answers)), k):
            votes = {}
            for i in subset:
                if answers[i] is not None:
                    votes[answers[i]] = votes.get(answers[i], 0) + 1
            top = max(votes.values())
            tied = [a for a, v in votes.items() if v == top]
            total.append(np.mean([np.mean([c for a, c in zip(answers, correct) if a == t]) for t in tied]))
        return np.mean(total)

    expected = np.mean([maj(list(ANSWERS[i][MASK[i]]), list(CORRECT[i][MASK[i]]), 3) for i in range(3)])
    assert report["maj@k"]["3"] == pytest.approx(expected, abs=1e-12)


def test_gpass_metric_class_equals_mg_pass_by_enumeration():
    """mG-Pass@k = (2/k) sum_{i = ceil(k/2)+1}^{k} G-Pass@k_{i/k}, computed over every k-subset."""
    rng = np.random.default_rng(3)
    correct = rng.random((5, 6)) < rng.uniform(0.1, 0.9, (5, 1))
    k = 4
    report = GPassAtK(ks=(k,), taus=(0.5,)).compute(EvalData(correct))

    def g_pass(row, threshold):
        subsets = list(itertools.combinations(row, k))
        return np.mean([sum(subset) >= threshold for subset in subsets])

    mg = np.mean(
        [(2 / k) * sum(g_pass(row, i) for i in range(math.ceil(k / 2) + 1, k + 1)) for row in correct]
    )
    assert report[f"mG-Pass@{k}"] == pytest.approx(mg, abs=1e-12)
    assert report["k=4,tau=0.5"] == pytest.approx(np.mean([g_pass(row, 2) for row in correct]), abs=1e-12)
