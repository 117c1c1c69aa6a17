"""Evaluation edges where a wrong conclusion would go unnoticed: pairing, failed problems, provenance, CLI."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from dissect_lrm.eval import cli
from dissect_lrm.eval.backends import GenerationResult
from dissect_lrm.eval.benchmarks import EvalProblem, write_benchmark
from dissect_lrm.eval.store import Store

PROBLEMS = tuple(EvalProblem(str(i), f"What is {i} + {i}?", (str(2 * i),), "toy") for i in range(4))


class SeedBackend:
    """Scripted model: right iff the request seed is even; `fail` maps problem index -> error text."""

    name = "scripted"

    def __init__(self, fail: dict[int, str] | None = None, fail_runs: set[tuple[int, int]] = frozenset()):
        self.fail = fail or {}
        self.fail_runs = fail_runs
        self.requests = []
        self.count = 0

    def generate(self, requests):
        for index, request in enumerate(requests):
            self.requests.append(request)
            i = int(request.messages[-1]["content"].split()[2])
            self.count += 1
            if i in self.fail or (i, self.count) in self.fail_runs:
                yield (
                    index,
                    GenerationResult.failure(self.fail.get(i, "HTTP 503: busy (after 6 attempts)"), 0.0),
                )
                continue
            answer = 2 * i if request.seed % 2 == 0 else 2 * i + 1
            yield index, GenerationResult(f"ok\n</think>\n\\boxed{{{answer}}}", 5, 10, "stop", 0.0)

    def close(self):
        pass


@pytest.fixture
def backend(monkeypatch):
    """Every backend the CLI creates is this scripted one (the name on the command line is still recorded)."""
    import dissect_lrm.eval.runner as runner

    holder = {"backend": SeedBackend()}
    monkeypatch.setattr(runner, "create_backend", lambda name, model, **options: holder["backend"])
    return holder


def bench(tmp_path: Path, name: str = "toy", problems=PROBLEMS) -> str:
    return str(write_benchmark(problems, tmp_path / f"{name}.jsonl"))


def eval_argv(tmp_path: Path, *extra: str, benchmark: str | None = None) -> list[str]:
    return ["eval", "--model", "served/toy", "--model-name", "m", "--backend", "openai", "-b",
            benchmark or bench(tmp_path), "--runs", "4", "--output-dir", str(tmp_path / "out"), "--no-report",
            "--no-progress", *extra]  # fmt: skip


def reference_seed(base: int, benchmark: str, problem_id: str, run: int) -> int:
    """The documented seed derivation, written out independently of the code under test."""
    digest = hashlib.sha256(f"{base}\x1f{benchmark}\x1f{problem_id}\x1f{run}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


# ------------------------------------------------------------------------------------- 1: pairing


def test_compare_refuses_stores_of_different_benchmarks(tmp_path, backend, capsys):
    other = tuple(EvalProblem(str(i), f"What is {i} + {i}?", (str(2 * i + 1),), "toy") for i in range(4))
    assert cli.main(eval_argv(tmp_path, benchmark=bench(tmp_path, "amc23"))) == 0
    assert cli.main(eval_argv(tmp_path, benchmark=bench(tmp_path, "aime24", other))) == 0
    out = tmp_path / "out" / "m"
    capsys.readouterr()
    code = cli.main(
        ["stats", "compare", str(out / "amc23" / "math.jsonl"), str(out / "aime24" / "math.jsonl")]
    )
    captured = capsys.readouterr()
    assert code != 0 and "shared_problems" not in captured.out
    assert "different benchmarks" in captured.err and captured.err.count("\n") == 1


def test_compare_refuses_different_protocols_and_pairs_by_problem_id(tmp_path, backend, capsys):
    assert cli.main(eval_argv(tmp_path)) == 0
    assert cli.main(eval_argv(tmp_path, "--protocol", "8k")) == 0
    out = tmp_path / "out" / "m" / "toy"
    capsys.readouterr()
    assert cli.main(["stats", "compare", str(out / "math.jsonl"), str(out / "8k.jsonl")]) != 0
    assert "different protocols" in capsys.readouterr().err
    assert cli.main(["stats", "compare", str(out / "math.jsonl"), str(out / "8k.jsonl"),
                     "--allow-different-protocols"]) == 0  # fmt: skip
    result = json.loads(capsys.readouterr().out)
    assert result["shared_problems"] == 4


# ------------------------------------------------------------------------- 4: problems with no result


def test_problems_whose_every_run_failed_stay_in_the_tables(tmp_path, backend, capsys):
    backend["backend"] = SeedBackend(
        fail={3: "HTTP 400: maximum context length is 10 tokens (after 1 attempt)"}
    )
    assert cli.main(eval_argv(tmp_path)) == 0
    err = capsys.readouterr().err
    assert "deterministic" in err and "run the same command again" not in err
    assert cli.main(["stats", "report", str(tmp_path / "out"), "--no-figures", "--resamples", "50"]) == 0
    summary = json.loads((tmp_path / "out" / "report" / "summary.json").read_text())
    [entry] = summary["entries"]
    assert entry["problems_without_result"] == 1 and entry["problems"] == 4
    assert entry["failures"] == {"deterministic": 4, "transient": 0}
    seeds_even = [np.mean([reference_seed(0, "toy", str(i), r) % 2 == 0 for r in range(4)]) for i in range(4)]
    assert entry["stats"]["avg_pass@1"]["mean"] == pytest.approx(np.mean(seeds_even[:3]))
    # the conservative score counts the problem without any result as wrong, over all 4 problems
    assert entry["conservative_avg_pass@1"] == pytest.approx(sum(seeds_even[:3]) / 4)
    md = (tmp_path / "out" / "report" / "summary.md").read_text()
    row = next(line for line in md.splitlines() if line.startswith("| m |"))
    cells = [cell.strip() for cell in row.strip("|").split("|")]
    assert cells[3] == "4" and "1" in cells[4]  # problems, and the problem without result next to it
    assert f"{100 * sum(seeds_even[:3]) / 4:.2f}" in row


def test_transient_failures_suggest_a_retry(tmp_path, backend, capsys):
    backend["backend"] = SeedBackend(fail={2: "HTTP 503: overloaded (after 6 attempts)"})
    assert cli.main(eval_argv(tmp_path)) == 0
    err = capsys.readouterr().err
    assert "transient" in err and "run the same command again" in err


# ------------------------------------------------------------------------------- 7: store identity


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        (["--backend", "hf"], "backend"),
        (["--top-k", "20"], "top_k"),
        (["--system-prompt", "Be brief."], "system_prompt"),
    ],
)
def test_resume_refuses_a_different_backend_or_option_naming_it(tmp_path, backend, capsys, extra, named):
    assert cli.main(eval_argv(tmp_path)) == 0
    capsys.readouterr()
    argv = eval_argv(tmp_path, *extra)
    if extra[0] == "--backend":  # the hf backend needs a local model: give it one that exists
        model_dir = tmp_path / "model"
        model_dir.mkdir()
        (model_dir / "config.json").write_text("{}")
        argv[argv.index("served/toy")] = str(model_dir)
    assert cli.main(argv) != 0
    err = capsys.readouterr().err
    assert named in err and err.count("\n") == 1


def test_store_header_records_provenance(tmp_path, backend):
    assert cli.main(eval_argv(tmp_path, "--dtype", "float16")) == 0
    header = Store.read(tmp_path / "out" / "m" / "toy" / "math.jsonl").header
    assert header["backend"] == "openai" and header["model_path"] == "served/toy"
    assert header["generation"]["dtype"] == "float16"
    assert "dissect-lrm" in header["versions"] and "chat_template_sha256" in header


# ------------------------------------------------------------------------------- 8: user errors


def test_missing_model_is_one_line_and_leaves_nothing(tmp_path, capsys):
    argv = ["eval", "--model", str(tmp_path / "no-such-model"), "-b", bench(tmp_path), "--output-dir",
            str(tmp_path / "out"), "--no-progress"]  # fmt: skip
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert "no-such-model" in err and err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "out").exists()
    assert cli.main([*argv, "--dry-run"]) == 2
    with pytest.raises(FileNotFoundError):
        cli.main([*argv, "--debug"])


def test_limit_must_be_positive(tmp_path, capsys):
    with pytest.raises(SystemExit) as raised:
        cli.main(eval_argv(tmp_path, "--limit", "-1"))
    assert raised.value.code == 2 and "--limit" in capsys.readouterr().err


def test_a_corrupt_store_is_reported_and_skipped(tmp_path, backend, capsys):
    assert cli.main(eval_argv(tmp_path)) == 0
    assert cli.main(eval_argv(tmp_path, benchmark=bench(tmp_path, "other"))) == 0
    broken = tmp_path / "out" / "m" / "other" / "math.jsonl"
    lines = broken.read_text().splitlines(keepends=True)
    broken.write_text("".join(lines[:2] + ["{not json\n"] + lines[2:]))
    capsys.readouterr()
    assert cli.main(["stats", "report", str(tmp_path / "out"), "--no-figures", "--resamples", "50"]) == 0
    captured = capsys.readouterr()
    assert "other/math.jsonl" in captured.err and "skipped" in captured.err
    summary = json.loads((tmp_path / "out" / "report" / "summary.json").read_text())
    assert [e["benchmark"] for e in summary["entries"]] == ["toy"]
    assert summary["skipped"][0]["store"].endswith("other/math.jsonl")


# ---------------------------------------------------------------------- 9: options that must arrive


def test_seed_reaches_every_request(tmp_path, backend):
    assert cli.main(eval_argv(tmp_path, "--seed", "1234")) == 0
    seeds = sorted(request.seed for request in backend["backend"].requests)
    expected = sorted(reference_seed(1234, "toy", str(i), r) for i in range(4) for r in range(4))
    assert seeds == expected and expected != sorted(reference_seed(0, "toy", str(i), r) for i in range(4) for r in range(4))  # fmt: skip


def test_no_retry_errors_is_honoured(tmp_path, backend):
    backend["backend"] = SeedBackend(fail={1: "HTTP 503: busy (after 6 attempts)"})
    assert cli.main(eval_argv(tmp_path)) == 0
    backend["backend"] = SeedBackend()
    assert cli.main(eval_argv(tmp_path, "--no-retry-errors")) == 0
    assert backend["backend"].requests == []
    assert cli.main(eval_argv(tmp_path)) == 0
    assert sorted(r.seed for r in backend["backend"].requests) == sorted(reference_seed(0, "toy", "1", r) for r in range(4))  # fmt: skip


# ------------------------------------------------------------------ 3: votes by the grader's classes


class HalfBackend:
    """Seven runs of one problem: four spellings of 1/2 (right) against three 7s (wrong)."""

    name = "scripted"
    ANSWERS = ("\\frac{1}{2}", "1/2", "0.5", "\\dfrac12", "7", "7", "7")

    def generate(self, requests):
        for index in range(len(requests)):
            answer = self.ANSWERS[index % len(self.ANSWERS)]
            yield index, GenerationResult(f"ok\n</think>\n\\boxed{{{answer}}}", 5, 10, "stop", 0.0)

    def close(self):
        pass


def test_maj_at_k_votes_over_the_graders_equivalence_classes(tmp_path, backend):
    backend["backend"] = HalfBackend()
    half = (EvalProblem("h", "What is one half?", ("\\frac{1}{2}",), "toy"),)
    argv = eval_argv(tmp_path, benchmark=bench(tmp_path, "half", half))
    argv[argv.index("--runs") + 1] = "7"
    assert cli.main(argv) == 0
    assert cli.main(["stats", "report", str(tmp_path / "out"), "--no-figures", "--resamples", "20"]) == 0
    [entry] = json.loads((tmp_path / "out" / "report" / "summary.json").read_text())["entries"]
    assert entry["stats"]["avg_pass@1"]["mean"] == pytest.approx(4 / 7)
    assert entry["stats"]["maj@k"]["7"] == 1.0  # the four equivalent answers outvote the three 7s


def test_a_backend_that_cannot_start_leaves_no_store(tmp_path, monkeypatch, capsys):
    import dissect_lrm.eval.runner as runner

    def refuse(name, model, **options):
        raise ValueError("tensor_parallel_size 3 does not divide the 2 visible GPUs")

    monkeypatch.setattr(runner, "create_backend", refuse)
    assert cli.main(eval_argv(tmp_path)) == 2
    assert "does not divide" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
