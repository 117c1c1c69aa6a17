"""Where the CPU of one tiny trainer run goes, against the cost of importing verl in the same run.

Runs the tiny-model GRPO job once (the e2e tests' sizes) while a sampler thread reads, every
``--interval-s``, the CPU time (user + system) of every process below this one, keyed by pid and start
time so a reused pid is a new process. Processes are grouped by kind (Ray actor class, Ray daemon,
driver) and marked when they loaded verl (``tensordict``'s extension is mapped). The peer is a fresh
``python -c "import verl"`` measured in the same run, plain and with our plugin, as verl's workers
load it. The ratio says how many verl imports one run costs; ``--suite-runs N`` turns the import cost
into a floor for N trainer runs on this machine's cores (what a test suite with N e2e runs cannot go
under without changing how verl starts its processes).

    python benchmarks/run_cost.py --steps 2 --suite-runs 30
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from omegaconf import OmegaConf

from dissect_lrm.cli_options import renamed
from dissect_lrm.demo import training_overrides
from dissect_lrm.tiny import build_tiny_kit
from dissect_lrm.trainer.launcher import run_training
from dissect_lrm.trainer.main import runtime_env_vars

TICKS = os.sysconf("SC_CLK_TCK")
VERL_MARKER = "tensordict/_C"  # mapped by every process that imported verl (verl imports tensordict)


@dataclass
class Process:
    kind: str
    cpu_s: float = 0.0
    loaded_verl: bool = False
    maps_read_at_cpu_s: float = -1.0  # /proc/PID/maps is re-read only once the process has run since


def worker_env() -> dict[str, str]:
    """The environment our entry point gives verl's workers in a CPU run (plugin and platform switches)."""
    return runtime_env_vars(OmegaConf.create({"trainer": {"device": "cpu"}, "reward": {"num_workers": 1}}))


def machine_busy_s() -> float:
    """CPU seconds all cores spent outside idle and iowait since boot."""
    with open("/proc/stat") as handle:
        values = [int(v) for v in handle.readline().split()[1:]]
    return (sum(values) - values[3] - values[4]) / TICKS


