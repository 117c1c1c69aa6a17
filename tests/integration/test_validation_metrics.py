"""Validation stability metrics use the evaluation framework's statistics (hand-computed case)."""

from __future__ import annotations

import pytest

from dissect_lrm.trainer.trainer import validation_stability_metrics


def test_avg_and_uncertain_ratio_per_source():
    sources = ["aime"] * 8 + ["amc"] * 4
    uids = ["p1"] * 4 + ["p2"] * 4 + ["q1"] * 2 + ["q2"] * 2
    acc = [1, 1, 0, 0] + [1, 1, 1, 1] + [0, 0] + [1, 0]
    metrics = validation_stability_metrics(sources, uids, acc)
    # aime: p1 = 0.5 (uncertain), p2 = 1.0 -> avg 0.75, uncertain 1/2, all-correct 1/2
    assert metrics["dissect-val/aime/avg@4"] == pytest.approx(0.75)
    assert metrics["dissect-val/aime/uncertain_ratio"] == pytest.approx(0.5)
    assert metrics["dissect-val/aime/all_correct_ratio"] == pytest.approx(0.5)
    assert metrics["dissect-val/aime/all_wrong_ratio"] == 0.0
    # amc: q1 = 0, q2 = 0.5 -> avg 0.25
    assert metrics["dissect-val/amc/avg@2"] == pytest.approx(0.25)
    assert metrics["dissect-val/amc/all_wrong_ratio"] == pytest.approx(0.5)
    assert metrics["dissect-val/amc/num_problems"] == 2


def test_failed_samples_without_acc_are_left_out():
    metrics = validation_stability_metrics(["s", "s", "s"], ["a", "a", "b"], [1.0, None, 0.0])
    assert metrics["dissect-val/s/avg@1"] == pytest.approx(0.5)
