"""Ctrl-C on the openai backend against a server that never answers some requests: stop, keep results."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from dissect_lrm.eval.benchmarks import EvalProblem, write_benchmark
from dissect_lrm.eval.store import Store

REPO = Path(__file__).resolve().parents[2]
NUM_PROBLEMS, RUNS = 4, 2


class HalfHungServer:
    """Answers problems with an even number at once; requests for odd ones hang until release()."""

    def __init__(self) -> None:
        self.release_event = threading.Event()
        self.lock = threading.Lock()
        self.answered = 0
        self.hanging = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                number = int(body["messages"][-1]["content"].split()[2])
                if number % 2:
                    with server.lock:
                        server.hanging += 1
                    server.release_event.wait(120)  # a hung model server
                    return
                data = json.dumps({
                    "choices": [{"index": 0, "finish_reason": "stop",
                                 "message": {"role": "assistant", "content": f"ok</think>\\boxed{{{2 * number}}}"}}],
                    "usage": {"prompt_tokens": 5, "completion_tokens": 3},
                }).encode()  # fmt: skip
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                with server.lock:
                    server.answered += 1

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.release_event.set()
        self.httpd.shutdown()
        self.httpd.server_close()


def test_ctrl_c_stops_at_once_and_keeps_completed_results(tmp_path):
    problems = [EvalProblem(str(i), f"What is {i} + {i}?", (str(2 * i),), "toy") for i in range(NUM_PROBLEMS)]
    bench = write_benchmark(problems, tmp_path / "toy.jsonl")
    server = HalfHungServer()
    env = {**os.environ, "PYTHONPATH": str(REPO), "DISSECT_LRM_REWARD_POOL": "0"}
    command = [sys.executable, "-m", "dissect_lrm.eval.cli", "eval", "--model", "served", "--backend", "openai",
               "--base-url", server.url, "-b", str(bench), "--runs", str(RUNS), "--output-dir", str(tmp_path / "out"),
               "--no-report", "--no-progress", "--concurrency", "16", "--batch-records", "1000"]  # fmt: skip
    # A terminal's Ctrl-C reaches a process whose SIGINT is at its default; a child inherits an ignored
    # SIGINT from its parent (e.g. a suite started in the background by a non-interactive shell), so
    # restore the default.
    process = subprocess.Popen(
        command,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        expected_fast = RUNS * len([i for i in range(NUM_PROBLEMS) if i % 2 == 0])
        expected_hung = RUNS * NUM_PROBLEMS - expected_fast
        # Until every fast request is answered and every slow one is hanging (bounded generously: on a
        # loaded 2-core machine the client's start-up alone can take tens of seconds).
        for _ in range(6000):
            with server.lock:
                ready = server.answered == expected_fast and server.hanging == expected_hung
            if ready:
                break
            assert process.poll() is None, process.communicate()
            time.sleep(0.05)
        assert ready, f"the client never reached the half-hung state: {server.answered=} {server.hanging=}"
        time.sleep(0.5)  # let the client take in the last answers
        process.send_signal(signal.SIGINT)
        # A thread pool would wait for the hung requests (default timeout: an hour): bounded here.
        _, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
        server.close()
    assert process.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    records = Store.read(tmp_path / "out" / "served" / "toy" / "math.jsonl").records()
    assert sorted(records) == sorted((str(i), r) for i in range(0, NUM_PROBLEMS, 2) for r in range(RUNS))
    assert all(record.ok and record.correct for record in records.values())
