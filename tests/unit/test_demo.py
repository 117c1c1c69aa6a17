"""Pieces of the CPU demo that do not need a training run: splits, benchmark files, curves, figure, CLI."""

from __future__ import annotations

import json
import math

from PIL import Image

from dissect_lrm.cli import build_parser
from dissect_lrm.demo import (
    QUICK,
    all_problems,
    plot,
    split_problems,
    step_series,
    warm_start_corpus,
    write_heldout_benchmark,
)
from dissect_lrm.demo_report import Comparison
from dissect_lrm.eval.benchmarks import load_benchmark


def test_every_problem_once_with_its_answer():
    problems = all_problems()
    assert len(problems) == 10 * 2 * 10
    assert len({p.question for p in problems}) == 200
    by_question = {p.question: p.answer for p in problems}
    assert by_question["What is 7 + 8?"] == "15"
    assert by_question["What is 3 - 9?"] == "-6"
    assert by_question["What is 0 - 0?"] == "0"


def test_warm_start_corpus_mixes_careful_and_hasty_solutions():
    """Graded by the training reward itself: careful solutions are right and show the working, hasty ones
    box a wrong answer at once; the careful share is binomial around the setting."""
    from dissect_lrm.reward.compute_score import compute_score
    from dissect_lrm.tiny.task import DATA_SOURCE, make_problems

    problems = make_problems(2000, seed=3)
    corpus = warm_start_corpus(problems, careful_share=0.35, seed=1)
    assert [c.question for c in corpus] == [p.question for p in problems]
    careful = 0
    for problem, entry in zip(problems, corpus, strict=True):
        acc = compute_score(DATA_SOURCE, entry.solution, problem.answer)["acc"]
        if entry.solution == problem.solution:
            careful += 1
            assert acc == 1.0
        else:
            assert entry.solution.startswith("</think>"), entry.solution  # no working before the answer
            assert acc == 0.0, entry.solution
            guess = int(entry.solution.split("{")[1].rstrip("}"))
            assert 1 <= abs(guess - int(problem.answer)) <= 3
    sd = math.sqrt(2000 * 0.35 * 0.65)
    assert abs(careful - 700) < 4 * sd, careful
    assert warm_start_corpus(problems, 0.35, seed=1) == corpus  # seeded
    assert all(c == p for c, p in zip(warm_start_corpus(problems, 1.0), problems, strict=True))


def test_heldout_is_a_seeded_draw_of_harder_problems_disjoint_from_training():
    heldout, train = split_problems(all_problems(), heldout_count=64)
    # Enumerated by hand: a + b < 10 has 55 pairs of digits, a - b >= 0 another 55; the other 90 need a
    # carry or give a negative result.
    one_char = [
        (a, op, b)
        for a in range(10)
        for b in range(10)
        for op in "+-"
        if 0 <= (a + b if op == "+" else a - b) <= 9
    ]
    assert len(one_char) == 110
    assert sorted(p.question for p in train) == sorted(f"What is {a} {op} {b}?" for a, op, b in one_char)
    assert len(heldout) == 64 and len({p.problem_id for p in heldout}) == 64
    assert not {p.problem_id for p in heldout} & {p.problem_id for p in train}
    for problem in heldout:
        a, op, b = problem.question.removeprefix("What is ").rstrip("?").split()
        result = int(a) + int(b) if op == "+" else int(a) - int(b)
        assert result >= 10 or result < 0, problem.question
    again, _ = split_problems(all_problems(), heldout_count=64)
    assert [p.problem_id for p in again] == [p.problem_id for p in heldout]
    other, _ = split_problems(all_problems(), heldout_count=64, seed=1)
    assert [p.problem_id for p in other] != [p.problem_id for p in heldout]


def test_heldout_benchmark_loads_in_the_eval_schema(tmp_path):
    problems = all_problems()[:5]
    path = write_heldout_benchmark(tmp_path / "b.jsonl", problems)
    benchmark = load_benchmark(path)
    assert [p.answers for p in benchmark.problems] == [(p.answer,) for p in problems]
    assert json.loads(path.read_text().splitlines()[0])["problem"] == problems[0].question


