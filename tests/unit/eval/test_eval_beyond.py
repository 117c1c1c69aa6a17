"""Provenance in the report, per-sample export, users' own benchmarks, the benchmark list."""

from __future__ import annotations

import hashlib
import json

import pandas as pd
import pytest

from dissect_lrm.eval import cli
from dissect_lrm.eval.benchmarks import BenchmarkError, load_benchmark

from .test_eval_trust import backend, bench, eval_argv  # noqa: F401  (backend is a fixture)


def test_summary_records_provenance_and_keeps_every_report(tmp_path, backend):  # noqa: F811
    assert cli.main(eval_argv(tmp_path)) == 0
    for _ in range(2):
        assert cli.main(["stats", "report", str(tmp_path / "out"), "--no-figures", "--resamples", "20"]) == 0
    report = tmp_path / "out" / "report"
    summary = json.loads((report / "summary.json").read_text())
    assert summary["provenance"]["versions"]["numpy"] and summary["provenance"]["python"]
    assert "git_commit" in summary["provenance"] and summary["provenance"]["report_seconds"] >= 0
    [entry] = summary["entries"]
    assert entry["provenance"]["backend"] == "openai" and entry["provenance"]["model_path"] == "served/toy"
    assert entry["provenance"]["timings"]["first_record"] is not None
    assert len(list((report / "history").glob("summary-*.json"))) == 2  # the second report did not overwrite


def test_log_samples_writes_prompt_hash_response_answer_and_verdict(tmp_path, backend):  # noqa: F811
    assert cli.main(eval_argv(tmp_path, "--log-samples")) == 0
    lines = [
        json.loads(line)
        for line in (tmp_path / "out" / "samples" / "m__toy__math.jsonl").read_text().splitlines()
    ]
    assert len(lines) == 16
    first = next(line for line in lines if (line["problem_id"], line["run"]) == ("2", 0))
    expected_messages = [
        {
            "role": "user",
            "content": "What is 2 + 2? Let's think step by step and output the final answer within \\boxed{}.",
        }
    ]
    assert first["messages"] == expected_messages
    digest = hashlib.sha256(
        json.dumps(expected_messages, sort_keys=True, ensure_ascii=False).encode()
    ).hexdigest()[:16]
    assert first["prompt_sha256"] == digest
    assert first["extracted"] in ("4", "5") and first["correct"] == (first["extracted"] == "4")
    assert first["response"].endswith(f"\\boxed{{{first['extracted']}}}") and first["gold"] == ["4"]


def test_a_users_parquet_benchmark_with_a_column_spec(tmp_path):
    path = tmp_path / "mine.parquet"
    pd.DataFrame({"uid": ["a", "b"], "question": ["1+1?", "Pick.\n(A) x\n(B) y"], "final": ["2", "B"]}).iloc[
        :1
    ].to_parquet(path)
    loaded = load_benchmark(f"{path}:problem=question,answer=final,id=uid,name=mine")
    assert loaded.name == "mine" and [(p.id, p.problem, p.answers) for p in loaded.problems] == [
        ("a", "1+1?", ("2",))
    ]
    choice = tmp_path / "choice.parquet"
    pd.DataFrame({"question": ["Pick.\n(A) x\n(B) y"], "final": ["B"]}).to_parquet(choice)
    [problem] = load_benchmark(f"{choice}:problem=question,answer=final,task=multiple_choice").problems
    assert problem.choices == ("A", "B") and problem.answers == ("B",)
    with pytest.raises(BenchmarkError, match="missing column 'prompt'"):
        load_benchmark(f"{path}:problem=prompt,answer=final")
    with pytest.raises(BenchmarkError, match="KEY=VALUE"):
        load_benchmark(f"{path}:question=problem")


def test_stats_benchmarks_lists_the_built_in_names(tmp_path, capsys):
    (tmp_path / "aime.json").write_text("[]")
    assert cli.main(["stats", "benchmarks", "--data-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert (
        "aime24" in out and "gpqa" in out and "multiple_choice" in out and str(tmp_path / "aime.json") in out
    )


def test_report_k_and_tau_lists(tmp_path, backend):  # noqa: F811
    assert cli.main(eval_argv(tmp_path)) == 0
    argv = [
        "stats",
        "report",
        str(tmp_path / "out"),
        "--no-figures",
        "--resamples",
        "20",
        "--ks",
        "2,3,9",
        "--taus",
        "0.5",
    ]
    assert cli.main(argv) == 0
    [entry] = json.loads((tmp_path / "out" / "report" / "summary.json").read_text())["entries"]
    assert set(entry["stats"]["pass@k"]) == {"2", "3"} and set(entry["stats"]["maj@k"]) == {"2", "3"}
    assert set(entry["stats"]["g-pass@k"]) == {"k=2,tau=0.5", "mG-Pass@2", "k=3,tau=0.5", "mG-Pass@3"}
