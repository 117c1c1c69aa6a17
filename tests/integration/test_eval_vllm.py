"""The vllm backend for real on vLLM's CPU build: complete stores, reproducible seeds, n-per-prompt mode,
SIGKILL + resume, vLLM's OpenAI-compatible server behind the openai backend, and hf/vllm/openai agreement.

One in-process engine serves the whole module (the CLI's backend factory is pointed at it).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dissect_lrm.eval import cli, runner
from dissect_lrm.eval.backends import create_backend
from dissect_lrm.eval.benchmarks import EvalProblem, write_benchmark
from dissect_lrm.eval.store import Store, comparable
from dissect_lrm.tiny.task import make_problems
from dissect_lrm.trainer.launcher import isolated

pytest.importorskip("vllm", reason="vLLM's CPU build is installed by scripts/setup_env.sh")

REPO = Path(__file__).resolve().parents[2]
NUM_PROBLEMS, RUNS, MAX_TOKENS = 6, 4, 24
ENGINE = {"dtype": "float32", "max_model_len": 1024}


@pytest.fixture(scope="module")
def kit(warm_tiny_kit):
    return warm_tiny_kit  # boxed answers, some right: extracted answers are worth comparing


@pytest.fixture(scope="module")
def bench(tmp_path_factory) -> Path:
    rows = [
        EvalProblem(p.problem_id, p.question, (p.answer,), "arith")
        for p in make_problems(NUM_PROBLEMS, seed=11)
    ]
    return write_benchmark(rows, tmp_path_factory.mktemp("bench") / "arith.jsonl")


class SharedEngine:
    """The module's one backend, handed to each CLI run; closing it is the fixture's job."""

    def __init__(self, backend) -> None:
        self.backend = backend
        self.built_with: list[dict] = []

    def factory(self, name: str, model: str, **options):
        if name != "vllm":  # the other backends of the agreement check are built as usual
            return create_backend(name, model, **options)
        assert model == self.backend.model
        self.built_with.append(options)
        self.backend.n_per_prompt = bool(options.get("n_per_prompt"))
        return self

    def __getattr__(self, name):
        return getattr(self.backend, name)

    def close(self) -> None:
        return None


@pytest.fixture(scope="module")
def engine(kit):
    from dissect_lrm.eval.backends.vllm import VLLMBackend

    backend = VLLMBackend(str(kit.model_dir), **ENGINE)
    yield SharedEngine(backend)
    backend.close()


@pytest.fixture()
def shared(engine, monkeypatch):
    monkeypatch.setattr(runner, "create_backend", engine.factory)
    return engine


def argv(kit, bench, out, *extra, backend="vllm") -> list[str]:
    return ["eval", "--backend", backend, "--model", str(kit.model_dir), "--model-name", "tiny", "-b", str(bench),
            "--runs", str(RUNS), "--max-tokens", str(MAX_TOKENS), "--max-model-len", str(ENGINE["max_model_len"]),
            "--dtype", "float32", "--output-dir", str(out), "--no-progress", "--no-report", *extra]  # fmt: skip


def records(out: Path) -> dict:
    return {
        key: comparable(r)
        for key, r in Store.read(Store.path_for(out, "tiny", "arith", "math")).records().items()
    }


@pytest.fixture(scope="module")
def reference(kit, bench, engine, tmp_path_factory) -> Path:
    """An uninterrupted sampled run (one request per (problem, run), each with its own seed)."""
    out = tmp_path_factory.mktemp("reference")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(runner, "create_backend", engine.factory)
        assert cli.main(argv(kit, bench, out, "--chunk-size", "8")) == 0
    return out


def test_vllm_backend_is_complete_and_reproducible(kit, bench, shared, reference, tmp_path):
    first = records(reference)
    assert len(first) == NUM_PROBLEMS * RUNS
    assert all(r["error"] is None and r["finish_reason"] in ("stop", "length") for r in first.values())
    assert all(0 < r["num_tokens"] <= MAX_TOKENS for r in first.values())
    assert len({r["seed"] for r in first.values()}) == NUM_PROBLEMS * RUNS  # one recorded seed per sample
    assert len({r["response"] for r in first.values()}) > NUM_PROBLEMS  # sampled, not one answer per prompt
    from dissect_lrm.reward import compute_score

    answers = {p.problem_id: p.answer for p in make_problems(NUM_PROBLEMS, seed=11)}
    for r in first.values():  # correctness is the training reward's verdict on what vLLM returned
        assert r["correct"] == bool(compute_score("arith", r["response"], answers[r["problem_id"]])["score"])
    # The same seeds give the same records, whatever the chunking.
    assert cli.main(argv(kit, bench, tmp_path, "--chunk-size", "5")) == 0
    assert records(tmp_path) == first
    assert shared.built_with[-1]["dtype"] == "float32"


def test_n_per_prompt_samples_n_per_request_and_records_group_seeds(kit, bench, shared, reference, tmp_path):
    assert cli.main(argv(kit, bench, tmp_path / "a", "--n-per-prompt")) == 0
    grouped = records(tmp_path / "a")
    assert len(grouped) == NUM_PROBLEMS * RUNS
    distinct = []
    for problem_id in {key[0] for key in grouped}:
        group = [grouped[(problem_id, run)] for run in range(RUNS)]
        assert len({r["seed"] for r in group}) == 1  # one request with n=RUNS; its seed on every sample
        distinct.append(len({r["response"] for r in group}))
        assert group[0]["seed"] == records(reference)[(problem_id, 0)]["seed"]  # the first run's seed
    # n sampled responses, not one repeated (a confident model may draw the same answer n times for a
    # problem, not for every problem).
    assert max(distinct) > 1, distinct
    assert cli.main(argv(kit, bench, tmp_path / "b", "--n-per-prompt")) == 0
    assert records(tmp_path / "b") == grouped


def test_sigkill_then_resume_equals_uninterrupted(kit, bench, shared, reference, tmp_path):
    out = tmp_path / "killed"
    store_path = Store.path_for(out, "tiny", "arith", "math")
    args = argv(kit, bench, out, "--chunk-size", "2", "--batch-records", "2")
    process = subprocess.Popen(
        [sys.executable, "-m", "dissect_lrm.eval.cli", *args], cwd=REPO,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(REPO)},
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 600
        while process.poll() is None and time.monotonic() < deadline:
            if store_path.exists() and store_path.read_text().count("\n") >= 1 + 4:
                break
            time.sleep(0.05)
        assert process.poll() is None, process.stderr.read().decode()[-3000:]
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
        process.stderr.close()
    partial = Store.read(store_path).records()
    assert 4 <= len(partial) < NUM_PROBLEMS * RUNS
    assert cli.main(args) == 0  # resumed in this process, on the module's engine
    resumed = Store.read(store_path)
    assert len(resumed.all_records) == NUM_PROBLEMS * RUNS  # nothing redone, nothing duplicated
    assert records(out) == records(reference)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


SERVE_AND_EVAL = r"""
import subprocess, sys, time, urllib.request
port, model, eval_argv = sys.argv[1], sys.argv[2], sys.argv[3:]
server = subprocess.Popen([sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", model,
    "--served-model-name", "tiny", "--host", "127.0.0.1", "--port", port, "--dtype", "float32",
    "--enforce-eager", "--max-model-len", "1024", "--seed", "0"],
    stdout=subprocess.DEVNULL, stderr=open(eval_argv[eval_argv.index("--output-dir") + 1] + ".server.log", "w"))
