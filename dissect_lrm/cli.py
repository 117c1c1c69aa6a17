"""The ``dissect-lrm`` command: one front door for training, schedules, data, evaluation, analysis and the demo."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dissect_lrm.cli_options import add_output_dir_argument, renamed


def run_demo(args: argparse.Namespace) -> int:
    from dissect_lrm.demo import QUICK, DemoSettings
    from dissect_lrm.demo import run_demo as run

    # --quick picks small sizes (for tests); an explicitly given option still wins.
    chosen = {key: getattr(args, key) for key in QUICK if getattr(args, key) is not None}
    sizes = {**(QUICK if args.quick else {}), **chosen}
    settings = DemoSettings(
        workdir=Path(args.workdir),
        **sizes,
        timeout_s=args.timeout,
        figure=Path(args.figure) if args.figure else None,
        verbose=args.verbose,
    )
    return run(settings)


# Subcommands whose arguments belong to another parser (Hydra for training, the schedule runner's own).
PASSTHROUGH_COMMANDS = ("train", "schedule")
TRAIN_CONFIG = Path(__file__).parent / "trainer" / "config" / "dissect_trainer.yaml"


def train_help() -> str:
    """``dissect-lrm train --help``: usage, then our keys as documented in the training config."""
    lines = TRAIN_CONFIG.read_text().splitlines()
    # Our keys start after Hydra's block and the defaults list; the yaml's comments document each one.
    first = next(i for i, line in enumerate(lines) if line.startswith("algorithm:"))
    return "\n".join(
        [
            "usage: dissect-lrm train [+preset=cpu] [KEY=VALUE ...]",
            "",
            "GRPO training on verl 0.9.1's v1 trainer with dissect-lrm's features. Arguments are Hydra overrides,",
            "exactly as for verl's trainer: every key of verl's ppo_trainer config is accepted (print the",
            "composed config with `dissect-lrm train --cfg job`; verl documents its keys in",
            "verl/trainer/config/ppo_trainer.yaml). `+preset=cpu` runs on a machine without a GPU.",
            "Same as: python -m dissect_lrm.trainer.main ...",
            "",
            f"dissect-lrm's keys and defaults ({TRAIN_CONFIG.name}):",
            "",
            *("  " + line for line in lines[first:]),
        ]
    )


def run_passthrough(command: str, arguments: list[str]) -> int:
    """Hand ``train`` to the Hydra entry and ``schedule`` to the schedule runner, unchanged."""
    if command == "schedule":
        from dissect_lrm.trainer import schedule

        return schedule.main(arguments, prog="dissect-lrm schedule")
    if arguments and arguments[0] in ("-h", "--help"):
        print(train_help())
        return 0
    from dissect_lrm.trainer import main as trainer_main

    saved = sys.argv
    sys.argv = ["dissect-lrm train", *arguments]  # Hydra reads its overrides from sys.argv
    try:
        trainer_main.main()
    finally:
        sys.argv = saved
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dissect-lrm",
        description="dissect-lrm: GRPO training on verl and multi-run evaluation of long-reasoning LLMs. "
        "`dissect-lrm COMMAND --help` explains each command.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    # Listed here for --help; main() hands their arguments over untouched.
    commands.add_parser(
        "train",
        add_help=False,
        help="GRPO training: verl's trainer with dissect-lrm's features (Hydra overrides, e.g. +preset=cpu)",
    )
    commands.add_parser(
        "schedule",
        add_help=False,
        help="a multi-stage schedule (paper Table 2): one training run per stage, resumable",
    )
    demo = commands.add_parser(
        "demo",
        help="run the CPU demo: the paper's pos/neg sample ablation in miniature",
        description="Warm-start a tiny Qwen2 on a synthetic math task, evaluate it, train it with GRPO through "
        "verl's real v1 trainer on the CPU keeping both / negative-only / positive-only samples, evaluate each, "
        "print the table and save a figure.",
    )
    add_output_dir_argument(demo, "workdir", required=False, default="runs/demo", old=("--workdir",), help="where the kit, logs, checkpoints, stores and the figure go (default runs/demo)")  # fmt: skip
    demo.add_argument("--steps", type=int, default=None, help="GRPO steps per training run (default 15)")
    demo.add_argument("--batch-size", dest="batch_size", type=int, default=None, help="problems per GRPO step (default 8)")  # fmt: skip
    demo.add_argument("--rollout-n", dest="rollout_n", type=int, default=None, help="samples per problem in GRPO (default 8)")  # fmt: skip
    demo.add_argument("--eval-runs", type=int, default=None, help="sampled runs per evaluated problem; pass@k for k up to it (default 8)")  # fmt: skip
    demo.add_argument("--eval-problems", type=int, default=None, help="problems per evaluated split, held-out and training (default 64)")  # fmt: skip
    demo.add_argument("--warm-start-steps", type=int, default=None, help="supervised warm-start steps (default 600)")  # fmt: skip
    demo.add_argument("--quick", action="store_true", help="tiny sizes (2 GRPO steps, 8 problems x 4 runs, ...): a smoke test, not a result")  # fmt: skip
    renamed(demo, "--timeout-s", "--timeout", dest="timeout", metavar="S", type=float, default=900, help="wall-clock limit of each training run in seconds (default 900)")  # fmt: skip
    demo.add_argument(
        "--figure", default=None, help="where the figure goes (default <output-dir>/demo_posneg.png)"
    )
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
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in PASSTHROUGH_COMMANDS:
        return run_passthrough(argv[0], argv[1:])
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
