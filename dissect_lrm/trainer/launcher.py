"""Run the trainer as a bounded, isolated subprocess and read back what it did.

Used by the demo, the experiment scripts' CPU mode and the e2e tests. The trainer runs

* inside a loopback-only network namespace with its own PID namespace when that can be made
  (``unshare -n -p -f --mount-proc --kill-child``, as root): every Ray listener is 127.0.0.1, no
  packet leaves the host, and every Ray process is reaped when the run ends or times out;
* always under a wall-clock limit; on timeout the result says which phase the run had reached.

This module imports no verl: it only starts processes and parses their output.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from dissect_lrm.trainer.phases import PHASE_PREFIX

# Environment for runs that must never touch the network (tests, the CPU demo).
OFFLINE_ENV = {
    "WANDB_MODE": "disabled",
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "RAY_USAGE_STATS_ENABLED": "0",
    "TOKENIZERS_PARALLELISM": "false",
}


def can_isolate_network() -> bool:
    """True when a private loopback-only network + PID namespace can be created here."""
    if os.geteuid() != 0 or shutil.which("unshare") is None or shutil.which("ip") is None:
        return False
    probe = subprocess.run(
        ["unshare", "-n", "-p", "-f", "--mount-proc", "--kill-child", "true"],
        capture_output=True,
        timeout=30,
    )
    return probe.returncode == 0


def isolated(command: list[str]) -> list[str]:
    """``command`` wrapped to run in a loopback-only network namespace, if one can be made."""
    if not can_isolate_network():
        return command
    return [
        "unshare", "-n", "-p", "-f", "--mount-proc", "--kill-child",
        "bash", "-c", 'ip link set lo up && "$@"; exit $?', "_", *command,
    ]  # fmt: skip


@dataclass
class TrainingRun:
    returncode: int
    output: str
    timed_out: bool
    phases: list[str] = field(default_factory=list)
    metrics: dict[int, dict[str, float]] = field(default_factory=dict)

    @property
    def last_phase(self) -> str:
        return self.phases[-1] if self.phases else "before start"

    def describe_failure(self, tail_lines: int = 60) -> str:
        status = "timed out" if self.timed_out else f"exited with {self.returncode}"
        tail = "\n".join(self.output.splitlines()[-tail_lines:])
        return f"trainer {status} in phase '{self.last_phase}'. Last output:\n{tail}"


def parse_phases(output: str) -> list[str]:
    return [line.split(PHASE_PREFIX, 1)[1].strip() for line in output.splitlines() if PHASE_PREFIX in line]


def read_metrics_jsonl(path: str | Path) -> dict[int, dict[str, float]]:
    """Per-step metrics written by verl's ``file`` logger (one JSON object per logged step)."""
    path = Path(path)
    if not path.is_file():
        return {}
    steps: dict[int, dict[str, float]] = {}
    for line_number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise ValueError(f"{path}:{line_number}: not a JSON metrics record ({error})") from error
        steps.setdefault(int(record["step"]), {}).update(record["data"])
    return steps


def run_training(
    overrides: list[str],
    workdir: str | Path,
    *,
    timeout_s: float = 600,
    extra_env: dict[str, str] | None = None,
    metrics_file: str = "metrics.jsonl",
    echo: bool = False,
    on_line: Callable[[str], object] | None = None,
) -> TrainingRun:
    """Run ``python -m dissect_lrm.trainer.main <overrides>`` in ``workdir``, isolated and bounded.

    Metrics go to ``workdir/metrics_file`` through verl's file logger (add ``file`` to
    ``trainer.logger``); the HF cache stays under ``workdir``; Ray's session files go to a short-lived
    temporary directory, removed afterwards. ``on_line`` sees every output line as it comes (progress).
    """
    workdir = Path(workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    metrics_path = workdir / metrics_file
    env = {
        **os.environ,
        **OFFLINE_ENV,
        "HF_HOME": str(workdir / "hf_home"),
        "VERL_FILE_LOGGER_PATH": str(metrics_path),
        **(extra_env or {}),
    }
    # Ray's session sockets live under its temp dir and AF_UNIX paths are limited to 107 bytes, so
    # the temp dir is a short one under /tmp rather than inside a (possibly deep) workdir.
    ray_dir = tempfile.mkdtemp(prefix="dlrm-ray-", dir="/tmp" if os.path.isdir("/tmp") else None)
    command = isolated(
        [
            sys.executable, "-m", "dissect_lrm.trainer.main", *overrides,
            f"+ray_kwargs.ray_init._temp_dir={ray_dir}",
        ]
    )  # fmt: skip
    try:
        returncode, output, timed_out = run_bounded(
            command, cwd=workdir, env=env, timeout_s=timeout_s, echo=echo, sink=on_line
        )
    finally:
        shutil.rmtree(ray_dir, ignore_errors=True)
    return TrainingRun(
        returncode=returncode,
        output=output,
        timed_out=timed_out,
        phases=parse_phases(output),
        metrics=read_metrics_jsonl(metrics_path),
    )


PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    # Runs in the child before exec: if the caller is killed (even by SIGKILL), the child goes too, so no
    # orphaned trainer keeps writing into a directory a resumed caller is about to use.
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def run_bounded(
    command: list[str],
    *,
    cwd: Path,
    env: dict[str, str],
    timeout_s: float | None,
    echo: bool = False,
    sink: Callable[[str], object] | None = None,
    die_with_parent: bool = False,
) -> tuple[int, str, bool]:
    """Run ``command`` with stdout+stderr captured (optionally echoed and copied to ``sink``, e.g. a log
    file's ``write``) under a hard deadline (none when ``timeout_s`` is falsy).

    Returns ``(returncode, output, timed_out)``. On timeout or an exception the whole process group is
    killed: it runs in a session of its own, so Ray's daemons go too when no PID namespace could be made.
    """
    lines: list[str] = []
    timed_out = False
    with subprocess.Popen(
        command,
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
        start_new_session=True,
        preexec_fn=_die_with_parent if die_with_parent else None,
    ) as process:

        def kill_group() -> None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)

        def watchdog() -> None:
            nonlocal timed_out
            timed_out = True
            kill_group()

        timer = threading.Timer(timeout_s, watchdog) if timeout_s else None
        try:
            if timer is not None:
                timer.start()
            for line in process.stdout:  # type: ignore[union-attr]
                lines.append(line)
                if echo:
                    print(line, end="", flush=True)
                if sink is not None:
                    sink(line)
            returncode = process.wait()
        except BaseException:
            kill_group()
            raise
        finally:
            if timer is not None:
                timer.cancel()
    return returncode, "".join(lines), timed_out
