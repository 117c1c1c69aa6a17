"""Step time of our trainer on CPU against verl's own sync trainer, measured in the same run.

Runs the tiny-model GRPO job twice with identical settings, once with ``trainer.v1.trainer_mode=
dissect_sync`` (ours: hooks + dissect/* metrics) and once with verl's ``sync``, and prints the
wall time of every step after warm-up and the ratio ours / verl. Also prints the whole run's wall
time (Ray + worker start-up included). Target: step 2 under 5 s on the tiny model.

    python benchmarks/step_time.py --steps 4
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from dissect_lrm.cli_options import renamed
from dissect_lrm.demo import training_overrides
from dissect_lrm.tiny import build_tiny_kit
from dissect_lrm.trainer.launcher import run_training


def measure(kit, workdir: Path, steps: int, trainer_mode: str, timeout: float) -> tuple[dict, float]:
    started = time.time()
    overrides = [
        *training_overrides(kit, workdir, steps),
        f"trainer.v1.trainer_mode={trainer_mode}",
        "trainer.save_freq=-1",
    ]
    run = run_training(overrides, workdir, timeout_s=timeout)
    if run.timed_out or run.returncode != 0:
        raise SystemExit(run.describe_failure())
    return run.metrics, time.time() - started


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", type=int, default=4, help="GRPO steps per run (step 1 is warm-up)")
    renamed(parser, "--timeout-s", "--timeout", dest="timeout", metavar="S", type=float, default=900, help="limit per training run in seconds")  # fmt: skip
    renamed(parser, "--output-dir", "--workdir", dest="workdir", default=None, help="scratch directory (default: a temporary one)")  # fmt: skip
    args = parser.parse_args()

    root = Path(args.workdir or tempfile.mkdtemp(prefix="dissect_step_time_"))
    kit = build_tiny_kit(root / "kit", train_size=256, val_size=32, warm_start_steps=300)
    results = {}
    for mode in ("dissect_sync", "sync"):
        metrics, wall = measure(kit, root / mode, args.steps, mode, args.timeout)
        step_times = [metrics[s]["timing_s/step"] for s in sorted(metrics) if s >= 2]
        results[mode] = (step_times, wall)
        print(f"{mode:>13}: run wall {wall:6.1f} s | step 1 {metrics[1]['timing_s/step']:.2f} s | "
              f"steps 2..{args.steps}: " + ", ".join(f"{t:.2f}" for t in step_times) + " s")  # fmt: skip
    ours, peer = (statistics.mean(results[m][0]) for m in ("dissect_sync", "sync"))
    print(
        f"mean step time after warm-up: ours {ours:.2f} s, verl sync {peer:.2f} s, ratio ours/verl = {ours / peer:.2f}"
    )
    print(f"step 2 (ours): {results['dissect_sync'][0][0]:.2f} s (target < 5 s)")


if __name__ == "__main__":
    main()
