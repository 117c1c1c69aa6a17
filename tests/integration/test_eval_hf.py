"""End to end on CPU with the hf backend and the tiny model: full eval + report, SIGKILL mid-run, resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dissect_lrm.eval import cli
from dissect_lrm.eval.benchmarks import EvalProblem, write_benchmark
from dissect_lrm.eval.store import Store, comparable, find_stores
from dissect_lrm.tiny.task import make_problems

REPO = Path(__file__).resolve().parents[2]
NUM_PROBLEMS, RUNS = 12, 8


@pytest.fixture(scope="module")
def kit(request):
    """tiny_kit by default (built in seconds); DISSECT_LRM_EVAL_KIT=warm_tiny_kit uses the warm-started model
    (about a minute more to build) so that some answers are right."""
    return request.getfixturevalue(os.environ.get("DISSECT_LRM_EVAL_KIT", "tiny_kit"))


@pytest.fixture(scope="module")
def arith(tmp_path_factory) -> Path:
    problems = make_problems(NUM_PROBLEMS, seed=7)
    rows = [EvalProblem(p.problem_id, p.question, (p.answer,), "arith") for p in problems]
    return write_benchmark(rows, tmp_path_factory.mktemp("bench") / "arith.jsonl")


def eval_argv(model_dir: Path, bench: Path, out: Path, *extra: str) -> list[str]:
    return ["eval", "--model", str(model_dir), "--model-name", "tiny", "-b", str(bench), "--runs", str(RUNS),
            "--max-tokens", "20", "--batch-size", "8", "--threads", "1", "--batch-records", "4", "--output-dir", str(out),
            "--no-progress", "--resamples", "100", *extra]  # fmt: skip


def records_by_key(path: Path) -> dict:
    return {key: comparable(record) for key, record in Store.read(path).records().items()}


@pytest.fixture(scope="module")
def reference(kit, arith, tmp_path_factory) -> Path:
    """An uninterrupted run, with the report."""
    out = tmp_path_factory.mktemp("reference")
    assert cli.main(eval_argv(kit.model_dir, arith, out)) == 0
    return out


def test_full_eval_writes_graded_records_and_report(kit, reference):
    [store_path] = find_stores(reference)
    assert store_path == Store.path_for(reference, "tiny", "arith", "math")
    store = Store.read(store_path)
    records = store.records()
    assert len(records) == len(store.all_records) == NUM_PROBLEMS * RUNS
    assert all(r.ok and r.num_tokens and r.finish_reason in ("stop", "length") for r in records.values())
    correct = [r.correct for r in records.values()]
    if os.environ.get("DISSECT_LRM_EVAL_KIT") == "warm_tiny_kit":
        assert 0 < sum(correct) < len(correct)  # the warm model is right sometimes
    for record in records.values():  # correctness is exactly the training reward's verdict
        from dissect_lrm.reward import compute_score

        problem = next(p for p in make_problems(NUM_PROBLEMS, seed=7) if p.problem_id == record.problem_id)
        assert record.correct == bool(compute_score("arith", record.response, problem.answer)["score"])
    assert len({r.seed for r in records.values()}) == NUM_PROBLEMS * RUNS
    summary = json.loads((reference / "report" / "summary.json").read_text())
    [entry] = summary["entries"]
    mean = sum(correct) / len(correct)
    assert entry["stats"]["avg_pass@1"]["mean"] == pytest.approx(mean)
    assert entry["stats"]["num_runs"] == RUNS and entry["errors"] == 0
    assert f"{100 * mean:.2f} ±" in (reference / "report" / "summary.md").read_text()
    assert (reference / "report" / "summary.csv").read_text().startswith("model,benchmark,protocol,")
    figures = sorted(p.name for p in (reference / "report" / "figures").iterdir())
    assert figures == ["hist_tiny_arith_math.png", "spread_arith_math.png"]


def test_sigkill_then_resume_equals_uninterrupted(kit, arith, reference, tmp_path):
    out = tmp_path / "killed"
    store_path = Store.path_for(out, "tiny", "arith", "math")
    # Batches of 2 instead of 8: slower to finish (room to kill) and shows samples do not depend on batching.
    argv = eval_argv(kit.model_dir, arith, out, "--no-report", "--batch-size", "2")
    process = subprocess.Popen(
        [sys.executable, "-m", "dissect_lrm.eval.cli", *argv], cwd=REPO,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(REPO)},
    )  # fmt: skip
    try:
        # Kill once a few batches are stored, well before the 96 samples are done.
        while process.poll() is None:
            if store_path.exists() and store_path.read_text().count("\n") >= 1 + 8:
                break
            time.sleep(0.02)
        assert process.poll() is None, process.stderr.read().decode()[-2000:]
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
        process.stderr.close()
    assert process.returncode == -signal.SIGKILL
    partial = Store.read(store_path).records()
    assert 8 <= len(partial) < NUM_PROBLEMS * RUNS
    # Simulate the worst moment of a kill too: a half-written last line.
    with store_path.open("ab") as handle:
        handle.write(b'{"kind": "record", "problem_id": "arith-0000')
    with pytest.warns(UserWarning, match="torn"):
        assert cli.main(argv) == 0
    resumed = Store.read(store_path)
    assert len(resumed.all_records) == NUM_PROBLEMS * RUNS  # nothing redone, nothing duplicated
    for key, record in partial.items():  # records written before the kill were kept as they were
        assert comparable(resumed.records()[key]) == comparable(record)
    reference_records = records_by_key(Store.path_for(reference, "tiny", "arith", "math"))
    assert records_by_key(store_path) == reference_records
    # Resuming a finished store with another protocol under the same name is refused.
    with pytest.raises(Exception, match="written differently.*protocol temperature"):
        cli.main(eval_argv(kit.model_dir, arith, out, "--temperature", "0.9", "--debug"))
