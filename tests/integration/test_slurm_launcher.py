"""scripts/slurm/train.sbatch run under a fake SLURM: stub srun/scontrol/hostname/ray/python on PATH
record every command (with the node it ran on), so the launcher's logic is exercised on CPU."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SBATCH = ROOT / "scripts" / "slurm" / "train.sbatch"

STUBS = {
    # srun [--opt=..]... -w NODE [--opt]... CMD...: log, then run CMD "on" NODE.
    "srun": """
node=""
while [[ $# -gt 0 ]]; do
  case "$1" in -w) node="$2"; shift 2 ;; -*) shift ;; *) break ;; esac
done
echo "srun@$node $*" >>"$STUB_LOG"
STUB_NODE="$node" exec "$@"
""",
    "scontrol": 'echo "scontrol $*" >>"$STUB_LOG"; [[ "$1 $2" == "show hostnames" ]] && tr "," "\\n" <<<"$STUB_NODES"',
    "hostname": 'echo "10.0.0.${STUB_NODE#node} fe80::1"',
    # A blocking `ray start` stays up until the launcher kills its step.
    "ray": """
echo "ray@$STUB_NODE $* auth=$RAY_AUTH_MODE:${RAY_AUTH_TOKEN:-}" >>"$STUB_LOG"
[[ "$1" == get-auth-token ]] && echo f00d
[[ " $* " == *" --block "* ]] && exec sleep 30
exit 0
""",
    # `cluster wait --nodes N` returns once N raylets have started, as the real barrier does (the
    # workers' `srun ... ray start` run in the background and may log after the launcher moves on).
    "python": """
echo "python@$STUB_NODE $*" >>"$STUB_LOG"
if [[ " $* " =~ " wait --nodes "([0-9]+) ]]; then
  for _ in $(seq 200); do
    (( $(grep -c '^ray@.* start ' "$STUB_LOG") >= BASH_REMATCH[1] )) && exit 0
    sleep 0.1
  done
  exit 1
fi
""",
}
EXPERIMENT = """#!/usr/bin/env bash
echo "experiment@$STUB_NODE auth=$RAY_AUTH_MODE:$RAY_AUTH_TOKEN NNODES=$NNODES N_GPUS_PER_NODE=$N_GPUS_PER_NODE RAY_ADDRESS=$RAY_ADDRESS $*" >>"$STUB_LOG"
exit 3
"""


@pytest.fixture(scope="module")
def launch(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("slurm")
    bin_dir = tmp / "bin"
    bin_dir.mkdir()
    for name, body in STUBS.items():
        (bin_dir / name).write_text(f"#!/usr/bin/env bash\n{body}\n")
        (bin_dir / name).chmod(0o755)
    experiment = tmp / "experiment.sh"
    experiment.write_text(EXPERIMENT)
    log = tmp / "commands.log"
    env = {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "STUB_LOG": str(log),
        "STUB_NODES": "node1,node2,node3",
        "SLURM_JOB_NODELIST": "node[1-3]",
        "SLURM_SUBMIT_DIR": str(tmp),
        "SLURM_GPUS_ON_NODE": "2",
        "SLURM_CPUS_PER_TASK": "16",
        "PYTHON": str(bin_dir / "python"),
        "RAY": str(bin_dir / "ray"),
    }
    env.pop("RAY_ADDRESS", None)
    done = subprocess.run(
        ["bash", str(SBATCH), str(experiment), "trainer.total_training_steps=5"],
        cwd=tmp,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return done, log.read_text().splitlines()


def test_sbatch_script_is_valid_bash():
    subprocess.run(["bash", "-n", str(SBATCH)], check=True)


def test_head_on_first_node_workers_on_the_others(launch):
    _, lines = launch
    ray_starts = [line for line in lines if line.startswith("ray@") and " start " in line]
    head = [line for line in ray_starts if "--head" in line]
    assert head == [
        "ray@node1 start --head --node-ip-address=10.0.0.1 --port=6379 --num-cpus=16 --num-gpus=2 "
        "--disable-usage-stats --block auth=token:f00d"
    ]
    workers = sorted(line for line in ray_starts if "--head" not in line)
    assert workers == [
        f"ray@{node} start --address=10.0.0.1:6379 --num-cpus=16 --num-gpus=2 --disable-usage-stats --block "
        "auth=token:f00d"
        for node in ("node2", "node3")
    ]


def test_experiment_runs_on_the_head_after_every_node_joined(launch):
    _, lines = launch
    waits = [
        i
        for i, line in enumerate(lines)
        if line.startswith("python@node1 -m dissect_lrm.trainer.cluster wait")
    ]
    assert [lines[i].split("--nodes ")[1].split()[0] for i in waits] == ["1", "3"]
    [run] = [i for i, line in enumerate(lines) if line.startswith("experiment@")]
    worker_srun = [i for i, line in enumerate(lines) if line.startswith("srun@node2") and "start" in line]
    assert waits[0] < worker_srun[0] and waits[1] < run
    assert lines[run].endswith(
        "auth=token:f00d NNODES=3 N_GPUS_PER_NODE=2 RAY_ADDRESS=10.0.0.1:6379 "
        "trainer.nnodes=3 trainer.n_gpus_per_node=2 trainer.total_training_steps=5"
    )
    assert lines[run].startswith("experiment@node1 ")


def test_ray_stopped_everywhere_and_experiment_status_returned(launch):
    done, lines = launch
    assert done.returncode == 3, done.stderr
    [run] = [i for i, line in enumerate(lines) if line.startswith("experiment@")]
    stops = {line.split()[0] for line in lines[run:] if line.startswith("ray@") and "stop --force" in line}
    assert stops == {"ray@node1", "ray@node2", "ray@node3"}


def test_outside_slurm_it_says_so(tmp_path):
    experiment = tmp_path / "experiment.sh"
    experiment.write_text(EXPERIMENT)
    env = {key: value for key, value in os.environ.items() if not key.startswith("SLURM_")}
    done = subprocess.run(
        ["bash", str(SBATCH), str(experiment)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert "run under sbatch (SLURM_JOB_NODELIST is not set)" in done.stderr
