"""Attaching to a Ray cluster: address resolution, connect kwargs and the start-up checks on hand-built nodes."""

from __future__ import annotations

import socket
import time

import pytest

from dissect_lrm.trainer import cluster
from dissect_lrm.trainer.cluster import ClusterError, NodeOffer


def ray_node(node_id: str, ip: str, gpus: float, cpus: float, alive: bool = True) -> dict:
    """One entry of ``ray.nodes()`` as Ray 2.x returns it (only the fields the checks read, plus noise)."""
    resources = {"CPU": cpus, "memory": 1e9, f"node:{ip}": 1.0}
    if gpus:
        resources["GPU"] = gpus
    return {
        "NodeID": node_id,
        "Alive": alive,
        "NodeManagerAddress": ip,
        "Resources": resources,
        "alive": alive,
    }


def test_address_comes_from_config_then_environment():
    assert (
        cluster.cluster_address({"address": "10.0.0.1:6379"}, {"RAY_ADDRESS": "10.0.0.2:6379"})
        == "10.0.0.1:6379"
    )
    assert cluster.cluster_address({}, {"RAY_ADDRESS": "10.0.0.2:6379"}) == "10.0.0.2:6379"
    assert cluster.cluster_address({"address": None}, {}) is None
    assert cluster.cluster_address({}, {"RAY_ADDRESS": "local"}) is None
    assert cluster.cluster_address({}, {"RAY_ADDRESS": ""}) is None


def test_attach_kwargs_drop_what_only_a_new_cluster_takes():
    ray_init = {
        "num_cpus": 8,
        "num_gpus": 1,
        "include_dashboard": False,
        "_temp_dir": "/tmp/x",
        "runtime_env": {"env_vars": {"A": "1"}},
        "namespace": "n",
    }
    assert cluster.attach_kwargs(ray_init, "127.0.0.1:6379") == {
        "runtime_env": {"env_vars": {"A": "1"}},
        "namespace": "n",
        "address": "127.0.0.1:6379",
    }


@pytest.mark.parametrize(
    ("address", "endpoint"),
    [
        ("10.1.2.3:6380", ("10.1.2.3", 6380)),
        ("ray://head:10001", ("head", 10001)),
        ("head", ("head", 6379)),
        ("[::1]:6379", ("::1", 6379)),
        ("auto", None),
    ],
)
def test_gcs_endpoint(address, endpoint):
    assert cluster.gcs_endpoint(address) == endpoint


def test_bad_port_is_named():
    with pytest.raises(ClusterError, match=r"RAY_ADDRESS=head:sixty: expected host:port"):
        cluster.gcs_endpoint("head:sixty")


def test_address_nobody_answers_fails_fast_with_the_address():
    with socket.socket() as holder:  # a port that was just free: nothing listens there now
        holder.bind(("127.0.0.1", 0))
        port = holder.getsockname()[1]
    started = time.monotonic()
    with pytest.raises(
        ClusterError, match=rf"RAY_ADDRESS=127.0.0.1:{port}: no Ray head answers at 127.0.0.1:{port}"
    ):
        cluster.probe_address(f"127.0.0.1:{port}", timeout_s=5)
    assert time.monotonic() - started < 5


def test_connect_timeout_setting():
    assert cluster.connect_timeout_s({}) == cluster.DEFAULT_CONNECT_TIMEOUT_S
    assert cluster.connect_timeout_s({cluster.CONNECT_TIMEOUT_ENV: "2.5"}) == 2.5
    for bad in ("soon", "0", "-1"):
        with pytest.raises(ClusterError, match=cluster.CONNECT_TIMEOUT_ENV):
            cluster.connect_timeout_s({cluster.CONNECT_TIMEOUT_ENV: bad})


def test_node_offers_skip_dead_nodes_and_read_gpus_cpus():
    offers = cluster.node_offers(
        [
            ray_node("a" * 56, "10.0.0.1", 8, 96),
            ray_node("b" * 56, "10.0.0.2", 8, 96, alive=False),
            ray_node("c", "10.0.0.3", 0, 4),
        ]
    )
    assert offers == [NodeOffer("a" * 56, "10.0.0.1", 8.0, 96.0), NodeOffer("c", "10.0.0.3", 0.0, 4.0)]


# (nodes as (gpus, cpus), nnodes, n_gpus_per_node, fits): worked out by hand from verl's layout, one
# placement group of n_gpus_per_node {1 GPU, 3 CPU} bundles per trainer node, each packed on one Ray node.
RESOURCE_CASES = [
    ([(1, 4), (1, 4)], 2, 1, True),  # the two-node CPU test cluster
    ([(1, 4)], 2, 1, False),  # one node short
    ([(2, 8)], 2, 1, True),  # two single-GPU groups fit on one two-GPU node
    ([(2, 4)], 2, 1, False),  # GPUs enough, CPUs for one bundle only
    ([(8, 96), (8, 96)], 2, 8, True),  # the paper's 2 x 8 GPUs
    ([(8, 96), (4, 96), (4, 96)], 2, 8, False),  # 16 GPUs in all, but one group cannot span two nodes
    ([(16, 96)], 2, 8, True),
    ([(0, 64)], 1, 1, False),  # a CPU-only node without a (fake) GPU
    ([], 1, 1, False),
]


