"""The openai backend against a real HTTP server on loopback serving the tiny model (retries, error records)."""

from __future__ import annotations

import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from dissect_lrm.eval import cli
from dissect_lrm.eval.backends import GenerationRequest
from dissect_lrm.eval.backends.hf import HFBackend
from dissect_lrm.eval.benchmarks import EvalProblem, load_benchmark, write_benchmark
from dissect_lrm.eval.protocols import derive_seed
from dissect_lrm.eval.store import Store
from dissect_lrm.tiny.task import make_problems

NUM_PROBLEMS, RUNS = 6, 4


class TinyServer:
    """A minimal OpenAI-compatible chat server around HFBackend, with scripted failures by seed.

    always_fail: seeds answered with HTTP 500 every time (must end as error records);
    fail_once: seeds answered with 503 on their first attempt only (must be retried transparently);
    bad_request: seeds answered with 400 (not retried).
    """

    def __init__(self, model_dir: Path) -> None:
        self.backend = HFBackend(str(model_dir), batch_size=1, num_threads=1)
        self.lock = threading.Lock()
        self.always_fail: set[int] = set()
        self.fail_once: set[int] = set()
        self.bad_request: set[int] = set()
        self.attempts: dict[int, int] = {}
        self.bodies: list[dict] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def _send(self, status: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:
                if self.path != "/v1/chat/completions":
                    self._send(404, {"error": "not found"})
                    return
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                seed = body["seed"]
                with server.lock:
                    server.bodies.append(body)
                    server.attempts[seed] = server.attempts.get(seed, 0) + 1
                    first = server.attempts[seed] == 1
                if seed in server.always_fail:
                    self._send(500, {"error": "scripted failure"})
                    return
                if seed in server.bad_request:
                    self._send(400, {"error": "scripted bad request"})
                    return
                if seed in server.fail_once and first:
                    self._send(503, {"error": "scripted overload"})
                    return
                request = GenerationRequest(
                    messages=tuple(body["messages"]), seed=seed, temperature=body["temperature"],
                    top_p=body["top_p"], max_tokens=body["max_tokens"], max_model_len=4096,
                )  # fmt: skip
                with server.lock:  # one model, one request at a time
                    [(_, result)] = list(server.backend.generate([request]))
                self._send(
                    200,
                    {
                        "id": "x",
                        "object": "chat.completion",
                        "model": body["model"],
                        "choices": [
                            {
                                "index": 0,
                                "finish_reason": result.finish_reason,
                                "message": {"role": "assistant", "content": result.response},
                            }
                        ],  # fmt: skip
                        "usage": {
                            "prompt_tokens": result.prompt_tokens,
                            "completion_tokens": result.num_tokens,
                        },
                    },
                )

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def kit(request):
    return request.getfixturevalue(os.environ.get("DISSECT_LRM_EVAL_KIT", "tiny_kit"))


@pytest.fixture()
def server(kit):
    server = TinyServer(kit.model_dir)
    yield server
    server.close()


@pytest.fixture()
def bench(tmp_path) -> Path:
    rows = [
        EvalProblem(p.problem_id, p.question, (p.answer,), "arith")
        for p in make_problems(NUM_PROBLEMS, seed=3)
    ]
    return write_benchmark(rows, tmp_path / "arith.jsonl")


def seed_of(problem: int, run: int) -> int:
    return derive_seed(0, "arith", f"arith-{problem:06d}", run)


def test_openai_backend_end_to_end(server, bench, tmp_path, kit):
    broken, flaky, rejected = seed_of(2, 1), seed_of(4, 0), seed_of(0, 3)
    server.always_fail.add(broken)
    server.fail_once.add(flaky)
    server.bad_request.add(rejected)
    out = tmp_path / "out"
    argv = ["eval", "--backend", "openai", "--base-url", server.url, "--model", "tiny-served", "-b", str(bench),
            "--runs", str(RUNS), "--max-tokens", "16", "--concurrency", "4", "--max-retries", "2",
            "--backoff", "0.01", "--output-dir", str(out), "--no-progress", "--resamples", "50", "--no-figures"]  # fmt: skip
    assert cli.main(argv) == 0
    store_path = Store.path_for(out, "tiny-served", "arith", "math")
    records = Store.read(store_path).records()
    assert len(records) == NUM_PROBLEMS * RUNS
    errors = {key: r for key, r in records.items() if not r.ok}
    assert set(errors) == {("arith-000002", 1), ("arith-000000", 3)}
    assert (
        "HTTP 500" in errors[("arith-000002", 1)].error
        and "after 3 attempts" in errors[("arith-000002", 1)].error
    )
    assert (
        "HTTP 400" in errors[("arith-000000", 3)].error
        and "after 1 attempt" in errors[("arith-000000", 3)].error
    )
    assert all(
        r.correct is None and r.response is None for r in errors.values()
    )  # an error, never a wrong answer
    assert server.attempts[broken] == 3 and server.attempts[rejected] == 1 and server.attempts[flaky] == 2
    assert records[("arith-000004", 0)].ok  # the 503 was retried away
    # The request carried the protocol and the per-(problem, run) seed.
    body = next(b for b in server.bodies if b["seed"] == seed_of(1, 2))
    assert (body["temperature"], body["top_p"], body["max_tokens"], body["model"]) == (
        0.6,
        0.95,
        16,
        "tiny-served",
    )
    assert body["messages"][0]["content"].endswith("within \\boxed{}.")
    # The served sample is the model's sample for that seed (same decoding as the hf backend).
    problem = load_benchmark(bench).problems[1]
    direct = HFBackend(str(kit.model_dir), batch_size=1, num_threads=1)
    request = GenerationRequest(({"role": "user", "content": body["messages"][0]["content"]},), seed_of(1, 2),
                                0.6, 0.95, 16, 4096)  # fmt: skip
    [(_, expected)] = list(direct.generate([request]))
    assert records[(problem.id, 2)].response == expected.response
    summary = json.loads((out / "report" / "summary.json").read_text())
    assert summary["entries"][0]["errors"] == 2
    assert (
        "| 2 (1) | 0 |" in (out / "report" / "summary.md").read_text()
    )  # errors 2 (1 deterministic), missing 0

    # Resume once the server is healthy: only the two failed pairs are requested again.
    server.always_fail.clear()
    server.bad_request.clear()
    before = len(server.bodies)
    assert cli.main(argv) == 0
    assert sorted(b["seed"] for b in server.bodies[before:]) == sorted([broken, rejected])
    store = Store.read(store_path)
    assert all(r.ok for r in store.records().values()) and len(store.all_records) == NUM_PROBLEMS * RUNS + 2


def test_unreachable_server_gives_error_records(bench, tmp_path):
    out = tmp_path / "out"
    argv = ["eval", "--backend", "openai", "--base-url", "http://127.0.0.1:9/v1", "--model", "m", "-b", str(bench),
            "--runs", "1", "--max-retries", "1", "--backoff", "0.01", "--output-dir", str(out), "--no-progress",
            "--no-report", "--limit", "2"]  # fmt: skip
    assert cli.main(argv) == 0
    records = Store.read(Store.path_for(out, "m", "arith", "math")).records()
    assert len(records) == 2 and all(r.error and "ConnectError" in r.error for r in records.values())
