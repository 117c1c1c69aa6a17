"""Driver of the two-node e2e test, run inside one loopback-only network + PID namespace.

``python two_node_cluster.py SPEC.json`` starts a real two-node Ray cluster on 127.0.0.1 (a head raylet
and a second raylet, one fake GPU each, told apart by the custom resources ``node_head`` /
``node_second``), runs the trainer runs listed in the spec attached to it through ``RAY_ADDRESS``
(optionally SIGKILLing the second raylet when a run reaches a phase, and starting it again before a
later run), and writes what happened to the spec's ``result`` file: each run's exit code, output and
timing, the process list after each run, and Ray's node and actor tables.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

from dissect_lrm.trainer.launcher import run_bounded
from dissect_lrm.trainer.phases import PHASE_PREFIX

RAY = str(Path(sys.executable).with_name("ray"))
SECOND_NODE_RESOURCE = "node_second"


def ray_start(args: list[str], env: dict[str, str]) -> None:
    subprocess.run([RAY, "start", "--disable-usage-stats", *args], env=env, check=True, timeout=180)


def start_second_node(address: str, env: dict[str, str]) -> None:
    ray_start(
        [
            f"--address={address}",
            "--node-ip-address=127.0.0.1",
            "--num-cpus=8",
            "--num-gpus=1",
            f'--resources={{"{SECOND_NODE_RESOURCE}": 1}}',
            "--dashboard-agent-listen-port=0",
            "--metrics-export-port=0",
        ],
        env,
    )


def wait_for_nodes(address: str, count: int, timeout_s: float = 120) -> list[dict]:
    """Poll Ray's node table (in a subprocess, so this driver holds no Ray connection) until ``count``
    nodes are alive."""
    code = (
        "import json, ray; from dissect_lrm.trainer.cluster import connect; connect(%r, {}); "
        "print(json.dumps(ray.nodes()))"
    )
    deadline = time.monotonic() + timeout_s
    while True:
        out = subprocess.run(
            [sys.executable, "-c", code % address], capture_output=True, text=True, timeout=120
        ).stdout
        nodes = json.loads(out.strip().splitlines()[-1]) if out.strip() else []
        if sum(node["Alive"] for node in nodes) >= count or time.monotonic() > deadline:
            return nodes
        time.sleep(1)


def cluster_tables(address: str) -> dict:
    code = (
        "import json, ray\n"
        "from ray._private import state\n"
        "from dissect_lrm.trainer.cluster import connect\n"
        f"connect({address!r}, {{}})\n"
        "actors = [{'class': a['ActorClassName'], 'node_id': a['Address']['NodeID'], 'state': a['State']}\n"
        "          for a in state.actors().values()]\n"
        "print(json.dumps({'nodes': ray.nodes(), 'actors': actors}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120).stdout
    return json.loads(out.strip().splitlines()[-1])


def processes() -> list[dict]:
    """Every process in this PID namespace except this driver: pid and command line."""
    listing = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue
        if cmdline:
            listing.append({"pid": int(entry.name), "cmdline": cmdline})
    return listing


# Ray's own per-node processes, and idle pooled workers: not processes of a run.
NODE_PROCESSES = ("ray::IDLE", "ray::DashboardAgent", "ray::RuntimeEnvAgent")


def settled(listing: list[dict]) -> bool:
    """No process of a run is left (its entry point, or a Ray worker other than the nodes' own), and
    every agent belongs to a live raylet (a killed raylet's agents exit on their own, a little later)."""
    commands = [p["cmdline"] for p in listing]
    raylets = sum("raylet" in c.split(" ")[0] for c in commands)
    return (
        not any("dissect_lrm.trainer.main" in c for c in commands)
        and not any(c.startswith("ray::") and not c.startswith(NODE_PROCESSES) for c in commands)
        and sum(c.startswith("ray::DashboardAgent") for c in commands) <= raylets
    )


def wait_settled(timeout_s: float) -> tuple[list[dict], float]:
    """The process list once :func:`settled` (or at ``timeout_s``), and the seconds that took: SIGKILLed
    workers are gone at once, but a worker Ray stops after its job ends takes a moment under load."""
    started = time.monotonic()
    while True:
        listing = processes()
        waited = time.monotonic() - started
        if settled(listing) or waited >= timeout_s:
            return listing, waited
        time.sleep(0.5)


def second_raylet_pid() -> int:
    for process in processes():
        if "raylet" in process["cmdline"].split(" ")[0] and SECOND_NODE_RESOURCE in process["cmdline"]:
            return process["pid"]
    raise RuntimeError("the second node's raylet process was not found")


def main() -> None:
    spec = json.loads(Path(sys.argv[1]).read_text())
    address = f"127.0.0.1:{spec['port']}"
    # Token authentication with a token of this test's own (ray start --address, unlike --head, does
    # not turn it on by itself when a token exists): every process of the cluster and the trainer agree.
    token = Path(spec["workdir"]) / "ray_auth_token"
    token.write_text(secrets.token_hex(32))
    os.environ |= {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(token)}
    env = dict(os.environ)
    result: dict = {"runs": []}
    ray_start(
        [
            "--head",
            "--node-ip-address=127.0.0.1",
            f"--port={spec['port']}",
            "--num-cpus=8",
            "--num-gpus=1",
            '--resources={"node_head": 1}',
            "--include-dashboard=false",
            f"--temp-dir={spec['temp_dir']}",
        ],
        env,
    )
    start_second_node(address, env)
    result["nodes_at_start"] = wait_for_nodes(address, 2)
    try:
        for run in spec["runs"]:
            if run.get("restart_second_node"):
                start_second_node(address, env)
                wait_for_nodes(address, 2)
            record = {"name": run["name"], "killed_at": None}
            started = time.monotonic()

            def watch(line: str, run=run, record=record, started=started) -> None:
                phase = run.get("kill_second_node_at_phase")
                if phase and record["killed_at"] is None and line.strip().endswith(f"{PHASE_PREFIX} {phase}"):
                    pid = second_raylet_pid()
                    os.kill(pid, signal.SIGKILL)
                    record["killed_at"] = time.monotonic() - started
                    record["killed_pid"] = pid

            returncode, output, timed_out = run_bounded(
                [sys.executable, "-m", "dissect_lrm.trainer.main", *run["overrides"]],
                cwd=Path(spec["workdir"]),
                env={**env, "RAY_ADDRESS": address, **run.get("env", {})},
                timeout_s=run["timeout_s"],
                sink=watch,
            )
            record |= {
                "returncode": returncode,
                "output": output,
                "timed_out": timed_out,
                "wall_s": time.monotonic() - started,
            }
            record["processes_after"], record["settle_s"] = wait_settled(run.get("settle_timeout_s", 30))
            result["runs"].append(record)
        result |= cluster_tables(address)
    finally:
        subprocess.run([RAY, "stop", "--force"], capture_output=True, timeout=120)
        Path(spec["result"]).write_text(json.dumps(result))


if __name__ == "__main__":
    main()
