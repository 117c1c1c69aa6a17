"""Runner and report on a scripted backend: grading, error records, resume, dry run, tables and figures."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest

from dissect_lrm.eval import cli
from dissect_lrm.eval.backends import GenerationRequest, GenerationResult
from dissect_lrm.eval.benchmarks import Benchmark, EvalProblem, write_benchmark
from dissect_lrm.eval.grading import data_source_for
from dissect_lrm.eval.protocols import EvalConfig, Protocol
from dissect_lrm.eval.report import build_report, store_view
from dissect_lrm.eval.runner import format_plan, plan_eval, run_eval
from dissect_lrm.eval.store import Store

MATH = Benchmark(
    "toy",
    tuple(EvalProblem(str(i), f"What is {i} + {i}?", (str(2 * i),), "toy") for i in range(4)),
)
CHOICE = Benchmark(
    "gpqa",
    (EvalProblem("q", "Pick one.\n(A) red\n(B) blue\n(C) green", ("B",), "gpqa", ("A", "B", "C")),),
)
# The scripted model: problem i is right in run r iff r < i (so accuracies 0, 1/4, 2/4, 3/4 with 4 runs).
RIGHT = {(str(i), r): r < i for i in range(4) for r in range(4)}


class ScriptedBackend:
    name = "scripted"

    def __init__(self, fail: set[tuple[str, int]] = frozenset()) -> None:
        self.fail = fail
        self.calls: list[GenerationRequest] = []

    def generate(self, requests):
        for index, request in enumerate(requests):
            self.calls.append(request)
            text = request.messages[0]["content"]
            if "Pick one" in text:
                yield index, GenerationResult("hmm\n</think>\nIt is \\boxed{B}", 7, 10, "stop", 0.01)
                continue
            i = int(text.split()[2])
            run = request.seed % 1000  # the tests' seed map below puts the run in the seed
            if (str(i), run) in self.fail:
                yield index, GenerationResult.failure("HTTP 500: boom (after 3 attempts)", 0.01)
                continue
            answer = 2 * i if RIGHT.get((str(i), run), False) else 2 * i + 1
            yield index, GenerationResult(f"{i}+{i}\n</think>\n\\boxed{{{answer}}}", 5 + i, 10, "stop", 0.01)

    def close(self) -> None:
        pass


@pytest.fixture(autouse=True)
def seed_is_run(monkeypatch):
    """Make request seeds readable by the scripted backend (run number in the low digits)."""
    import dissect_lrm.eval.runner as runner

    monkeypatch.setattr(runner, "derive_seed", lambda base, bench, pid, run: 1000 * int(pid == "q") + run)


def config(tmp_path, runs=4, benchmarks=(MATH,)) -> EvalConfig:
    return EvalConfig(model="toy-model", benchmarks=benchmarks, protocols=(Protocol(runs=runs),),
                      output_dir=str(tmp_path), batch_records=3)  # fmt: skip


def test_grading_errors_and_resume(tmp_path):
    failing = {("2", 1), ("3", 3)}
    backend = ScriptedBackend(fail=failing)
    [result] = run_eval(config(tmp_path), backend=backend, progress=False)
    assert (result["generated"], result["errors"]) == (16, 2)
    store = Store.read(result["store"])
    records = store.records()
    for key, right in RIGHT.items():
        if key in failing:
            assert records[key].error and records[key].correct is None and records[key].response is None
        else:
            assert records[key].correct is right and records[key].extracted == str(
                2 * int(key[0]) + (not right)
            )
    # Resume: only the two failed pairs are requested again, then everything is graded.
    retry = ScriptedBackend()
    [again] = run_eval(config(tmp_path), backend=retry, progress=False)
    assert sorted((int(r.messages[0]["content"].split()[2]), r.seed) for r in retry.calls) == [(2, 1), (3, 3)]
    assert again["generated"] == 2 and again["already_done"] == 14
    assert all(r.ok for r in Store.read(result["store"]).records().values())
    # A finished store needs no backend at all.
    [done] = run_eval(config(tmp_path), backend=None, progress=False)
    assert done["generated"] == 0


def test_multiple_choice_goes_through_the_same_pipeline(tmp_path):
    [result] = run_eval(
        config(tmp_path, runs=2, benchmarks=(CHOICE,)), backend=ScriptedBackend(), progress=False
    )
    records = Store.read(result["store"]).records()
    assert [r.extracted for r in records.values()] == ["B", "B"] and all(r.correct for r in records.values())
    assert data_source_for("gpqa", CHOICE.problems[0]) == "multiple_choice/gpqa"
    assert data_source_for("mmlu_math", MATH.problems[0]) == "math"  # never routed to letters by name


def test_dry_run_plan(tmp_path):
    cfg = config(tmp_path)
    run_eval(cfg, backend=ScriptedBackend(fail={("1", 0)}), progress=False)
    [plan] = plan_eval(cfg)
    assert (plan.total, plan.done, plan.missing) == (16, 15, [(1, 0)])
    text = format_plan(cfg, [plan])
    assert "toy" in text and "What is 0 + 0?" in text and "1 requests" in text
    bigger = EvalConfig(**{**cfg.__dict__, "protocols": (Protocol(runs=4, temperature=0.7),)})
    assert "cannot resume" in format_plan(bigger, plan_eval(bigger))


def test_report_tables_figures_and_masking(tmp_path):
    run_eval(config(tmp_path, runs=8), backend=ScriptedBackend(fail={("3", 3)}), progress=False)
    # greedy store for the same model and benchmark: attaches greedy flips to the sampled protocol
    greedy_cfg = EvalConfig(model="toy-model", benchmarks=(MATH,), output_dir=str(tmp_path),
                            protocols=(Protocol(name="greedy", temperature=0.0, top_p=1.0, runs=1),))  # fmt: skip
    run_eval(greedy_cfg, backend=ScriptedBackend(), progress=False)
    report = build_report(tmp_path, num_resamples=200)
    summary = json.loads((tmp_path / "report" / "summary.json").read_text())
    entry = next(e for e in summary["entries"] if e["protocol"] == "math")
    # Hand computation: runs 0-3 follow RIGHT, runs 4-7 are all wrong.
    view = store_view(Store.read(entry["store"]))
    expected = np.array([[int(r < i) if r < 4 else 0 for r in range(8)] for i in range(4)], dtype=float)
    mask = np.ones((4, 8), dtype=bool)
    mask[3, 3] = False
    assert np.array_equal(view.data.mask, mask)
    accuracy = [(expected[i][mask[i]]).mean() for i in range(4)]  # the failed run is masked, not wrong
    assert entry["stats"]["avg_pass@1"]["mean"] == pytest.approx(np.mean(accuracy))
    assert entry["errors"] == 1 and entry["missing"] == 0
    assert "greedy_flips" in entry["stats"]
    md = (tmp_path / "report" / "summary.md").read_text()
    assert f"{100 * np.mean(accuracy):.2f} ±" in md and "| toy-model | toy | math |" in md
    rows = list(csv.DictReader(io.StringIO((tmp_path / "report" / "summary.csv").read_text())))
    math_row = next(r for r in rows if r["protocol"] == "math")
    assert (
        float(math_row["avg_pass@1"]) == pytest.approx(100 * np.mean(accuracy)) and math_row["errors"] == "1"
    )
    assert len(report["figures"]) >= 2
    for figure in report["figures"]:
        assert Path(figure).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_stats_commands(tmp_path, capsys):
    run_eval(config(tmp_path / "a", runs=8), backend=ScriptedBackend(), progress=False)
    run_eval(
        config(tmp_path / "b", runs=8), backend=ScriptedBackend(fail={("1", 0), ("2", 0)}), progress=False
    )
    store_a = Store.path_for(tmp_path / "a", "toy-model", "toy", "math")
    store_b = Store.path_for(tmp_path / "b", "toy-model", "toy", "math")
    assert cli.main(["stats", "report", str(tmp_path / "a"), "--resamples", "100", "--no-figures"]) == 0
    assert "| toy-model | toy | math |" in capsys.readouterr().out
    assert cli.main(["stats", "compare", str(store_a), str(store_b), "--resamples", "100"]) == 0
    comparison = json.loads(capsys.readouterr().out)
    assert comparison["shared_problems"] == 4 and comparison["difference"] != 0  # errors masked in B
    assert cli.main(["stats", "plan", str(store_a), "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert [row["runs"] for row in plan["plan"]] == [1, 4, 8, 16, 32, 64, 128]
    assert cli.main(["stats", "report", str(tmp_path / "empty")]) == 1


def test_cli_eval_dry_run_and_help(tmp_path, capsys):
    path = write_benchmark(MATH.problems, tmp_path / "toy.jsonl")
    assert cli.main(["eval", "--model", "some/served-model", "--backend", "openai", "-b", str(path), "--protocol", "n1",
                     "--noise-shots", "2", "--dry-run", "--output-dir", str(tmp_path / "out")]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert "protocol n1" in out and "noise N1 x2" in out and "<BEGIN IGNORE>" in out and "64 requests" in out
    assert not (tmp_path / "out").exists()  # nothing generated or written
    for argv in (["eval", "--help"], ["stats", "--help"], ["stats", "compare", "--help"]):
        with pytest.raises(SystemExit):
            cli.main(argv)
        assert "usage:" in capsys.readouterr().out
