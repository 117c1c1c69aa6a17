"""Pieces of the CPU demo that do not need a training run: benchmark file, table, figure."""

from __future__ import annotations

import json

import matplotlib.image as mpimg

from dissect_lrm.demo import format_table, plot, write_heldout_benchmark
from dissect_lrm.eval.benchmarks import load_benchmark
from dissect_lrm.tiny.task import make_problems


def _results():
    return {
        "0_before": {
            "avg_pass1": {"mean": 0.25, "ci": {"low": 0.2, "high": 0.3}},
            "pass_at_k": {"4": 0.5},
            "problems_x_runs": [64, 8],
            "errors": 0,
        },
        "grpo_both": {
            "avg_pass1": {"mean": 0.4, "ci": {"low": 0.35, "high": 0.45}},
            "pass_at_k": {"4": 0.7},
            "problems_x_runs": [64, 8],
            "errors": 1,
        },
    }


def test_heldout_benchmark_loads_in_the_eval_schema(tmp_path):
    problems = make_problems(5, seed=777)
    path = write_heldout_benchmark(tmp_path / "b.jsonl", problems)
    benchmark = load_benchmark(path)
    assert [p.answers for p in benchmark.problems] == [(p.answer,) for p in problems]
    assert json.loads(path.read_text().splitlines()[0])["problem"] == problems[0].question


def test_table_lists_every_model_in_order():
    table = format_table(_results(), ["0_before", "grpo_both"])
    lines = table.splitlines()
    assert lines[2].startswith("| 0_before | 0.250 | [0.200, 0.300] | 0.500 | 64x8 | 0 |")
    assert lines[3].startswith("| grpo_both | 0.400 | [0.350, 0.450] | 0.700 | 64x8 | 1 |")


def test_figure_is_a_non_empty_png(tmp_path):
    path = plot(_results(), ["0_before", "grpo_both"], tmp_path / "fig.png")
    image = mpimg.imread(path)
    assert image.shape[0] > 100 and image.shape[1] > 100
    assert image[..., :3].std() > 0  # not a blank canvas