def _metrics(filtered: bool):
    records = {}
    for step, (correct, all_right, all_wrong) in enumerate([(5, 0.25, 0.5), (9, 0.5, 0.125)], start=1):
        record = {
            "dissect/acc/mean": correct / 16,
            "actor/entropy": 1.0 / step,
            "response_length/mean": 10.0 + step,
            "dissect/groups/all_correct_frac": all_right,
            "dissect/groups/all_wrong_frac": all_wrong,
            "dissect/samples/correct": correct,
            "dissect/samples/total": 16,
        }
        if filtered:  # a pos-only run: the filter logged what it kept
            record.update(
                {"dissect/filter/kept_pos_samples": correct, "dissect/filter/kept_neg_samples": 0.0}
            )
        records[step] = record
    return records


def test_step_series_reads_the_logged_metrics():
    series = step_series(_metrics(filtered=True))
    assert series["step"] == [1.0, 2.0]
    assert series["training accuracy"] == [5 / 16, 9 / 16]
    assert series["policy entropy"] == [1.0, 0.5]
    assert series["mean response length (tokens)"] == [11.0, 12.0]
    assert series["zero-advantage groups (share)"] == [0.75, 0.625]
    assert series["kept positive samples"] == [5.0, 9.0]
    assert series["kept negative samples"] == [0.0, 0.0]


def test_step_series_of_a_run_without_filter_keeps_every_sample():
    series = step_series(_metrics(filtered=False))
    assert series["kept positive samples"] == [5.0, 9.0]
    assert series["kept negative samples"] == [11.0, 7.0]


def test_step_series_marks_a_missing_metric_as_nan():
    records = _metrics(filtered=True)
    del records[2]["actor/entropy"]
    assert math.isnan(step_series(records)["policy entropy"][1])


def _row(name, mean):
    return {
        "name": name,
        "heldout_pass1": mean,
        "heldout_ci": (mean - 0.1, mean + 0.1),
        "pass_at_k": {1: mean, 2: mean + 0.1, 3: mean + 0.15, 4: mean + 0.2},
        "train_pass1": mean + 0.05,
        "vs_before": None if name == "before" else Comparison(0.1, 0.0, 0.2, p=0.05),
    }


def test_figure_is_a_png_with_all_panels_and_one_colour_per_mode(tmp_path):
    rows = [_row("before", 0.3), _row("GRPO both", 0.4), _row("GRPO neg", 0.35), _row("GRPO pos", 0.45)]
    series = {mode: step_series(_metrics(filtered=mode != "both")) for mode in ("both", "neg", "pos")}
    path = plot(rows, series, tmp_path / "fig.png")
    image = Image.open(path)
    assert image.info["Legend"] == "before, both, neg, pos"
    assert len(image.info["Panels"].split(" | ")) == 8
    pixels = image.convert("RGB")
    colours = set(pixels.getdata())
    # The four mode colours (before grey, both blue, neg red, pos green) are all drawn.
    for rgb in [(0x7F, 0x7F, 0x7F), (0x1F, 0x77, 0xB4), (0xD6, 0x27, 0x28), (0x2C, 0xA0, 0x2C)]:
        assert rgb in colours, rgb


def test_quick_option_picks_small_sizes_and_explicit_options_win(monkeypatch):
    captured = {}
    monkeypatch.setattr(
        "dissect_lrm.demo.run_demo", lambda settings: captured.setdefault("s", settings) and 0
    )
    args = build_parser().parse_args(["demo", "--quick", "--steps", "3", "--output-dir", "x"])
    args.func(args)
    settings = captured["s"]
    assert settings.steps == 3  # given explicitly
    assert settings.eval_runs == QUICK["eval_runs"] and settings.warm_start_steps == QUICK["warm_start_steps"]
    args = build_parser().parse_args(["demo", "--output-dir", "x"])
    captured.clear()
    args.func(args)
    assert captured["s"].steps == 15 and captured["s"].eval_runs == 8  # the defaults --help states
    assert captured["s"].warm_start_steps == 600
