"""A process pool with a hard per-call deadline: an overrunning worker is killed and replaced.

No signals are used, so it works from any thread, inside asyncio code and inside Ray actors. Workers
are forked from a forkserver that has already imported the graders, so a replacement starts in
milliseconds.
"""

from __future__ import annotations

import atexit
import multiprocessing
import os
import pickle
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any

from dissect_lrm.reward.cascade import cascade_from_env, math_verify_available

DEFAULT_DEADLINE_S = float(os.environ.get("DISSECT_LRM_REWARD_TIMEOUT", "5.0"))
_PRELOAD = ["dissect_lrm.reward.robust", "dissect_lrm.reward.deepscaler", "sympy"]
# A new worker reports ready before its first call, and its deadline starts only then: a forkserver child
# re-runs the parent's main script first (in a Ray actor that is Ray's worker script, about a second of
# imports), which must not eat a call's deadline.
_READY = b"ready"
STARTUP_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class Outcome:
    """Result of one call: ``value`` when ``ok``; ``timed_out`` when the deadline killed the worker."""

    value: Any = None
    ok: bool = False
    timed_out: bool = False
    error: str = ""


def _worker_main(connection: Connection) -> None:
    # Each worker serves calls until the parent closes the pipe (then recv raises EOFError).
    try:
        connection.send_bytes(_READY)
    except (OSError, EOFError, BrokenPipeError):
        return
    while True:
        try:
            payload = connection.recv_bytes()
        except (EOFError, OSError, KeyboardInterrupt):
            return
        try:
            function, args = pickle.loads(payload)
            result = (True, function(*args), "")
        except Exception:  # a grader bug must not kill the worker; report it instead
            result = (False, None, traceback.format_exc(limit=3))
        try:
            connection.send(result)
        except (OSError, EOFError, BrokenPipeError):
            return


class _Worker:
    def __init__(self, context: Any) -> None:
        parent, child = context.Pipe(duplex=True)
        self.process = context.Process(target=_worker_main, args=(child,), daemon=True)
        self.process.start()
        child.close()
        self.connection = parent
        try:
            ready = parent.poll(STARTUP_TIMEOUT_S) and parent.recv_bytes() == _READY
        except (EOFError, OSError):
            ready = False
        if not ready:
            self.kill()
            raise RuntimeError(f"a grading worker did not start within {STARTUP_TIMEOUT_S:.0f} s")

    def kill(self) -> None:
        try:
            self.process.kill()
            self.process.join(timeout=2.0)
        except (OSError, ValueError, AssertionError):
            pass
        self.connection.close()


def default_workers() -> int:
    env = os.environ.get("DISSECT_LRM_REWARD_WORKERS")
    if env:
        return max(1, int(env))
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, 16))


