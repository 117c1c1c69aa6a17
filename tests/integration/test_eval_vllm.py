"""The offline vLLM backend on a real GPU: complete stores, reproducible seeds, n-per-prompt mode."""

from __future__ import annotations

import pytest

from dissect_lrm.eval import cli
from dissect_lrm.eval.benchmarks import EvalProblem, write_benchmark
from dissect_lrm.eval.store import Store, comparable
from dissect_lrm.tiny.task import make_problems

pytestmark = pytest.mark.gpu


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    rows = [EvalProblem(p.problem_id, p.question, (p.answer,), "arith") for p in make_problems(6, seed=11)]
    return write_benchmark(rows, tmp_path_factory.mktemp("bench") / "arith.jsonl")


def argv(kit, bench, out, *extra):
    return ["eval", "--backend", "vllm", "--model", str(kit.model_dir), "--model-name", "tiny", "-b", str(bench),
            "--runs", "4", "--max-tokens", "16", "--max-model-len", "2048", "--gpu-memory-utilization", "0.3",
            "--enforce-eager", "--dtype", "float32", "--output-dir", str(out), "--no-progress", "--no-figures", *extra]  # fmt: skip


def test_vllm_backend_is_complete_and_reproducible(warm_tiny_kit, bench, tmp_path):
    pytest.importorskip("vllm")
    assert cli.main(argv(warm_tiny_kit, bench, tmp_path / "a")) == 0
    first = Store.read(Store.path_for(tmp_path / "a", "tiny", "arith", "math")).records()
    assert len(first) == 24 and all(r.ok and r.finish_reason in ("stop", "length") for r in first.values())
    assert cli.main(argv(warm_tiny_kit, bench, tmp_path / "b")) == 0
    second = Store.read(Store.path_for(tmp_path / "b", "tiny", "arith", "math")).records()
    assert {k: comparable(r)["response"] for k, r in first.items()} == {
        k: comparable(r)["response"] for k, r in second.items()
    }


def test_vllm_n_per_prompt_records_group_seeds(warm_tiny_kit, bench, tmp_path):
    pytest.importorskip("vllm")
    assert cli.main(argv(warm_tiny_kit, bench, tmp_path, "--n-per-prompt")) == 0
    records = Store.read(Store.path_for(tmp_path, "tiny", "arith", "math")).records()
    for problem_id in {key[0] for key in records}:
        seeds = {records[(problem_id, run)].seed for run in range(4)}
        assert len(seeds) == 1  # one request with n=4, its seed recorded on every sample
