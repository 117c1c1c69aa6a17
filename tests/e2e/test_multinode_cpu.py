"""The CPU trainer on a real two-node Ray cluster (two raylets on loopback, one fake GPU each).

One driver (tests/e2e/two_node_cluster.py) runs inside one loopback-only network + PID namespace, starts
the cluster once and attaches three trainer runs to it through RAY_ADDRESS, with trainer.nnodes=2 and
trainer.n_gpus_per_node=1 so that the FSDP actor has one rank on each node (gloo, world size 2):

1. ``both``: steps 1-2, checkpoint at step 2;
2. resumed with ``algorithm.sample_filter.mode=neg``: step 3 (checkpoint), then the second node's raylet
   is SIGKILLed when step 4 starts: the run must end with one message naming the lost node;
3. the second node started again: resumed from step 3's checkpoint, step 4 completes.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import sys
import tempfile
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from dissect_lrm.demo import training_overrides
from dissect_lrm.trainer.launcher import (
    OFFLINE_ENV,
    can_isolate_network,
    isolated,
    parse_phases,
    read_metrics_jsonl,
    run_bounded,
)
from dissect_lrm.trainer.loss_trace import read_trace

pytestmark = [pytest.mark.e2e, pytest.mark.ray, pytest.mark.timeout(1500)]

RUN_TIMEOUT_S = 420
DRIVER_TIMEOUT_S = 1400
DRIVER = Path(__file__).with_name("two_node_cluster.py")
NODE_RESOURCES = {"node_head", "node_second"}
ANSI = re.compile(r"\x1b\[[0-9;]*m")
RAY_WORKER_LOG = re.compile(r"\s*\((\w+)(, ip=[^)]*)? pid=\d+(, ip=[^)]*)?\) ")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def two_node_overrides(kit, workdir: Path, total_steps: int, metrics_file: str) -> list[str]:
    return [
        *training_overrides(kit, workdir, total_steps),
        "trainer.nnodes=2",
        "trainer.n_gpus_per_node=1",
        "trainer.save_freq=1" if total_steps > 2 else "trainer.save_freq=2",
        # HSDP, as across real nodes: shard within a node (1 rank), replicate across the two, so that
        # each rank holds every parameter and the gradient all-reduce is what keeps them equal.
        "actor_rollout_ref.actor.fsdp_config.fsdp_size=1",
        "actor_rollout_ref.actor.checkpoint.save_contents=[model,optimizer,extra]",
        f"hydra.run.dir={workdir / 'hydra' / metrics_file}",
    ]


def drive(kit, workdir: Path) -> tuple[dict, dict[str, dict]]:
    """Start the cluster, run the three trainer runs; Ray's tables and each run's record and metrics."""
    ray_dir = tempfile.mkdtemp(prefix="dlrm-ray-", dir="/tmp")

    def run(name: str, steps: int, extra: list[str], **options) -> dict:
        metrics = f"metrics_{name}.jsonl"
        return {
            "name": name,
            "overrides": [*two_node_overrides(kit, workdir, steps, metrics), *extra],
            "env": {
                "VERL_FILE_LOGGER_PATH": str(workdir / metrics),
                "HF_HOME": str(workdir / "hf_home"),
                "DISSECT_LRM_LOSS_TRACE": str(workdir / f"loss_trace_{name}"),
            },
            "timeout_s": RUN_TIMEOUT_S,
            **options,
        }

    spec = {
        "port": free_port(),
        "temp_dir": ray_dir,
        "workdir": str(workdir),
        "result": str(workdir / "result.json"),
        "runs": [
            run("both", 2, []),
            run(
                "neg_lost",
                4,
                ["algorithm.sample_filter.mode=neg"],
                kill_second_node_at_phase="step 4",
            ),
            run("resumed", 4, ["algorithm.sample_filter.mode=neg"], restart_second_node=True),
        ],
    }
    (workdir / "spec.json").write_text(json.dumps(spec))
    try:
        returncode, output, timed_out = run_bounded(
            isolated([sys.executable, str(DRIVER), str(workdir / "spec.json")]),
            cwd=workdir,
            env={**os.environ, **OFFLINE_ENV},
            timeout_s=DRIVER_TIMEOUT_S,
        )
    finally:
        shutil.rmtree(ray_dir, ignore_errors=True)
    assert not timed_out and returncode == 0, output[-6000:]
    result = json.loads((workdir / "result.json").read_text())
    runs = {record["name"]: record for record in result["runs"]}
    for name, record in runs.items():
        record["metrics"] = read_metrics_jsonl(workdir / f"metrics_{name}.jsonl")
    return result, runs


@pytest.fixture(scope="module")
def cluster_runs(warm_tiny_kit, tmp_path_factory):
    if not can_isolate_network():
        pytest.skip(
            "needs a loopback-only network + PID namespace (root and unshare) for a two-node Ray cluster"
        )
    workdir = tmp_path_factory.mktemp("multinode_e2e")
    return (workdir, *drive(warm_tiny_kit, workdir))


def describe(record: dict) -> str:
    return (
        f"run {record['name']} exited {record['returncode']} (timed out: {record['timed_out']}):\n"
        + "\n".join(record["output"].splitlines()[-60:])
    )


def rank_state(checkpoint_dir: Path, rank: int) -> dict[str, torch.Tensor]:
    """The parameters one rank saved (with fsdp_size=1 its local tensors are whole replicas)."""
    saved = torch.load(
        checkpoint_dir / f"model_world_size_2_rank_{rank}.pt", map_location="cpu", weights_only=False
    )
    return {name: (t.to_local() if hasattr(t, "to_local") else t).float() for name, t in saved.items()}


def test_cluster_has_two_distinct_nodes(cluster_runs):
    _, result, _ = cluster_runs
    alive = [node for node in result["nodes_at_start"] if node["Alive"]]
    assert len(alive) == 2
    assert {
        name for node in alive for name in node["Resources"] if name.startswith("node_")
    } == NODE_RESOURCES
    assert all(node["Resources"]["GPU"] == 1 for node in alive)


def test_two_node_run_logs_both_steps_with_our_reward_and_hooks(cluster_runs):
    _, _, runs = cluster_runs
    record = runs["both"]
    assert not record["timed_out"] and record["returncode"] == 0, describe(record)
    assert sorted(record["metrics"]) == [1, 2]
    for step, metrics in record["metrics"].items():
        assert 0.0 <= metrics["dissect/acc/mean"] <= 1.0, step
        assert metrics["dissect/samples/total"] == 8 * 4
    assert any(
        m["dissect/groups/mixed_frac"] > 0 and m["actor/grad_norm"] > 0 for m in record["metrics"].values()
    )


def test_actor_ranks_ran_on_both_nodes(cluster_runs):
    _, result, _ = cluster_runs
    head = next(n["NodeID"] for n in result["nodes_at_start"] if "node_head" in n["Resources"])
    second = next(n["NodeID"] for n in result["nodes_at_start"] if "node_second" in n["Resources"])
    # verl names its FSDP worker actors after the worker group (...WorkerDict / ...ActorRollout...).
    worker_nodes = {
        a["node_id"] for a in result["actors"] if re.search(r"WorkerDict|ActorRollout", a["class"])
    }
    assert {head, second} <= worker_nodes, result["actors"]


@pytest.mark.parametrize("step", [2, 3])  # 2: filter mode both; 3: neg, after a resume on the cluster
def test_both_ranks_hold_identical_updated_parameters(cluster_runs, warm_tiny_kit, step):
    workdir, _, _ = cluster_runs
    initial = load_file(warm_tiny_kit.model_dir / "model.safetensors")
    checkpoint = workdir / "checkpoints" / f"global_step_{step}" / "actor"
    rank0, rank1 = rank_state(checkpoint, 0), rank_state(checkpoint, 1)
    assert set(initial) <= set(rank0) and set(rank0) == set(rank1)
    changed = 0
    for name, tensor in initial.items():
        assert rank0[name].shape == tensor.shape, name  # whole replicas, not shards
        # Each rank trained on its own half of the batch: only synchronised gradients keep them equal.
        assert torch.equal(rank0[name], rank1[name]), name
        changed += not torch.equal(rank0[name], tensor.float())
    assert changed > len(initial) // 2


def node_ids(result: dict) -> tuple[str, str]:
    """(head, second) node ids, told apart by their custom resources."""
    nodes = result["nodes_at_start"]
    return tuple(
        next(n["NodeID"] for n in nodes if name in n["Resources"]) for name in ("node_head", "node_second")
    )


def test_policy_loss_ran_on_both_nodes_with_the_filter_applied(cluster_runs):
    workdir, result, _ = cluster_runs
    head, second = node_ids(result)
    both = read_trace(workdir / "loss_trace_both")
    # One rank per node (which rank lands where is verl's choice: both nodes are 127.0.0.1).
    placement = {call["rank"]: call["node_id"] for call in both}
    assert sorted(placement) == [0, 1] and set(placement.values()) == {head, second}
    # Step 3 (neg, resumed): each node's loss saw only incorrect rows, whose advantages are <= 0.
    neg = read_trace(workdir / "loss_trace_neg_lost")
    assert {call["node_id"] for call in neg} == {head, second}
    for call in neg:
        mask = call["inputs"]["response_mask"].bool()
        assert (call["inputs"]["advantages"][mask] <= 0).all()


def test_filter_mode_metrics_after_resume(cluster_runs):
    _, _, runs = cluster_runs
    record = runs["neg_lost"]
    assert 3 in record["metrics"] and 4 not in record["metrics"], describe(record)
    metrics = record["metrics"][3]
    correct = metrics["dissect/samples/correct"]
    assert metrics["dissect/filter/kept_pos_samples"] == 0
    assert metrics["dissect/filter/removed_pos_samples"] == correct
    assert metrics["dissect/filter/kept_neg_samples"] == metrics["dissect/samples/total"] - correct
    phases = parse_phases(record["output"])
    assert "step 3" in phases and "step 1" not in phases and "step 2" not in phases


def test_lost_node_ends_the_run_with_one_message_naming_it(cluster_runs):
    _, result, runs = cluster_runs
    _, second = node_ids(result)
    record = runs["neg_lost"]
    assert record["killed_at"] is not None, describe(record)
    assert not record["timed_out"] and record["returncode"] == 1, describe(record)
    # Found anywhere in a line: another process's unterminated log line may share it.
    errors = re.findall(r"dissect-lrm: error: .*", ANSI.sub("", record["output"]))
    # Named with what it offered when the run started (Ray zeroes a dead node's resources).
    assert errors == [
        f"dissect-lrm: error: lost Ray node(s) during training: node {second[:12]} (127.0.0.1): 1 GPU, 8 CPU; "
        "resume from the last checkpoint (trainer.resume_mode=auto) on a healthy cluster"
    ], describe(record)
    # None from the entry point. Ray forwards its workers' logs, prefixed "(ClassName pid=N)": an actor
    # on the surviving node whose call to the lost node failed may log one there, which is Ray's to print.
    ours = [line for line in ANSI.sub("", record["output"]).splitlines() if not RAY_WORKER_LOG.match(line)]
    assert not [line for line in ours if "Traceback" in line], describe(record)


def leftovers(result: dict, record: dict) -> list[str]:
    """Processes of the run still up after it ended: the trainer, or actors of the run's classes
    (actor processes are titled ray::<class>; the classes are those of Ray's actor table)."""
    classes = {actor["class"].rsplit(".", 1)[-1] for actor in result["actors"]}
    assert {"WorkerDict", "DissectTaskRunner", "HFRolloutServer"} <= classes
    return [
        p["cmdline"]
        for p in record["processes_after"]
        if "dissect_lrm.trainer.main" in p["cmdline"]
        or p["cmdline"].split(" ")[0].removeprefix("ray::") in classes
    ]


def test_no_process_of_a_completed_run_outlives_it(cluster_runs):
    _, result, runs = cluster_runs
    assert leftovers(result, runs["both"]) == []


def test_the_lost_node_left_no_process(cluster_runs):
    _, _, runs = cluster_runs
    lost = runs["neg_lost"]
    assert not [p for p in lost["processes_after"] if p["pid"] == lost["killed_pid"]]
    # Its agents went with its raylet: one pair is left, the head's.
    for agent in ("ray::DashboardAgent", "ray::RuntimeEnvAgent"):
        assert sum(p["cmdline"].startswith(agent) for p in lost["processes_after"]) == 1, agent


def test_no_process_of_the_lost_run_outlives_it(cluster_runs):
    # The entry point's node watch stops the job's actors on the surviving node (without it verl waits
    # forever for the lost node's rollouts); the lost node's workers go with their raylet.
    _, result, runs = cluster_runs
    assert leftovers(result, runs["neg_lost"]) == []


def test_resume_on_the_healed_cluster_completes_the_run(cluster_runs):
    workdir, _, runs = cluster_runs
    record = runs["resumed"]
    assert not record["timed_out"] and record["returncode"] == 0, describe(record)
    assert sorted(record["metrics"]) == [4]
    phases = parse_phases(record["output"])
    assert phases[-1] == "finished" and "step 4" in phases and "step 3" not in phases
    assert (workdir / "checkpoints" / "latest_checkpointed_iteration.txt").read_text().strip() == "4"