class DeadlinePool:
    """Run picklable module-level functions in worker processes, each call bounded by a deadline."""

    def __init__(self, workers: int | None = None, start_method: str | None = None) -> None:
        self.max_workers = workers if workers is not None else default_workers()
        if self.max_workers < 1:
            raise ValueError(f"workers must be >= 1, got {self.max_workers}")
        method = start_method or (
            "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
        )
        self._context = multiprocessing.get_context(method)
        if method == "forkserver":
            preload = list(_PRELOAD)
            if cascade_from_env() and math_verify_available():  # replacement workers skip its import
                preload.append("math_verify")
            self._context.set_forkserver_preload(preload)
        self._idle: list[_Worker] = []
        self._started = 0
        self._condition = threading.Condition()
        self._closed = False
        self._busy = 0
        self.peak_busy = 0  # most workers running calls at once since the last reset_stats()
        self.calls_by_pid: Counter[int] = Counter()  # completed calls per worker process

    def reset_stats(self) -> None:
        """Zero ``peak_busy`` and ``calls_by_pid`` (they show whether concurrent callers share the pool)."""
        with self._condition:
            self.peak_busy = self._busy
            self.calls_by_pid = Counter()

    # -- worker checkout (thread-safe): a caller owns a worker for the duration of one call
    def _acquire(self, block: bool = True) -> _Worker | None:
        with self._condition:
            while True:
                if self._closed:
                    raise RuntimeError("pool is closed")
                if self._idle:
                    self._mark_busy()
                    return self._idle.pop()
                if self._started < self.max_workers:
                    self._started += 1
                    self._mark_busy()
                    break
                if not block:
                    return None
                self._condition.wait()
        try:
            return _Worker(self._context)
        except BaseException:
            with self._condition:
                self._started -= 1
                self._busy -= 1
                self._condition.notify()
            raise

    def _mark_busy(self) -> None:  # called with the condition held
        self._busy += 1
        self.peak_busy = max(self.peak_busy, self._busy)

    def _release(self, worker: _Worker, healthy: bool) -> None:
        if not healthy:
            worker.kill()
        with self._condition:
            self._busy -= 1
            if healthy and not self._closed:
                self._idle.append(worker)
            else:
                self._started -= 1
                if healthy:
                    worker.kill()
            self._condition.notify()

    def call(
        self, function: Callable[..., Any], args: tuple, deadline_s: float = DEFAULT_DEADLINE_S
    ) -> Outcome:
        """Run ``function(*args)`` in a worker; kill the worker if it is not done in ``deadline_s``."""
        return self.map(function, [args], deadline_s)[0]

    def map(
        self, function: Callable[..., Any], args_list: Sequence[tuple], deadline_s: float = DEFAULT_DEADLINE_S
    ) -> list[Outcome]:
        """Run ``function`` over ``args_list`` in parallel; each call has its own deadline."""
        if deadline_s <= 0:
            raise ValueError(f"deadline_s must be > 0, got {deadline_s}")
        outcomes: list[Outcome | None] = [None] * len(args_list)
        pending = list(range(len(args_list) - 1, -1, -1))  # popped from the end: original order
        running: dict[Connection, tuple[_Worker, int, float]] = {}
        try:
            while pending or running:
                # hand out work: block for a worker only when nothing of ours is running
                while pending:
                    worker = self._acquire(block=not running)
                    if worker is None:
                        break
                    index = pending.pop()
                    try:
                        worker.connection.send((function, args_list[index]))
                    except (OSError, BrokenPipeError):
                        self._release(worker, healthy=False)
                        pending.append(index)  # a dead idle worker: retry on a fresh one
                        continue
                    running[worker.connection] = (worker, index, time.monotonic() + deadline_s)
                if not running:
                    continue
                timeout = max(0.0, min(end for _, _, end in running.values()) - time.monotonic())
                for connection in wait(list(running), timeout=timeout):
                    worker, index, _ = running.pop(connection)
                    try:
                        ok, value, error = connection.recv()
                        outcomes[index] = Outcome(value=value, ok=ok, error=error)
                        with self._condition:
                            self.calls_by_pid[worker.process.pid or 0] += 1
                        self._release(worker, healthy=True)
                    except (EOFError, OSError):  # the worker died (e.g. out of memory)
                        outcomes[index] = Outcome(error="worker died")
                        self._release(worker, healthy=False)
                now = time.monotonic()
                for connection, (worker, index, end) in list(running.items()):
                    if now >= end:
                        del running[connection]
                        outcomes[index] = Outcome(timed_out=True, error=f"deadline {deadline_s}s exceeded")
                        self._release(worker, healthy=False)
        finally:
            for worker, _, _ in running.values():  # interrupted: never leave a busy worker behind
                self._release(worker, healthy=False)
        return [outcome if outcome is not None else Outcome(error="not run") for outcome in outcomes]

    def close(self) -> None:
        with self._condition:
            self._closed = True
            idle, self._idle = self._idle, []
            self._started -= len(idle)
            self._condition.notify_all()
        for worker in idle:
            worker.kill()

    @property
    def worker_pids(self) -> list[int]:
        with self._condition:
            return [worker.process.pid for worker in self._idle if worker.process.pid is not None]


_shared_pool: DeadlinePool | None = None
_shared_lock = threading.Lock()
_shared_pid = 0


def shared_pool() -> DeadlinePool:
    """The process-wide pool, created on first use (never at import) and closed at exit."""
    global _shared_pool, _shared_pid
    with _shared_lock:
        if _shared_pool is None or _shared_pid != os.getpid():  # a forked child gets its own pool
            _shared_pool = DeadlinePool()
            _shared_pid = os.getpid()
            atexit.register(_shared_pool.close)
        return _shared_pool
