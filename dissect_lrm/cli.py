"""The ``dissect-lrm`` command. Training itself is a Hydra entry: ``python -m dissect_lrm.trainer.main``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def run_demo(args: argparse.Namespace) -> int:
    from dissect_lrm.demo import DemoSettings
    from dissect_lrm.demo import run_demo as run

    settings = DemoSettings(
        workdir=Path(args.workdir),
        steps=args.steps,
        eval_runs=args.eval_runs,
        eval_problems=args.eval_problems,
        warm_start_steps=args.warm_start_steps,
        timeout_s=args.timeout,
        figure=Path(args.figure),
        verbose=args.verbose,
    )
    return run(settings)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dissect-lrm",
        description="Tools of dissect-lrm. Training: python -m dissect_lrm.trainer.main [+preset=cpu] <overrides>.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser(
        "demo",
        help="run the CPU demo: the paper's pos/neg sample ablation in miniature",
        description="Warm-start a tiny Qwen2 on a synthetic math task, evaluate it, train it with GRPO through "
        "verl's real v1 trainer on the CPU keeping both / negative-only / positive-only samples, evaluate each, "
        "print the table and save a figure.",
    )
    demo.add_argument("--workdir", default="runs/demo", help="where the kit, logs, checkpoints and stores go")
    demo.add_argument("--steps", type=int, default=8, help="GRPO steps per training run")
    demo.add_argument("--eval-runs", type=int, default=8, help="sampled runs per held-out problem")
    demo.add_argument("--eval-problems", type=int, default=64, help="held-out problems")
    demo.add_argument("--warm-start-steps", type=int, default=300, help="supervised warm-start steps")
    demo.add_argument("--timeout", type=float, default=900, help="wall-clock limit of each training run (s)")
    demo.add_argument("--figure", default="figures/demo_posneg.png", help="where the figure goes")
    demo.add_argument("--verbose", action="store_true", help="stream the trainer's output")
    demo.set_defaults(func=run_demo)

    from dissect_lrm.analysis.cli import add_commands as add_analysis_commands
    from dissect_lrm.data import cli as data_cli
    from dissect_lrm.eval.cli import add_commands as add_eval_commands

    data_cli.add_commands(commands).set_defaults(func=data_cli.run)
    add_eval_commands(commands)
    add_analysis_commands(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
