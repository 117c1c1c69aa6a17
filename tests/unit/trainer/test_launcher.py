"""The bounded, isolated launcher: phases, metrics files, timeouts that really kill."""

from __future__ import annotations

import json
import os
import sys
import time

import psutil
import pytest

from dissect_lrm.trainer.launcher import (
    TrainingRun,
    can_isolate_network,
    isolated,
    parse_phases,
    read_metrics_jsonl,
    run_bounded,
)
from dissect_lrm.trainer.phases import PHASE_PREFIX


def test_parse_phases_keeps_order_and_ignores_other_lines():
    output = f"noise\n(TaskRunner pid=1) {PHASE_PREFIX} workers ready\n{PHASE_PREFIX} step 1\nstep:1 - a:1\n"
    assert parse_phases(output) == ["workers ready", "step 1"]
    run = TrainingRun(returncode=1, output=output, timed_out=True, phases=parse_phases(output))
    assert run.last_phase == "step 1"
    assert "timed out in phase 'step 1'" in run.describe_failure()


def test_read_metrics_jsonl_merges_records_per_step(tmp_path):
    path = tmp_path / "m.jsonl"
    path.write_text(
        json.dumps({"step": 1, "data": {"a": 1.0}})
        + "\n\n"
        + json.dumps({"step": 1, "data": {"b": 2}})
        + "\n"
        + json.dumps({"step": 2, "data": {"a": 3.5}})
        + "\n"
    )
    assert read_metrics_jsonl(path) == {1: {"a": 1.0, "b": 2}, 2: {"a": 3.5}}
    assert read_metrics_jsonl(tmp_path / "absent.jsonl") == {}
    path.write_text('{"step": 1, "data": {}}\n{torn')
    with pytest.raises(ValueError, match=r"m.jsonl:2: not a JSON metrics record"):
        read_metrics_jsonl(path)


def test_isolated_wraps_only_when_a_namespace_can_be_made():
    command = [sys.executable, "-c", "pass"]
    wrapped = isolated(command)
    if can_isolate_network():
        assert wrapped[:2] == ["unshare", "-n"] and wrapped[-len(command) :] == command
    else:
        assert wrapped == command


@pytest.mark.skipif(not can_isolate_network(), reason="cannot create a network namespace here (needs root)")
def test_isolated_command_sees_only_loopback(tmp_path):
    code, output, timed_out = run_bounded(
        isolated(["ip", "-o", "link"]), cwd=tmp_path, env=dict(os.environ), timeout_s=60
    )
    assert code == 0 and not timed_out
    interfaces = [line.split(":")[1].strip() for line in output.splitlines() if line.strip()]
    assert interfaces == ["lo"]


# A process whose parent exits is adopted by PID 1 of the namespace. Python, as PID 1, would never reap
# it: a SIGKILLed raylet would stay a zombie, its PID alive to its workers, which then outlive it.
ORPHAN_THEN_LIST_ZOMBIES = """
import os, pathlib, subprocess, sys, time
subprocess.Popen(["bash", "-c", "sleep 0.2 & exit 0"]).wait()  # the sleep is orphaned, then exits
time.sleep(1.5)
states = [(p / "stat").read_text().rsplit(")", 1)[1].split()[0] for p in pathlib.Path("/proc").iterdir()
          if p.name.isdigit()]
print("pid", os.getpid(), "zombies", states.count("Z"))
"""


@pytest.mark.skipif(not can_isolate_network(), reason="cannot create a network namespace here (needs root)")
def test_isolated_namespace_reaps_orphaned_processes(tmp_path):
    code, output, timed_out = run_bounded(
        isolated([sys.executable, "-c", ORPHAN_THEN_LIST_ZOMBIES]),
        cwd=tmp_path,
        env=dict(os.environ),
        timeout_s=60,
    )
    assert code == 0 and not timed_out, output
    pid, zombies = output.split()[1], output.split()[3]
    assert pid != "1"  # the command is not the namespace's init
    assert zombies == "0", output


def test_timeout_kills_the_whole_process_group(tmp_path):
    marker = tmp_path / "child.pid"
    script = (
        "import subprocess, sys, time\n"
        f"child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        f"open({str(marker)!r}, 'w').write(str(child.pid))\n"
        f"print({PHASE_PREFIX!r} + ' sleeping', flush=True)\n"
        "time.sleep(60)\n"
    )
    code, output, timed_out = run_bounded(
        [sys.executable, "-c", script], cwd=tmp_path, env=dict(os.environ), timeout_s=3
    )
    assert timed_out and code != 0
    assert parse_phases(output) == ["sleeping"]
    child = int(marker.read_text())
    time.sleep(0.5)
    assert not _alive(child)


def _alive(pid: int) -> bool:
    """Running and not a zombie (a killed orphan may wait for a reaper that a container lacks)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
