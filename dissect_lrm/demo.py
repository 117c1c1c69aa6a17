"""The CPU demo: a miniature of the paper's positive/negative sample ablation (Table 1) on a tiny model.

1. Build the tiny kit and warm-start the model with supervised steps (imperfect, not hopeless, like
   an SFT-distilled model).
2. Evaluate it: several sampled runs per held-out problem, through the evaluation framework.
3. Train it with GRPO three times through verl's real trainer, keeping both / only negative /
   only positive samples (``algorithm.sample_filter.mode``), for the same number of steps.
4. Evaluate each trained model the same way; print the table and save a figure.

Whatever the numbers are, they are reported as measured, with their confidence intervals.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

MODES = ("both", "neg", "pos")
BENCHMARK_NAME = "arith_heldout"


@dataclass(frozen=True)
class DemoSettings:
    workdir: Path
    steps: int = 8
    eval_runs: int = 8
    eval_problems: int = 64
    warm_start_steps: int = 300
    timeout_s: float = 900
    figure: Path | None = None  # default: <workdir>/demo_posneg.png
    verbose: bool = False


def training_overrides(kit, workdir: Path, steps: int) -> list[str]:
    """GRPO on the tiny model and synthetic task with the CPU preset (the embedded default run)."""
    return [
        "+preset=cpu",
        f"data.train_files={kit.train_parquet}",
        f"data.val_files={kit.val_parquet}",
        "data.train_batch_size=8",
        "data.max_prompt_length=64",
        "data.max_response_length=24",
        f"actor_rollout_ref.model.path={kit.model_dir}",
        "actor_rollout_ref.actor.optim.lr=2e-4",
        "actor_rollout_ref.actor.ppo_mini_batch_size=8",
        "actor_rollout_ref.actor.use_kl_loss=False",
        "actor_rollout_ref.rollout.n=4",
        "trainer.logger=[console,file]",
        "trainer.project_name=dissect-lrm-demo",
        f"trainer.experiment_name={workdir.name}",
        "trainer.val_before_train=False",
        "trainer.test_freq=-1",
        f"trainer.save_freq={steps}",
        f"trainer.total_training_steps={steps}",
        "trainer.total_epochs=100",
        f"trainer.default_local_dir={workdir / 'checkpoints'}",
        "actor_rollout_ref.actor.checkpoint.save_contents=[model,optimizer,extra,hf_model]",
    ]


def write_heldout_benchmark(path: Path, problems) -> Path:
    """The held-out synthetic problems in the evaluation schema (one JSON object per line)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        for problem in problems:
            record = {"id": problem.problem_id, "problem": problem.question, "answers": [problem.answer]}
            handle.write(json.dumps({**record, "source": BENCHMARK_NAME}) + "\n")
    return path


def evaluate(model_dir: Path, name: str, benchmark: Path, out_dir: Path, runs: int) -> None:
    from dissect_lrm.eval.cli import main as eval_main

    code = eval_main(
        [
            "eval", "--model", str(model_dir), "--model-name", name, "-b", str(benchmark),
            "--backend", "hf", "--runs", str(runs), "--max-tokens", "24", "--max-model-len", "128",
            "--threads", "1", "--output-dir", str(out_dir), "--no-report", "--no-progress",
        ]
    )  # fmt: skip
    if code != 0:
        raise RuntimeError(f"evaluation of {name} ({model_dir}) failed with exit code {code}")


def summarize(out_dir: Path) -> dict[str, dict]:
    """avg pass@1 and its 95% CI per model, from the evaluation stores (the eval framework's stats)."""
    from dissect_lrm.eval.report import store_view
    from dissect_lrm.eval.stats import AvgPass1, PassAtK
    from dissect_lrm.eval.store import Store, find_stores

    results = {}
    for path in find_stores(out_dir):
        view = store_view(Store.read(path))
        if view.data is None:
            continue
        avg = AvgPass1().compute(view.data)
        results[view.model] = {
            "avg_pass1": avg,
            "pass_at_k": PassAtK().compute(view.data),
            "problems_x_runs": list(view.data.correct.shape),
            "errors": view.errors,
        }
    return results


def format_table(results: dict[str, dict], order: list[str]) -> str:
    lines = [
        "| model | avg pass@1 | 95% CI | pass@4 | problems x runs | errors |",
        "|---|---|---|---|---|---|",
    ]
    for name in order:
        entry = results[name]
        ci = entry["avg_pass1"]["ci"]
        low, high = ci["low"], ci["high"]
        pass4 = entry["pass_at_k"].get("4", float("nan"))
        shape = "x".join(str(n) for n in entry["problems_x_runs"])
        lines.append(
            f"| {name} | {entry['avg_pass1']['mean']:.3f} | [{low:.3f}, {high:.3f}] | {pass4:.3f} | {shape} | "
            f"{entry['errors']} |"
        )
    return "\n".join(lines)


