"""Attach the trainer to a Ray cluster started elsewhere (``RAY_ADDRESS`` / ``ray_kwargs.ray_init.address``).

Before verl builds its placement groups (which wait forever for resources that never come) the
cluster is checked: it answers within a bounded time, it has room for ``trainer.nnodes`` x
``trainer.n_gpus_per_node`` GPU bundles, and every alive node imports dissect_lrm. Each failure is one
``ClusterError`` naming what the cluster offers.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

# ray.init refuses these when it connects to an existing cluster (they describe a cluster to start).
START_ONLY_KEYS = (
    "num_cpus",
    "num_gpus",
    "resources",
    "labels",
    "object_store_memory",
    "include_dashboard",
    "dashboard_host",
    "dashboard_port",
    "_temp_dir",
    "_system_config",
)
# verl's resource pool asks this many logical CPUs with each GPU bundle (max_colocate_count).
CPUS_PER_GPU_BUNDLE = 3
CONNECT_TIMEOUT_ENV = "DISSECT_LRM_RAY_CONNECT_TIMEOUT"
DEFAULT_CONNECT_TIMEOUT_S = 30.0
DEFAULT_GCS_PORT = 6379


class ClusterError(RuntimeError):
    """The Ray cluster cannot run this training job; the message names what it offers."""


@dataclass(frozen=True)
class NodeOffer:
    """What one alive Ray node offers to placement groups."""

    node_id: str
    address: str
    gpus: float
    cpus: float

    def describe(self) -> str:
        return f"node {self.node_id[:12]} ({self.address}): {self.gpus:g} GPU, {self.cpus:g} CPU"


def cluster_address(ray_init: Mapping, environ: Mapping[str, str] | None = None) -> str | None:
    """The cluster to attach to, or None when the trainer starts its own Ray (``address=local`` too)."""
    environ = os.environ if environ is None else environ
    address = ray_init.get("address") or environ.get("RAY_ADDRESS") or None
    if address is None or str(address).strip() in ("", "local"):
        return None
    return str(address).strip()


def attach_kwargs(ray_init: Mapping, address: str) -> dict:
    """``ray_init`` for connecting to ``address``: the start-only keys dropped, the address set."""
    kwargs = {key: value for key, value in ray_init.items() if key not in START_ONLY_KEYS}
    kwargs["address"] = address
    return kwargs


def gcs_endpoint(address: str) -> tuple[str, int] | None:
    """``(host, port)`` of a ``host:port`` or ``ray://host:port`` address; None for ``auto``."""
    if address == "auto":
        return None
    bare = address.split("://", 1)[-1].rstrip("/")
    host, _, port = bare.rpartition(":")
    if not host:
        return bare, DEFAULT_GCS_PORT
    try:
        return host.strip("[]"), int(port)
    except ValueError:
        raise ClusterError(f"RAY_ADDRESS={address}: expected host:port (e.g. 10.0.0.1:6379)") from None


def connect_timeout_s(environ: Mapping[str, str] | None = None) -> float:
    environ = os.environ if environ is None else environ
    text = environ.get(CONNECT_TIMEOUT_ENV, "")
    try:
        value = float(text) if text else DEFAULT_CONNECT_TIMEOUT_S
    except ValueError:
        raise ClusterError(f"{CONNECT_TIMEOUT_ENV}={text}: expected a number of seconds") from None
    if value <= 0:
        raise ClusterError(f"{CONNECT_TIMEOUT_ENV}={text}: expected a positive number of seconds")
    return value


def probe_address(address: str, timeout_s: float) -> None:
    """Refuse an address whose Ray head does not accept a connection within ``timeout_s``
    (ray.init itself retries for minutes)."""
    endpoint = gcs_endpoint(address)
    if endpoint is None:
        return
    host, port = endpoint
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            pass
    except OSError as error:
        raise ClusterError(
            f"RAY_ADDRESS={address}: no Ray head answers at {host}:{port} within {timeout_s:g} s ({error}); "
            f"start one with `ray start --head --port={port}` or fix the address"
        ) from None


def node_offers(nodes: Sequence[Mapping]) -> list[NodeOffer]:
    """The alive nodes of ``ray.nodes()`` with their total GPUs and CPUs."""
    offers = []
    for node in nodes:
        if not node.get("Alive", False):
            continue
        resources = node.get("Resources") or {}
        offers.append(
            NodeOffer(
                node_id=str(node.get("NodeID", "?")),
                address=str(node.get("NodeManagerAddress", "?")),
                gpus=float(resources.get("GPU", 0.0)),
                cpus=float(resources.get("CPU", 0.0)),
            )
        )
    return offers