@pytest.mark.parametrize(("nodes", "nnodes", "n_gpus", "fits"), RESOURCE_CASES)
def test_resource_problem(nodes, nnodes, n_gpus, fits):
    offers = [NodeOffer(f"node{i}", f"10.0.0.{i}", g, c) for i, (g, c) in enumerate(nodes)]
    problem = cluster.resource_problem(offers, nnodes, n_gpus)
    assert (problem is None) == fits, problem


def test_resource_message_names_the_request_and_every_node():
    offers = [NodeOffer("f" * 56, "10.0.0.7", 8, 96), NodeOffer("e" * 56, "10.0.0.8", 4, 96)]
    problem = cluster.resource_problem(offers, 2, 8)
    assert problem == (
        "trainer.nnodes=2 x trainer.n_gpus_per_node=8 needs 2 node(s) with 8 GPU and 24 CPU each, but the Ray "
        "cluster offers room for 1: node ffffffffffff (10.0.0.7): 8 GPU, 96 CPU; "
        "node eeeeeeeeeeee (10.0.0.8): 4 GPU, 96 CPU"
    )


def test_package_problem_names_missing_and_mismatched_nodes():
    a, b, c = (NodeOffer(n * 56, f"10.0.0.{i}", 1, 4) for i, n in enumerate("abc"))
    assert cluster.package_problem([(a, "0.1.0", "/x"), (b, "0.1.0", "/y")], "0.1.0") is None
    problem = cluster.package_problem(
        [
            (a, "0.1.0", "/x"),
            (b, None, "ModuleNotFoundError: No module named 'dissect_lrm'"),
            (c, "0.0.9", "/z"),
        ],
        "0.1.0",
    )
    assert "node aaaaaaaaaaaa" not in problem
    assert (
        "node bbbbbbbbbbbb (10.0.0.1): 1 GPU, 4 CPU cannot import dissect_lrm (ModuleNotFoundError" in problem
    )
    assert (
        "node cccccccccccc (10.0.0.2): 1 GPU, 4 CPU has dissect_lrm 0.0.9 at /z, the driver 0.1.0" in problem
    )


def test_dead_nodes_are_the_ones_ray_marked_dead():
    nodes = [ray_node("a" * 56, "127.0.0.1", 1, 8), ray_node("b" * 56, "127.0.0.2", 1, 4, alive=False)]
    assert cluster.dead_nodes(nodes) == [NodeOffer("b" * 56, "127.0.0.2", 1.0, 4.0)]


def test_local_ray_without_room_for_the_nodes_is_refused_before_start(monkeypatch):
    from omegaconf import OmegaConf

    from dissect_lrm.trainer.main import ConfigurationError, prepare_cluster

    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    config = OmegaConf.create(
        {
            "trainer": {"nnodes": 2, "n_gpus_per_node": 1},
            "ray_kwargs": {"ray_init": {"num_cpus": 8, "num_gpus": 1}},
        }
    )
    with pytest.raises(
        ConfigurationError, match=r"offers room for 1: node local \(this machine\): 1 GPU, 8 CPU"
    ):
        prepare_cluster(config)
    config.trainer.nnodes = 1
    prepare_cluster(config)  # fits: verl starts Ray itself, the config is left as it was
    assert config.ray_kwargs.ray_init == {"num_cpus": 8, "num_gpus": 1}


def test_lost_node_message_names_the_dead_node_for_ray_errors_only(monkeypatch):
    import ray

    nodes = [
        ray_node("a" * 56, "127.0.0.1", 1, 8),
        ray_node("b" * 56, "127.0.0.2", 1, 4, alive=False),
        ray_node("c" * 56, "127.0.0.3", 1, 4, alive=False),  # died before this run started
    ]
    monkeypatch.setattr(ray, "nodes", lambda: nodes)
    started_with = [NodeOffer("a" * 56, "127.0.0.1", 1, 8), NodeOffer("b" * 56, "127.0.0.2", 1, 4)]
    message = cluster.lost_nodes_message(ray.exceptions.ActorDiedError(), started_with, wait_s=0)
    assert message == (
        "lost Ray node(s) during training: node bbbbbbbbbbbb (127.0.0.2): 1 GPU, 4 CPU; "
        "resume from the last checkpoint (trainer.resume_mode=auto) on a healthy cluster"
    )
    assert cluster.lost_nodes_message(ValueError("bad batch"), started_with, wait_s=0) is None
    # A Ray error while every node of the run is alive is not a lost node.
    monkeypatch.setattr(ray, "nodes", lambda: nodes[:1] + nodes[2:])
    assert cluster.lost_nodes_message(ray.exceptions.ActorDiedError(), started_with, wait_s=0) is None