def plot(results: dict[str, dict], order: list[str], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    means = [results[n]["avg_pass1"]["mean"] for n in order]
    cis = [(results[n]["avg_pass1"]["ci"]["low"], results[n]["avg_pass1"]["ci"]["high"]) for n in order]
    errors = [
        [m - lo for m, (lo, _) in zip(means, cis, strict=True)],
        [hi - m for m, (_, hi) in zip(means, cis, strict=True)],
    ]
    fig, ax = plt.subplots(figsize=(5, 3.2))
    ax.bar(
        order, means, yerr=errors, capsize=4, color=["#999999", "#4c72b0", "#c44e52", "#55a868"][: len(order)]
    )
    ax.set_ylabel("avg pass@1 (95% CI)")
    ax.set_title("Tiny-model GRPO: sample filter ablation")
    ax.set_ylim(0, 1)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def run_demo(settings: DemoSettings) -> int:
    import sys

    from dissect_lrm.tiny import TinyKit, build_tiny_kit
    from dissect_lrm.tiny.task import make_problems
    from dissect_lrm.trainer.launcher import run_training

    started = time.time()
    workdir = settings.workdir.resolve()
    kit_dir = workdir / "kit"
    if (kit_dir / "model" / "model.safetensors").is_file():
        # A re-run resumes: the kit, finished training runs and complete evaluation stores are reused.
        kit = TinyKit(kit_dir / "model", kit_dir / "data" / "train.parquet", kit_dir / "data" / "val.parquet")
    else:
        shutil.rmtree(workdir / "eval", ignore_errors=True)  # stores of another model must not be reused
        print(f"demo: tiny model + synthetic task, warm start ({settings.warm_start_steps} supervised steps)")
        kit = build_tiny_kit(kit_dir, train_size=256, val_size=32, warm_start_steps=settings.warm_start_steps)
    heldout = make_problems(settings.eval_problems, seed=777)
    benchmark = write_heldout_benchmark(workdir / "eval" / f"{BENCHMARK_NAME}.jsonl", heldout)
    eval_dir = workdir / "eval" / "stores"

    print(
        f"demo: evaluating the warm-started model ({settings.eval_problems} problems x {settings.eval_runs} runs)"
    )
    evaluate(kit.model_dir, "0_before", benchmark, eval_dir, settings.eval_runs)
    for mode in MODES:
        run_dir = workdir / f"grpo_{mode}"
        hf_dir = run_dir / "checkpoints" / f"global_step_{settings.steps}" / "actor" / "huggingface"
        if (hf_dir / "model.safetensors").is_file():
            print(f"demo: reusing the finished {mode} run in {run_dir}")
        else:
            print(
                f"demo: GRPO, sample_filter.mode={mode}, {settings.steps} steps (verl's trainer on CPU)",
                flush=True,
            )
            shutil.rmtree(run_dir, ignore_errors=True)
            shutil.rmtree(eval_dir / f"grpo_{mode}", ignore_errors=True)  # evaluated another model
            overrides = [
                *training_overrides(kit, run_dir, settings.steps),
                f"algorithm.sample_filter.mode={mode}",
            ]
            run = run_training(overrides, run_dir, timeout_s=settings.timeout_s, echo=settings.verbose)
            if run.timed_out or run.returncode != 0:
                print(run.describe_failure(), file=sys.stderr)
                return 1
        if not (hf_dir / "model.safetensors").is_file():
            print(f"demo: the run finished but wrote no HF weights under {hf_dir}", file=sys.stderr)
            return 1
        print(f"demo: evaluating the {mode} model")
        evaluate(hf_dir, f"grpo_{mode}", benchmark, eval_dir, settings.eval_runs)

    results = summarize(eval_dir)
    order = ["0_before", *(f"grpo_{m}" for m in MODES)]
    print(format_table(results, order))
    figure = plot(results, order, settings.figure or workdir / "demo_posneg.png")
    (workdir / "demo_results.json").write_text(json.dumps(results, indent=2, default=str))
    print(
        f"demo: figure {figure}; results {workdir / 'demo_results.json'}; {time.time() - started:.0f} s in all"
    )
    return 0