try:
    for _ in range(1200):
        if server.poll() is not None:
            sys.exit(f"vLLM's server exited with {server.returncode}")
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2)
            break
        except OSError:
            time.sleep(0.25)
    from dissect_lrm.eval import cli
    code = cli.main(eval_argv)
finally:
    server.terminate()
    server.wait(timeout=60)
sys.exit(code)
"""


def extracted(out: Path) -> dict:
    return {key: r["extracted"] for key, r in records(out).items()}


def test_openai_backend_on_vllm_server_and_greedy_agreement(kit, bench, shared, tmp_path):
    """vLLM's OpenAI-compatible server on 127.0.0.1 (a loopback-only namespace where possible) drives the
    openai backend; on a greedy protocol hf, vllm and openai records agree on the extracted answers."""
    greedy = ("--temperature", "0", "--runs", "1")
    port = free_port()
    out_openai = tmp_path / "openai"
    openai_argv = argv(kit, bench, out_openai, *greedy, "--concurrency", "4", backend="openai")
    openai_argv += ["--base-url", f"http://127.0.0.1:{port}/v1", "--served-model-name", "tiny"]
    served = subprocess.run(
        isolated([sys.executable, "-c", SERVE_AND_EVAL, str(port), str(kit.model_dir), *openai_argv]),
        cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    log = Path(f"{out_openai}.server.log")
    assert served.returncode == 0, served.stderr[-3000:] + (log.read_text()[-3000:] if log.exists() else "")
    by_openai = records(out_openai)
    assert len(by_openai) == NUM_PROBLEMS and all(
        r["error"] is None and r["num_tokens"] for r in by_openai.values()
    )

    assert cli.main(argv(kit, bench, tmp_path / "vllm", *greedy)) == 0
    assert cli.main(argv(kit, bench, tmp_path / "hf", *greedy, "--threads", "1", backend="hf")) == 0
    answers = {name: extracted(tmp_path / name) for name in ("hf", "vllm", "openai")}
    assert sum(a is not None for a in answers["hf"].values()) >= NUM_PROBLEMS // 2  # answers worth comparing
    keys = sorted(answers["hf"])
    agree = sum(answers["hf"][k] == answers["vllm"][k] == answers["openai"][k] for k in keys)
    print(f"greedy extracted-answer agreement hf/vllm/openai: {agree}/{len(keys)}")
    # Same weights, same greedy decoding: only a float near-tie could flip one token (fp32 kernels differ).
    assert agree >= len(keys) - 1, answers
    assert answers["vllm"] == answers["openai"]  # the same engine code behind both