def test_lost_node_message_waits_for_ray_to_declare_the_node_dead(monkeypatch):
    import ray

    calls = []

    def nodes():
        calls.append(1)  # alive for the first two looks, dead from the third on
        # Ray zeroes a dead node's resources: the message uses what it offered at the start.
        return [ray_node("b" * 56, "127.0.0.2", 0, 0, alive=len(calls) < 3)]

    monkeypatch.setattr(ray, "nodes", nodes)
    message = cluster.lost_nodes_message(
        ray.exceptions.RayTaskError("f", "tb", RuntimeError("peer closed")),
        [NodeOffer("b" * 56, "127.0.0.2", 1, 4)],
        wait_s=30,
        poll_s=0,
    )
    assert message is not None and "node bbbbbbbbbbbb (127.0.0.2): 1 GPU, 4 CPU;" in message
    assert len(calls) == 3


def ray_actor(job: str, node_id: str, state: str = "ALIVE", pid: int = 100) -> dict:
    """One value of Ray's actor table (``ray._private.state.actors()``), the fields read plus noise."""
    return {"JobID": job, "State": state, "Pid": pid, "ActorClassName": "WorkerDict",
            "Address": {"NodeID": node_id, "IPAddress": "127.0.0.1", "Port": 1}}  # fmt: skip


def test_lost_job_nodes_are_dead_nodes_of_the_run_that_held_its_actors():
    a, b, c, d = ("a" * 56, "b" * 56, "c" * 56, "d" * 56)
    nodes = [
        ray_node(a, "127.0.0.1", 1, 8),
        ray_node(b, "127.0.0.2", 0, 0, alive=False),  # held an actor of this job: lost
        ray_node(c, "127.0.0.3", 0, 0, alive=False),  # only another job's actor: not this run's loss
        ray_node(d, "127.0.0.4", 0, 0, alive=False),  # held this job's actor but joined after the start
    ]
    actors = [ray_actor("01000000", a), ray_actor("01000000", b, "DEAD"), ray_actor("02000000", c),
              ray_actor("01000000", d, "DEAD")]  # fmt: skip
    started_with = [
        NodeOffer(a, "127.0.0.1", 1, 8),
        NodeOffer(b, "127.0.0.2", 1, 4),
        NodeOffer(c, "127.0.0.3", 1, 4),
    ]
    assert cluster.lost_job_nodes(nodes, actors, "01000000", started_with) == [started_with[1]]
    assert cluster.lost_job_nodes(nodes[:1], actors, "01000000", started_with) == []


class FakeRayTables:
    """ray.nodes() / the actor table / the job id as the watch thread reads them, with node b dying
    at the ``dies_at``-th look; records the reaper's calls."""

    def __init__(self, dies_at: int, actor_node: str):
        self.looks, self.dies_at, self.actor_node, self.reaped = 0, dies_at, actor_node, 0

    def nodes(self):
        self.looks += 1
        return [
            ray_node("a" * 56, "127.0.0.1", 1, 8),
            ray_node("b" * 56, "127.0.0.2", 1, 4, alive=self.looks < self.dies_at),
        ]

    def actors(self):
        return {"x": ray_actor("01000000", "a" * 56), "y": ray_actor("01000000", self.actor_node)}

    def reap(self):
        self.reaped += 1
        return 3


def install(monkeypatch, fake: FakeRayTables) -> None:
    import types

    import ray
    from ray._private import state

    monkeypatch.setattr(ray, "is_initialized", lambda: True)
    monkeypatch.setattr(ray, "nodes", fake.nodes)
    monkeypatch.setattr(
        ray, "get_runtime_context", lambda: types.SimpleNamespace(get_job_id=lambda: "01000000")
    )
    monkeypatch.setattr(state, "actors", fake.actors)
    monkeypatch.setattr(cluster, "reap_job_actors", fake.reap)


STARTED_WITH = [NodeOffer("a" * 56, "127.0.0.1", 1, 8), NodeOffer("b" * 56, "127.0.0.2", 1, 4)]


def test_node_loss_watch_stops_the_run_once_a_node_of_it_dies(monkeypatch):
    fake = FakeRayTables(dies_at=3, actor_node="b" * 56)
    install(monkeypatch, fake)
    with cluster.NodeLossWatch(STARTED_WITH, poll_s=0.01) as watch:
        deadline = time.monotonic() + 10
        while not watch.lost and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.1)  # it must stop watching after acting once
    assert watch.lost == [STARTED_WITH[1]]
    assert fake.reaped == 1 and watch.reaped == 3
    assert fake.looks == 3


def test_node_loss_watch_ignores_a_dead_node_that_ran_nothing_of_this_job(monkeypatch):
    fake = FakeRayTables(dies_at=2, actor_node="a" * 56)
    install(monkeypatch, fake)
    with cluster.NodeLossWatch(STARTED_WITH, poll_s=0.01) as watch:
        deadline = time.monotonic() + 10
        while fake.looks < 20 and time.monotonic() < deadline:
            time.sleep(0.01)
    assert fake.looks >= 20 and watch.lost == [] and fake.reaped == 0
