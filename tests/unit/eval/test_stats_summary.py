"""Composable metrics and summarize(): defaults per available inputs, JSON output, custom metrics."""

import json
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pytest

from dissect_lrm.eval.stats import (
    AccuracyHistogram,
    AvgPass1,
    EvalData,
    GPassAtK,
    MajAtK,
    Metric,
    PairedComparison,
    PassAtK,
    RunPlanner,
    g_pass_at_k,
    summarize,
    to_jsonable,
)


def make_data(num_problems: int = 20, num_runs: int = 8, seed: int = 0, **extra: Any) -> EvalData:
    rng = np.random.default_rng(seed)
    accuracy = rng.uniform(0, 1, num_problems)
    correct = rng.random((num_problems, num_runs)) < accuracy[:, None]
    return EvalData(correct, **extra)


def test_summary_of_a_bare_matrix_is_strict_json():
    data = make_data()
    report = summarize(data)
    text = json.dumps(report, allow_nan=False)
    assert set(report) == {
        "num_problems", "num_runs", "complete", "avg_pass@1", "pass@k", "g-pass@k",
        "accuracy_histogram", "planner", "max_gap",
    }  # fmt: skip
    assert json.loads(text)["pass@k"]["1"] == pytest.approx(data.correct.mean())
    assert report["max_gap"].keys() == {"1", "2"}  # 4 trials of 1 or 2 runs fit in 8 stored runs


def test_optional_metrics_appear_with_their_inputs():
    base = make_data(num_problems=6, num_runs=4)
    answers = np.where(base.correct, "42", "0")
    data = EvalData(base.correct, answers=answers, tokens=np.full((6, 4), 100), greedy=base.correct[:, 0])
    report = summarize(data)
    assert {"maj@k", "tokens", "greedy_flips"} <= set(report)
    assert report["maj@k"]["4"] == pytest.approx(
        np.mean(base.correct.mean(axis=1) > 0.5) + 0.5 * np.mean(base.correct.mean(axis=1) == 0.5)
    )


def test_masked_data_keeps_run_level_metrics_and_maj_needs_answers():
    correct = np.array([[1.0, 0.0, np.nan], [1.0, 1.0, 0.0]])
    data = EvalData(correct, mask=~np.isnan(correct))
    report = summarize(data)
    assert report["complete"] is False and "max_gap" in report
    assert report["avg_pass@1"]["std_over_runs"] is not None
    with pytest.raises(ValueError, match="answers"):
        MajAtK().compute(data)


def test_gpass_metric_agrees_with_the_function():
    data = make_data(num_runs=16)
    report = GPassAtK(ks=(8,), taus=(0.5,)).compute(data)
    num_correct, num_samples = data.counts
    assert report["k=8,tau=0.5"] == pytest.approx(g_pass_at_k(num_correct, num_samples, 8, 0.5).mean())
    assert set(GPassAtK().compute(data)) >= {"k=4,tau=1", "k=16,tau=0.25", "mG-Pass@16"}


def test_a_report_is_a_list_of_metrics_including_custom_ones():
    @dataclass(frozen=True)
    class SolvedCount:
        name: ClassVar[str] = "solved"

        def compute(self, data: EvalData) -> dict[str, Any]:
            return {"count": np.int64((data.accuracy > 0).sum())}

    data = make_data()
    metrics = [AvgPass1(num_resamples=100), PassAtK(ks=(1, 8)), AccuracyHistogram(), SolvedCount()]
    assert all(isinstance(metric, Metric) for metric in metrics)
    report = summarize(data, metrics)
    assert list(report)[3:] == ["avg_pass@1", "pass@k", "accuracy_histogram", "solved"]
    assert report["solved"]["count"] == int((data.accuracy > 0).sum())
    assert list(report["pass@k"]) == ["1", "8"]
    with pytest.raises(ValueError, match="unique"):
        summarize(data, [PassAtK(), PassAtK(ks=(1,))])


def test_paired_and_planner_metrics():
    data = make_data(seed=1)
    baseline = make_data(seed=2)
    report = summarize(
        data, [PairedComparison(baseline=baseline, num_permutations=500), RunPlanner(runs_list=(4, 8))]
    )
    pair = report["paired_comparison"]
    assert pair["difference"] == pytest.approx(data.correct.mean() - baseline.correct.mean())
    assert [row["runs"] for row in report["planner"]["plan"]] == [4, 8]
    assert 0 <= report["planner"]["variance_share_uncertain"] <= 1


def test_evaldata_validates_shapes_and_to_jsonable():
    with pytest.raises(ValueError, match="tokens"):
        EvalData(np.ones((2, 3)), tokens=np.ones((2, 2)))
    with pytest.raises(ValueError, match="greedy"):
        EvalData(np.ones((2, 3)), greedy=np.ones(3))
    assert to_jsonable({1: (np.float32(0.5), np.array([np.nan, 2]))}) == {"1": [0.5, [None, 2.0]]}