def gpu_bundles_per_node(offer: NodeOffer, cpus_per_bundle: int = CPUS_PER_GPU_BUNDLE) -> int:
    """How many of verl's {1 GPU, ``cpus_per_bundle`` CPU} bundles fit on a node."""
    return int(min(offer.gpus, offer.cpus // cpus_per_bundle))


def resource_problem(
    offers: Sequence[NodeOffer], nnodes: int, n_gpus_per_node: int, cpus_per_bundle: int = CPUS_PER_GPU_BUNDLE
) -> str | None:
    """Why verl's placement groups (one per trainer node, each ``n_gpus_per_node`` bundles packed on one
    Ray node) could not all be placed on these nodes; None when they fit."""
    # A Ray node holding k * n_gpus_per_node bundles can take k of the per-node placement groups.
    groups = sum(gpu_bundles_per_node(offer, cpus_per_bundle) // n_gpus_per_node for offer in offers)
    if groups >= nnodes:
        return None
    offered = "; ".join(offer.describe() for offer in offers) or "no alive node"
    return (
        f"trainer.nnodes={nnodes} x trainer.n_gpus_per_node={n_gpus_per_node} needs {nnodes} node(s) with "
        f"{n_gpus_per_node} GPU and {n_gpus_per_node * cpus_per_bundle} CPU each, but the Ray cluster "
        f"offers room for {groups}: {offered}"
    )


def package_problem(
    reports: Sequence[tuple[NodeOffer, str | None, str]], expected_version: str
) -> str | None:
    """Which nodes cannot import dissect_lrm (``version`` None, ``detail`` the error) or run another
    version than the driver's; None when every node matches."""
    bad = []
    for offer, version, detail in reports:
        if version is None:
            bad.append(f"{offer.describe()} cannot import dissect_lrm ({detail})")
        elif version != expected_version:
            bad.append(
                f"{offer.describe()} has dissect_lrm {version} at {detail}, the driver {expected_version}"
            )
    if not bad:
        return None
    return (
        "; ".join(bad)
        + ": install the same dissect-lrm on every node (or put a shared checkout on PYTHONPATH before `ray start`)"
    )


def _package_probe_function():
    # Defined inside a function so that cloudpickle ships it by value: a node without dissect_lrm
    # could not unpickle a reference into this module.
    def probe():
        try:
            import dissect_lrm
        except ImportError as error:
            return None, f"{type(error).__name__}: {error}"
        return dissect_lrm.__version__, os.path.dirname(dissect_lrm.__file__)

    return probe


def match_ray_start_auth() -> None:
    """Use token authentication when a Ray token is available here and RAY_AUTH_MODE is unset, as
    ``ray start`` does on a machine with a token; ray.init with an explicit address does not."""
    if "RAY_AUTH_MODE" in os.environ:
        return
    try:
        from ray._private.authentication.authentication_token_setup import (
            maybe_enable_token_auth_if_token_available,
        )
    except ImportError:  # a Ray without token authentication
        return
    maybe_enable_token_auth_if_token_available(warn_if_disabled=False)


def connect(address: str, ray_init: Mapping) -> None:
    """ray.init attached to ``address`` (after a bounded probe); every failure is one ClusterError."""
    import ray

    probe_address(address, connect_timeout_s())
    match_ray_start_auth()
    try:
        ray.init(**attach_kwargs(ray_init, address), logging_level="ERROR", log_to_driver=False)
    except Exception as error:  # ConnectionError, RuntimeError, ValueError: all mean "cannot attach"
        cause = error.__cause__ or error
        hint = ""
        if type(cause).__name__ == "AuthenticationError" or "Authentication" in str(cause):
            hint = (
                f" (authentication: RAY_AUTH_MODE={os.environ.get('RAY_AUTH_MODE', 'unset')}; a cluster with "
                "token authentication needs RAY_AUTH_MODE=token and its token in RAY_AUTH_TOKEN or ~/.ray/auth_token)"
            )
        raise ClusterError(
            f"RAY_ADDRESS={address}: cannot attach to the Ray cluster: {error}{hint}"
        ) from None


def check_cluster(address: str, ray_init: Mapping, nnodes: int, n_gpus_per_node: int) -> list[NodeOffer]:
    """Connect to ``address`` (bounded), check resources and the package on every node, disconnect;
    returns the alive nodes."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    import dissect_lrm

    timeout_s = connect_timeout_s()
    connect(address, ray_init)
    try:
        offers = node_offers(ray.nodes())
        problem = resource_problem(offers, nnodes, n_gpus_per_node)
        if problem:
            raise ClusterError(f"RAY_ADDRESS={address}: {problem}")
        probe = ray.remote(num_cpus=0)(_package_probe_function())
        refs = [
            probe.options(
                scheduling_strategy=NodeAffinitySchedulingStrategy(offer.node_id, soft=False)
            ).remote()
            for offer in offers
        ]
        deadline = time.monotonic() + max(timeout_s, 60.0)
        results = []
        for offer, ref in zip(offers, refs, strict=True):
            try:
                results.append(ray.get(ref, timeout=max(0.0, deadline - time.monotonic())))
            except ray.exceptions.GetTimeoutError:
                raise ClusterError(
                    f"RAY_ADDRESS={address}: {offer.describe()} did not answer a package check within "
                    f"{max(timeout_s, 60.0):g} s"
                ) from None
            except ray.exceptions.RayError as error:  # the task died: out of memory, node lost, ...
                first_line = (
                    str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
                )
                raise ClusterError(
                    f"RAY_ADDRESS={address}: the package check on {offer.describe()} failed: {first_line}"
                ) from None
        problem = package_problem(
            [(offer, version, detail) for offer, (version, detail) in zip(offers, results, strict=True)],
            dissect_lrm.__version__,
        )
        if problem:
            raise ClusterError(f"RAY_ADDRESS={address}: {problem}")
        return offers
    finally:
        ray.shutdown()


def dead_nodes(nodes: Sequence[Mapping]) -> list[NodeOffer]:
    """The nodes of ``ray.nodes()`` that Ray has marked dead, with what they offered."""
    return [
        NodeOffer(
            node_id=str(node.get("NodeID", "?")),
            address=str(node.get("NodeManagerAddress", "?")),
            gpus=float((node.get("Resources") or {}).get("GPU", 0.0)),
            cpus=float((node.get("Resources") or {}).get("CPU", 0.0)),
        )
        for node in nodes
        if not node.get("Alive", True)
    ]


NODE_LOSS_WAIT_S = 30.0


def lost_nodes_message(
    error: BaseException,
    started_with: Sequence[NodeOffer],
    wait_s: float = NODE_LOSS_WAIT_S,
    poll_s: float = 1.0,
) -> str | None:
    """One line naming the node(s) of ``started_with`` (alive when the run started, with what they
    offered then: Ray zeroes a dead node's resources) that Ray has marked dead, when ``error`` is a Ray
    error; None for any other failure (it keeps its traceback).

    The first error is often a symptom (a peer's gloo connection closed) that arrives before Ray's
    health checks declare the node dead, hence the bounded wait."""
    import ray

    if not isinstance(error, ray.exceptions.RayError):
        return None
    deadline = time.monotonic() + wait_s
    while True:
        try:
            dead_ids = {node.node_id for node in dead_nodes(ray.nodes())}
            dead = [offer for offer in started_with if offer.node_id in dead_ids]
        except Exception:  # the head itself may be gone
            return None
        if dead or time.monotonic() >= deadline:
            break
        time.sleep(poll_s)
    if not dead:
        return None
    names = "; ".join(node.describe() for node in dead)
    return (
        f"lost Ray node(s) during training: {names}; resume from the last checkpoint "
        "(trainer.resume_mode=auto) on a healthy cluster"
    )


def _reaper_function():
    # Shipped by value like the package probe; SIGKILLs the given Ray worker processes of one node,
    # checking the command line first so that a reused PID is left alone.
    def reap(pids):
        import signal

        killed = []
        for pid in pids:
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as handle:
                    if not handle.read().startswith(b"ray::"):
                        continue
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
            except OSError:
                continue
        return killed

    return reap


def reap_job_actors(timeout_s: float = 60.0) -> int:
    """SIGKILL the worker processes of this job's actors on the nodes still alive; returns how many.

    After a node is lost mid-step some actors of the run (blocked on the dead peer) do not exit when
    the job ends, although Ray already lists them dead: they would hold the cluster's memory."""
    import ray
    from ray._private import state
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    job = ray.get_runtime_context().get_job_id()
    alive = {offer.node_id for offer in node_offers(ray.nodes())}
    by_node: dict[str, list[int]] = {}
    for actor in state.actors().values():
        node = (actor.get("Address") or {}).get("NodeID")
        if actor.get("JobID") == job and node in alive and actor.get("Pid"):
            by_node.setdefault(node, []).append(int(actor["Pid"]))
    reap = ray.remote(num_cpus=0)(_reaper_function())
    refs = [
        reap.options(scheduling_strategy=NodeAffinitySchedulingStrategy(node, soft=False)).remote(pids)
        for node, pids in by_node.items()
    ]
    try:
        return sum(len(killed) for killed in ray.get(refs, timeout=timeout_s))
    except ray.exceptions.RayError:
        return 0


def lost_job_nodes(
    nodes: Sequence[Mapping], actors: Sequence[Mapping], job: str, started_with: Sequence[NodeOffer]
) -> list[NodeOffer]:
    """The nodes of ``started_with`` that Ray now marks dead and that held an actor of ``job``
    (``ray.nodes()`` and the values of Ray's actor table; an actor keeps its node id after death)."""
    dead = {node.node_id for node in dead_nodes(nodes)}
    used = {str((actor.get("Address") or {}).get("NodeID")) for actor in actors if actor.get("JobID") == job}
    return [offer for offer in started_with if offer.node_id in dead and offer.node_id in used]


NODE_WATCH_POLL_S = 2.0


class NodeLossWatch:
    """Ends a run whose cluster lost one of its nodes, instead of letting it wait forever.

    verl's v1 trainer waits for its rollouts in a polling loop that does not notice that the agent-loop
    workers producing them died with their node, so a run on a cluster that loses a node would hang.
    This thread of the entry point polls Ray's node and actor tables while the run goes on; once a node
    that was alive at start and held an actor of this job is marked dead, it stops the job's actors on
    the nodes still alive (the task runner among them), so that the entry point's wait ends with a Ray
    error that :func:`lost_nodes_message` then names."""

    def __init__(self, started_with: Sequence[NodeOffer], poll_s: float = NODE_WATCH_POLL_S):
        import threading

        self.started_with = list(started_with)
        self.poll_s = poll_s
        self.lost: list[NodeOffer] = []
        self.reaped = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="dissect-lrm-node-watch", daemon=True)

    def __enter__(self) -> NodeLossWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        self._thread.join(timeout=self.poll_s + 30)

    def _watch(self) -> None:
        import ray
        from ray._private import state

        while not self._stop.wait(self.poll_s):
            if not ray.is_initialized():  # verl's run_ppo connects after this thread starts
                continue
            try:
                job = ray.get_runtime_context().get_job_id()
                lost = lost_job_nodes(ray.nodes(), list(state.actors().values()), job, self.started_with)
            except Exception:  # the connection is going away: the run is ending anyway
                return
            if lost:
                self.lost = lost
                self.reaped = reap_job_actors()
                return


def wait_for_nodes(address: str, count: int, timeout_s: float, poll_s: float = 2.0) -> list[NodeOffer]:
    """Block until ``count`` nodes of the cluster at ``address`` are alive; ClusterError on timeout."""
    import ray

    deadline = time.monotonic() + timeout_s
    connect(address, {})
    try:
        while True:
            offers = node_offers(ray.nodes())
            if len(offers) >= count:
                return offers
            if time.monotonic() > deadline:
                raise ClusterError(
                    f"RAY_ADDRESS={address}: {len(offers)} of {count} node(s) joined within {timeout_s:g} s: "
                    + ("; ".join(offer.describe() for offer in offers) or "none")
                )
            time.sleep(poll_s)
    finally:
        ray.shutdown()


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m dissect_lrm.trainer.cluster wait --nodes N``: the launchers' "all nodes joined" barrier."""
    import argparse
    import sys

    parser = argparse.ArgumentParser(prog="python -m dissect_lrm.trainer.cluster", description=main.__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    wait = sub.add_parser("wait", help="wait until N nodes of the cluster at RAY_ADDRESS are alive")
    wait.add_argument("--nodes", type=int, required=True)
    wait.add_argument("--timeout", type=float, default=600.0, help="seconds (default 600)")
    wait.add_argument("--address", default=None, help="default: $RAY_ADDRESS")
    args = parser.parse_args(argv)
    address = args.address or os.environ.get("RAY_ADDRESS")
    if not address:
        print("error: no cluster address: set RAY_ADDRESS or pass --address", file=sys.stderr)
        return 2
    try:
        offers = wait_for_nodes(address, args.nodes, args.timeout)
    except ClusterError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    for offer in offers:
        print(offer.describe())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