def process_table() -> tuple[dict[int, list[int]], dict[int, list[str]]]:
    """Children of every pid, and each pid's /proc/PID/stat fields after the command name."""
    tree: dict[int, list[int]] = defaultdict(list)
    stats: dict[int, list[str]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as handle:
                    fields = handle.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            stats[int(entry)] = fields
            tree[int(fields[1])].append(int(entry))
    return tree, stats


def kind_of(cmdline: list[str]) -> str:
    if not cmdline:
        return "?"
    head = cmdline[0]
    if head.startswith("ray::"):
        actor = head.split("::", 1)[1].split(".", 1)[0]
        return actor if actor and actor != "IDLE" else "ray worker (idle)"
    name = Path(head).name
    if "dissect_lrm.trainer.main" in cmdline:
        return "driver (dissect_lrm.trainer.main)"
    for part in cmdline[1:3]:
        if part.endswith(".py"):
            return f"{name} {Path(part).name}"
    return name


class Sampler(threading.Thread):
    """Max CPU seen per (pid, start time) among the descendants of this process."""

    def __init__(self, interval_s: float):
        super().__init__(daemon=True)
        self.interval_s = interval_s
        self.seen: dict[tuple[int, int], Process] = {}
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.is_set():
            self.sample()
            self.halt.wait(self.interval_s)
        self.sample()

    def sample(self) -> None:
        tree, stats = process_table()
        stack = list(tree.get(os.getpid(), []))
        while stack:
            pid = stack.pop()
            stack.extend(tree.get(pid, []))
            fields = stats[pid]
            try:
                with open(f"/proc/{pid}/cmdline") as handle:
                    cmdline = [p for p in handle.read().split("\0") if p]
            except OSError:
                continue
            cpu = (int(fields[11]) + int(fields[12])) / TICKS
            kind = kind_of(cmdline)
            process = self.seen.setdefault((pid, int(fields[19])), Process(kind))
            if cmdline and cmdline[0].startswith("ray::") and kind != "ray worker (idle)":
                process.kind = kind  # a Ray worker is named after the actor it hosts once it has one
            process.cpu_s = max(process.cpu_s, cpu)
            if not process.loaded_verl and cpu > process.maps_read_at_cpu_s:
                process.maps_read_at_cpu_s = cpu
                try:
                    with open(f"/proc/{pid}/maps") as handle:
                        process.loaded_verl = VERL_MARKER in handle.read()
                except OSError:
                    pass


def import_cost(env_extra: dict[str, str], repeats: int) -> float:
    """Median CPU seconds (user + system) of a fresh interpreter that imports verl."""
    samples = []
    for _ in range(repeats):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        subprocess.run(
            [sys.executable, "-c", "import verl"], env={**os.environ, **env_extra}, check=True,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        samples.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--steps", type=int, default=2, help="GRPO steps of the measured run (the e2e tests use 2)"
    )
    parser.add_argument(
        "--repeats", type=int, default=3, help="fresh 'import verl' interpreters per peer (median)"
    )
    parser.add_argument("--interval-s", type=float, default=0.1, help="sampling period of the process walk")
    parser.add_argument("--suite-runs", type=int, default=0, metavar="N", help="also print the import floor for N trainer runs")  # fmt: skip
    renamed(parser, "--timeout-s", "--timeout", dest="timeout", metavar="S", type=float, default=900, help="limit for the training run in seconds")  # fmt: skip
    renamed(parser, "--output-dir", "--workdir", dest="workdir", default=None, help="scratch directory (default: a temporary one)")  # fmt: skip
    args = parser.parse_args()

    root = Path(args.workdir or tempfile.mkdtemp(prefix="dissect_run_cost_"))
    kit = build_tiny_kit(root / "kit", train_size=256, val_size=32, warm_start_steps=300)
    cores = os.cpu_count() or 1
    plain = import_cost({}, args.repeats)
    plugged = import_cost(worker_env(), args.repeats)

    sampler = Sampler(args.interval_s)
    load_before = os.getloadavg()[0]
    busy_before, started = machine_busy_s(), time.time()
    sampler.start()
    run = run_training(
        [*training_overrides(kit, root / "run", args.steps), "trainer.save_freq=-1"],
        root / "run",
        timeout_s=args.timeout,
    )
    sampler.halt.set()
    sampler.join()
    wall, busy = time.time() - started, machine_busy_s() - busy_before
    if run.timed_out or run.returncode != 0:
        raise SystemExit(run.describe_failure())

    by_kind: dict[str, list[Process]] = defaultdict(list)
    for process in sampler.seen.values():
        by_kind[process.kind].append(process)
    total = sum(p.cpu_s for p in sampler.seen.values())
    verl_processes = [p for p in sampler.seen.values() if p.loaded_verl]
    print(f"machine: {cores} cores, load average {load_before:.2f} before the run")
    print(
        f"peer: fresh 'import verl' {plain:.2f} CPU-s, with our plugin {plugged:.2f} CPU-s (median of {args.repeats})"
    )
    print(
        f"one {args.steps}-step tiny run: wall {wall:.1f} s, machine CPU {busy:.1f} s, seen in its processes {total:.1f} s"
    )
    print(f"\n{'process kind':<40} {'n':>3} {'CPU-s':>7} {'verl':>5}")
    for kind, processes in sorted(by_kind.items(), key=lambda item: -sum(p.cpu_s for p in item[1])):
        cpu = sum(p.cpu_s for p in processes)
        if cpu < 0.05:
            continue
        verl = sum(p.loaded_verl for p in processes)
        print(f"{kind[:40]:<40} {len(processes):>3} {cpu:>7.1f} {verl:>5}")
    imports = len(verl_processes) * plugged
    print(
        f"\nprocesses that imported verl: {len(verl_processes)}, their CPU {sum(p.cpu_s for p in verl_processes):.1f} s"
    )
    print(f"ratio run CPU / one verl import = {total / plugged:.1f}")
    print(
        f"share of the run's CPU spent importing verl: {imports:.1f} / {total:.1f} s = {imports / total:.0%}"
    )
    if args.suite_runs:
        floor = args.suite_runs * imports / cores
        print(
            f"{args.suite_runs} such runs on {cores} cores: at least {floor:.0f} s ({floor / 60:.1f} min) of imports alone, "
            f"{args.suite_runs * total / cores:.0f} s ({args.suite_runs * total / cores / 60:.1f} min) in all at this run's cost"
        )


if __name__ == "__main__":
    main()
