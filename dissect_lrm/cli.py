"""The ``dissect-lrm`` command. Training itself is a Hydra entry: ``python -m dissect_lrm.trainer.main``."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

DEMO_METRICS = (
    ("dissect/acc/mean", "acc"),
    ("dissect/groups/mixed_frac", "mixed groups"),
    ("actor/grad_norm", "grad norm"),
    ("response_length/mean", "resp len"),
    ("timing_s/step", "step s"),
)


def demo_overrides(kit, workdir: Path, steps: int) -> list[str]:
    """The embedded default run: GRPO on the tiny model and synthetic task with the CPU preset."""
    return [
        "+preset=cpu",
        f"data.train_files={kit.train_parquet}",
        f"data.val_files={kit.val_parquet}",
        "data.train_batch_size=8",
        "data.max_prompt_length=64",
        "data.max_response_length=24",
        f"actor_rollout_ref.model.path={kit.model_dir}",
        "actor_rollout_ref.actor.optim.lr=1e-3",
        "actor_rollout_ref.actor.ppo_mini_batch_size=8",
        "actor_rollout_ref.actor.use_kl_loss=False",
        "actor_rollout_ref.rollout.n=4",
        "trainer.logger=[console,file]",
        "trainer.project_name=dissect-lrm-demo",
        "trainer.experiment_name=grpo-cpu",
        "trainer.val_before_train=False",
        "trainer.test_freq=-1",
        f"trainer.save_freq={steps}",
        f"trainer.total_training_steps={steps}",
        "trainer.total_epochs=100",
        f"trainer.default_local_dir={workdir / 'checkpoints'}",
    ]


def format_step_table(metrics: dict[int, dict[str, float]]) -> str:
    header = "| step | " + " | ".join(label for _, label in DEMO_METRICS) + " |"
    lines = [header, "|" + "---|" * (len(DEMO_METRICS) + 1)]
    for step in sorted(metrics):
        values = [metrics[step].get(key) for key, _ in DEMO_METRICS]
        cells = ["-" if v is None else f"{v:.3g}" for v in values]
        lines.append(f"| {step} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def run_demo(args: argparse.Namespace) -> int:
    from dissect_lrm.tiny import build_tiny_kit
    from dissect_lrm.trainer.launcher import run_training

    workdir = Path(args.workdir).resolve()
    started = time.time()
    print(f"demo: building the tiny model, tokenizer and synthetic task in {workdir / 'kit'}", flush=True)
    kit = build_tiny_kit(workdir / "kit", train_size=256, val_size=32, warm_start_steps=args.warm_start_steps)
    print(f"demo: running {args.steps} GRPO steps with verl's real trainer on CPU (timeout {args.timeout} s)")
    run = run_training(
        demo_overrides(kit, workdir, args.steps), workdir, timeout_s=args.timeout, echo=args.verbose
    )
    if run.timed_out or run.returncode != 0:
        print(run.describe_failure(), file=sys.stderr)
        return 1
    print(format_step_table(run.metrics))
    print(f"demo: finished in {time.time() - started:.0f} s; metrics in {workdir / 'metrics.jsonl'}, "
          f"checkpoints in {workdir / 'checkpoints'}")  # fmt: skip
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dissect-lrm",
        description="Tools of dissect-lrm. Training: python -m dissect_lrm.trainer.main [+preset=cpu] <overrides>.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser(
        "demo",
        help="run the CPU demo: GRPO on a tiny model with verl's real trainer",
        description="Build a tiny Qwen2 model and a synthetic math task, warm-start the model, then run "
        "GRPO steps through verl's real v1 trainer on the CPU (Ray, FSDP2, hf rollout) and print per-step metrics.",
    )
    demo.add_argument("--workdir", default="runs/demo", help="where the kit, logs and checkpoints go")
    demo.add_argument("--steps", type=int, default=4, help="GRPO steps to run")
    demo.add_argument("--warm-start-steps", type=int, default=300, help="supervised warm-start steps")
    demo.add_argument("--timeout", type=float, default=900, help="wall-clock limit of the training run (s)")
    demo.add_argument("--verbose", action="store_true", help="stream the trainer's output")
    demo.set_defaults(func=run_demo)

    from dissect_lrm.data import cli as data_cli
    from dissect_lrm.eval.cli import add_commands as add_eval_commands

    data_cli.add_commands(commands).set_defaults(func=data_cli.run)
    add_eval_commands(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
