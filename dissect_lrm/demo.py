"""The CPU demo: a miniature of the paper's positive/negative sample ablation (Table 1) on a tiny model.

1. Build a tiny Qwen2 and a synthetic arithmetic task, and warm-start the model with supervised steps
   (imperfect, not hopeless, like an SFT-distilled model).
2. Evaluate it: several sampled runs per problem on a held-out split (problems of the same skill that
   RL never sees) and on the RL training split.
3. Train it with GRPO three times through verl's real trainer, keeping both / only negative /
   only positive samples (``algorithm.sample_filter.mode``), for the same number of steps.
4. Evaluate each trained model the same way; judge the paper's Table-1 claims with paired tests;
   print the table and the verdicts, write REPORT.md and a multi-panel figure.

Whatever the numbers are, they are reported as measured, with their confidence intervals.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import shutil
import sys
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from dissect_lrm.demo_report import BEFORE, MODES, Comparison

# The benchmarks the evaluation framework names after their files (<name>.jsonl).
SPLIT_FILES = {"heldout": "arith_heldout", "train": "arith_train"}
# Per-step training metrics the figure plots: (title, key in the trainer's metrics.jsonl).
STEP_METRICS = (
    ("training accuracy", "dissect/acc/mean"),
    ("policy entropy", "actor/entropy"),
    ("mean response length (tokens)", "response_length/mean"),
    ("zero-advantage groups (share)", None),  # all-correct + all-wrong groups
    ("kept positive samples", "dissect/filter/kept_pos_samples"),
    ("kept negative samples", "dissect/filter/kept_neg_samples"),
)
COLOURS = {BEFORE: "#7f7f7f", "both": "#1f77b4", "neg": "#d62728", "pos": "#2ca02c"}
# Marker and line style per mode too, so that curves lying on top of each other stay visible.
STYLES = {BEFORE: ("D", "-"), "both": ("o", "-"), "neg": ("s", "--"), "pos": ("^", ":")}


@dataclass(frozen=True)
class DemoSettings:
    workdir: Path
    steps: int = 15
    batch_size: int = 8
    rollout_n: int = 8
    lr: float = 1e-4
    eval_runs: int = 8
    eval_problems: int = 64
    warm_start_steps: int = 600
    careful_share: float = 0.35
    timeout_s: float = 900
    figure: Path | None = None  # default: <workdir>/demo_posneg.png
    verbose: bool = False


QUICK = {
    "steps": 2,
    "batch_size": 4,
    "rollout_n": 4,
    "eval_runs": 4,
    "eval_problems": 8,
    "warm_start_steps": 40,
}


def all_problems(max_operand: int = 9):
    """Every a +- b with operands in [0, max_operand], each once, in a fixed order."""
    from dissect_lrm.tiny.task import ArithProblem

    problems = []
    for a in range(max_operand + 1):
        for op in "+-":
            for b in range(max_operand + 1):
                result = a + b if op == "+" else a - b
                problems.append(
                    ArithProblem(
                        problem_id=f"arith-{a}{'p' if op == '+' else 'm'}{b}",
                        question=f"What is {a} {op} {b}?",
                        answer=str(result),
                        solution=f"{a} {op} {b} = {result}\n</think>\n\\boxed{{{result}}}",
                    )
                )
    return problems


def warm_start_corpus(problems, careful_share: float, seed: int = 7):
    """The supervised corpus: each problem once, as a *careful* worked solution ("a + b = r", then the
    boxed r) with probability ``careful_share``, else as a *hasty* one (the boxed answer at once, off by
    1 to 3). Like a distilled model's mixed traces, the warm-started model holds both behaviours: working
    the sum out is right most of the time, guessing almost never. RL can then learn something that
    carries over to problems it never trains on (work it out), as the paper's runs learn reasoning habits.
    (With careful solutions only, the tiny model's errors are per-problem noise: 30 GRPO steps lowered
    held-out accuracy, and larger learning rates collapsed the policy.)"""
    import random

    from dissect_lrm.tiny.task import ArithProblem

    rng = random.Random(seed)
    corpus = []
    for problem in problems:
        if rng.random() < careful_share:
            corpus.append(problem)
        else:
            guess = int(problem.answer) + rng.choice((-3, -2, -1, 1, 2, 3))
            corpus.append(
                ArithProblem(
                    problem.problem_id, problem.question, problem.answer, f"</think>\n\\boxed{{{guess}}}"
                )
            )
    return corpus


def split_problems(problems, heldout_count: int, seed: int = 0):
    """(held-out, train), harder held-out problems of the same skill, as a benchmark is harder than the
    training data: RL trains on every problem with a one-character answer (no carry, no negative result);
    the held-out split is a seeded draw of ``heldout_count`` of the others (a carry, e.g. 7 + 8, or a
    negative result, e.g. 3 - 9), which RL never sees. Training-split gains show fitting, held-out gains
    generalising. (On a warm start with careful solutions only, this split taught RL that answers have
    one character and held-out accuracy fell to 0; the mixed warm start makes the habit of working the
    sum out what RL learns, and that carries over.)"""
    import random

    hard = [p for p in problems if len(p.answer) > 1]
    heldout = random.Random(seed).sample(hard, min(heldout_count, len(hard)))
    return heldout, [p for p in problems if len(p.answer) == 1]


def training_overrides(kit, workdir: Path, steps: int, batch_size: int = 8, n: int = 4, lr: float = 2e-4):
    """GRPO on the tiny model and synthetic task with the CPU preset. The defaults are the small run the e2e
    tests and benchmarks use; the demo passes its own sizes and learning rate."""
    return [
        "+preset=cpu",
        f"data.train_files={kit.train_parquet}",
        f"data.val_files={kit.val_parquet}",
        f"data.train_batch_size={batch_size}",
        "data.max_prompt_length=64",
        "data.max_response_length=24",
        f"actor_rollout_ref.model.path={kit.model_dir}",
        f"actor_rollout_ref.actor.optim.lr={lr}",
        f"actor_rollout_ref.actor.ppo_mini_batch_size={batch_size}",
        "actor_rollout_ref.actor.use_kl_loss=False",
        f"actor_rollout_ref.rollout.n={n}",
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


def write_benchmark(path: Path, problems, name: str) -> Path:
    """Problems in the evaluation schema (one JSON object per line)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        for problem in problems:
            record = {"id": problem.problem_id, "problem": problem.question, "answers": [problem.answer]}
            handle.write(json.dumps({**record, "source": name}) + "\n")
    return path


# Kept for callers of the earlier name.
def write_heldout_benchmark(path: Path, problems) -> Path:
    return write_benchmark(path, problems, SPLIT_FILES["heldout"])


@contextlib.contextmanager
def quiet(verbose: bool) -> Iterator[None]:
    """Silence third-party warnings, logs and progress bars (transformers' "Loading weights" ...)."""
    if verbose:
        yield
        return
    from transformers.utils import logging as hf_logging

    previous = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        hf_logging.set_verbosity(previous)
        hf_logging.enable_progress_bar()


def bar(total: int, desc: str, unit: str):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=f"{desc:<26}", unit=unit, dynamic_ncols=True, file=sys.stderr)


def evaluate(
    model_dir: Path, name: str, benchmarks: list[Path], out_dir: Path, runs: int, verbose: bool
) -> bool:
    """Sampled runs of ``model_dir`` on each benchmark through the evaluation framework (its own bar).
    False (after saying why on stderr) when an evaluation failed."""
    from dissect_lrm.eval.cli import main as eval_main

    for benchmark in benchmarks:
        with quiet(verbose):
            code = eval_main(
                [
                    "eval", "--model", str(model_dir), "--model-name", name, "-b", str(benchmark),
                    "--backend", "hf", "--runs", str(runs), "--max-tokens", "24", "--max-model-len", "128",
                    "--threads", "1", "--output-dir", str(out_dir), "--no-report",
                ]
            )  # fmt: skip
        if code != 0:
            print(
                f"demo: evaluating {name} ({model_dir}) on {benchmark} failed (exit code {code})",
                file=sys.stderr,
            )
            return False
    return True


def load_matrices(out_dir: Path) -> dict[tuple[str, str], object]:
    """(model, split) -> the evaluation framework's EvalData, rows in problem order."""
    from dissect_lrm.eval.report import store_view
    from dissect_lrm.eval.store import Store, find_stores

    split_of = {name: split for split, name in SPLIT_FILES.items()}
    matrices = {}
    for path in find_stores(out_dir):
        view = store_view(Store.read(path), answer_classes=False)
        if view.data is not None and view.benchmark in split_of:
            matrices[(view.model, split_of[view.benchmark])] = view.data
    return matrices


def compare(data_a, data_b) -> Comparison:
    """Paired avg pass@1 comparison (A - B) with the evaluation framework's test."""
    from dissect_lrm.eval.stats import paired_comparison

    result = paired_comparison(data_a.correct, data_b.correct, data_a.mask, data_b.mask)
    return Comparison(
        result["difference"],
        result["ci"]["low"],
        result["ci"]["high"],
        result["p_value"],
        "paired permutation",
    )


def passk_per_problem(data, k: int):
    from dissect_lrm.eval.stats import pass_at_k

    num_correct, num_samples = data.counts
    return pass_at_k(num_correct, num_samples, [k])[:, 0]


def step_series(metrics: dict[int, dict[str, float]]) -> dict[str, list[float]]:
    """The plotted per-step series from the records a run's trainer wrote to metrics.jsonl (step order).

    Zero-advantage groups are the all-correct plus all-wrong groups (a binary reward). A run that keeps
    both kinds of samples has no sample filter and so logs no kept counts: it keeps every sample, so its
    kept positives / negatives are its correct / incorrect samples (the filter's positive = correct).
    """
    nan = float("nan")
    steps = sorted(metrics)
    series: dict[str, list[float]] = {"step": [float(s) for s in steps]}
    for title, key in STEP_METRICS:
        values = []
        for step in steps:
            record = metrics[step]
            correct = record.get("dissect/samples/correct", nan)
            if key is None:
                value = record.get("dissect/groups/all_correct_frac", nan) + record.get(
                    "dissect/groups/all_wrong_frac", nan
                )
            elif key == "dissect/filter/kept_pos_samples":
                value = record.get(key, correct)
            elif key == "dissect/filter/kept_neg_samples":
                value = record.get(key, record.get("dissect/samples/total", nan) - correct)
            else:
                value = record.get(key, nan)
            values.append(float(value))
        series[title] = values
    return series


def analyse(matrices, series_by_mode, runs: int):
    """Rows of the table and the Table-1 verdicts from the evaluation matrices and training curves."""
    from dissect_lrm.demo_report import judge_claims, paired_bootstrap, window_comparison
    from dissect_lrm.eval.stats import AvgPass1, PassAtK

    names = [BEFORE, *MODES]
    rows = []
    for name in names:
        held = matrices[(name, "heldout")]
        avg = AvgPass1().compute(held)
        rows.append(
            {
                "name": name if name == BEFORE else f"GRPO {name}",
                "heldout_pass1": avg["mean"],
                "heldout_ci": (avg["ci"]["low"], avg["ci"]["high"]),
                "pass_at_k": {int(k): v for k, v in PassAtK().compute(held).items()},
                "train_pass1": AvgPass1().compute(matrices[(name, "train")])["mean"],
                "vs_before": None if name == BEFORE else compare(held, matrices[(BEFORE, "heldout")]),
            }
        )
    pass1 = {
        (a, b): compare(matrices[(a, "heldout")], matrices[(b, "heldout")])
        for a, b in (("both", BEFORE), ("neg", "both"), ("pos", BEFORE))
    }
    pass1[("pos@train", "before@train")] = compare(matrices[("pos", "train")], matrices[(BEFORE, "train")])
    passk = {
        (a, b): paired_bootstrap(
            passk_per_problem(matrices[(a, "heldout")], runs),
            passk_per_problem(matrices[(b, "heldout")], runs),
        )
        for a, b in (("neg", "pos"), (BEFORE, "pos"))
    }
    entropy_key = STEP_METRICS[1][0]
    entropy = {
        (a, "pos"): window_comparison(series_by_mode[a][entropy_key], series_by_mode["pos"][entropy_key])
        for a in ("neg", "both")
    }
    return rows, judge_claims(pass1, passk, entropy, runs)


def plot(rows, series_by_mode, path: Path) -> Path:
    """Six per-step panels (one curve per mode), held-out pass@k curves, and avg pass@1 with CIs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    fig, axes = plt.subplots(2, 4, figsize=(17, 7.5))
    panels = list(axes.flat)
    for ax, (title, _) in zip(panels, STEP_METRICS, strict=False):
        for mode in MODES:
            series = series_by_mode.get(mode)
            if series:
                marker, line = STYLES[mode]
                ax.plot(series["step"], series[title], marker=marker, linestyle=line, markersize=4,
                        color=COLOURS[mode], label=mode)  # fmt: skip
        ax.set_title(title)
        ax.set_xlabel("GRPO step")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend(fontsize=8)
    ax = panels[6]
    for row in rows:
        mode = row["name"].removeprefix("GRPO ")
        ks = sorted(row["pass_at_k"])
        marker, line = STYLES[mode]
        ax.plot(ks, [row["pass_at_k"][k] for k in ks], marker=marker, linestyle=line, color=COLOURS[mode],
                label=row["name"])  # fmt: skip
    ax.set_title("held-out pass@k")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("k")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=8)
    ax = panels[7]
    width = 0.38
    for index, row in enumerate(rows):
        mode = row["name"].removeprefix("GRPO ")
        low, high = row["heldout_ci"]
        mean = row["heldout_pass1"]
        ax.bar(index - width / 2, mean, width, yerr=[[mean - low], [high - mean]], capsize=3,
               color=COLOURS[mode], label=row["name"])  # fmt: skip
        ax.bar(index + width / 2, row["train_pass1"], width, color=COLOURS[mode], alpha=0.4, hatch="//")
    ax.set_xticks(range(len(rows)), [row["name"].removeprefix("GRPO ") for row in rows])
    ax.set_title("avg pass@1: held-out, 95% CI; train (hatched)")
    ax.set_ylim(0, 1)
    fig.suptitle("Tiny-model GRPO keeping both / negative-only / positive-only samples")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    # What was drawn, in the PNG's text chunks: lets a test (or a reader's tool) check the panels.
    labels = [label.removeprefix("GRPO ") for label in panels[6].get_legend_handles_labels()[1]]
    metadata = {"Panels": " | ".join(ax.get_title() for ax in panels), "Legend": ", ".join(labels)}
    fig.savefig(path, dpi=90, metadata=metadata)
    plt.close(fig)
    return path


def benchmark_path(kit_dir: Path, split: str) -> Path:
    return kit_dir / "benchmarks" / f"{SPLIT_FILES[split]}.jsonl"


def write_splits(kit_dir: Path, eval_problems: int) -> None:
    """The held-out and training-split benchmarks and the kit's RL parquet files."""
    import random

    from dissect_lrm.tiny.task import write_verl_parquet

    heldout, train = split_problems(all_problems(), eval_problems)
    write_benchmark(benchmark_path(kit_dir, "heldout"), heldout, SPLIT_FILES["heldout"])
    train_sample = random.Random(1).sample(train, min(eval_problems, len(train)))
    write_benchmark(benchmark_path(kit_dir, "train"), train_sample, SPLIT_FILES["train"])
    from dissect_lrm.tiny import TinyKit

    kit = TinyKit.at(kit_dir)
    write_verl_parquet(train, kit.train_parquet, "train")
    write_verl_parquet(heldout[:8], kit.val_parquet, "test")


def build_kit(kit_dir: Path, settings: DemoSettings):
    """Tokenizer + tiny model, warm start (with a progress bar), RL training parquet; the benchmarks."""
    from dissect_lrm.tiny import TinyKit
    from dissect_lrm.tiny.model import build_model
    from dissect_lrm.tiny.sft import warm_start
    from dissect_lrm.tiny.task import make_problems
    from dissect_lrm.tiny.tokenizer import build_tokenizer

    kit = TinyKit.at(kit_dir)
    model_dir = kit.model_dir
    write_splits(kit_dir, settings.eval_problems)
    with quiet(settings.verbose):
        tokenizer = build_tokenizer(model_dir)
        build_model(model_dir, tokenizer)
    progress = bar(settings.warm_start_steps, "warm start (supervised)", "step")
    with quiet(settings.verbose):
        # The supervised corpus covers every problem (held-out ones too), like distillation data that
        # overlaps a benchmark's skill: RL then has to sharpen, not teach, as in the paper.
        warm_start(
            model_dir,
            warm_start_corpus(make_problems(4000, seed=10_000), settings.careful_share),
            steps=settings.warm_start_steps,
            decay=True,
            on_step=lambda step, loss: progress.update(1),
        )
    progress.close()
    return kit


def train_mode(kit, mode: str, run_dir: Path, settings: DemoSettings) -> int:
    from dissect_lrm.trainer.launcher import run_training
    from dissect_lrm.trainer.phases import PHASE_PREFIX

    progress = bar(settings.steps, f"GRPO {mode}", "step")
    progress.set_postfix_str("starting verl (Ray, workers)", refresh=True)

    def on_line(line: str) -> None:
        if PHASE_PREFIX in line:
            phase = line.split(PHASE_PREFIX, 1)[1].strip()
            if phase == "step 1":  # start-up is over: restart the clock so the ETA reflects steps only
                progress.reset()
                progress.set_postfix_str("", refresh=True)
            elif phase.startswith("step "):
                progress.update(int(phase.split()[1]) - 1 - progress.n)
            elif phase == "finished":
                progress.update(settings.steps - progress.n)

    overrides = [
        *training_overrides(
            kit, run_dir, settings.steps, settings.batch_size, settings.rollout_n, settings.lr
        ),
        f"algorithm.sample_filter.mode={mode}",
    ]
    run = run_training(
        overrides, run_dir, timeout_s=settings.timeout_s, echo=settings.verbose, on_line=on_line
    )
    progress.close()
    if run.timed_out or run.returncode != 0:
        print(run.describe_failure(), file=sys.stderr)
        return 1
    return 0


def expected_minutes(settings: DemoSettings) -> float:
    """A rough duration on 2 idle cores (measured: ~40 s trainer start-up, ~4 s per step at 8 x 8, ~200 evaluated samples per second)."""
    step_s = 4.0 * settings.batch_size * settings.rollout_n / 64
    train_s = len(MODES) * (45 + settings.steps * step_s)
    eval_s = (len(MODES) + 1) * 2 * (5 + settings.eval_problems * settings.eval_runs * 0.005)
    return (settings.warm_start_steps * 0.07 + train_s + eval_s) / 60


def run_demo(settings: DemoSettings) -> int:
    from dissect_lrm.demo_report import format_claims, format_table, report_markdown
    from dissect_lrm.tiny import TinyKit
    from dissect_lrm.trainer.launcher import read_metrics_jsonl

    if not settings.verbose:
        logging.getLogger("transformers").setLevel(logging.ERROR)
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    started = time.time()
    workdir = settings.workdir.resolve()
    kit_dir = workdir / "kit"
    header = (
        f"dissect-lrm demo: warm-start a tiny Qwen2 on a+-b arithmetic ({settings.warm_start_steps} supervised "
        f"steps on a mix of careful worked solutions ({settings.careful_share:.0%}) and hasty guesses), then GRPO through verl's trainer keeping both / negative-only / positive-only samples "
        f"({settings.steps} steps of {settings.batch_size} problems x {settings.rollout_n} samples, lr "
        f"{settings.lr:g}), each evaluated on {settings.eval_problems} held-out and {settings.eval_problems} "
        f"training problems x {settings.eval_runs} runs. About {expected_minutes(settings):.0f} min on 2 idle "
        f"cores; a re-run resumes. Output: {workdir}"
    )
    print(header, flush=True)
    import torch

    torch.set_num_threads(1)  # a tiny model: more threads only contend on a 2-core machine
    if (kit_dir / "model" / "model.safetensors").is_file():
        # A re-run resumes: the kit, finished training runs and complete evaluation stores are reused.
        kit = TinyKit.at(kit_dir)
    else:
        shutil.rmtree(workdir / "eval", ignore_errors=True)  # stores of another model must not be reused
        kit = build_kit(kit_dir, settings)
    benchmarks = [benchmark_path(kit_dir, split) for split in SPLIT_FILES]
    eval_dir = workdir / "eval" / "stores"
    if not evaluate(kit.model_dir, BEFORE, benchmarks, eval_dir, settings.eval_runs, settings.verbose):
        return 1
    series_by_mode = {}
    for mode in MODES:
        run_dir = workdir / f"grpo_{mode}"
        hf_dir = run_dir / "checkpoints" / f"global_step_{settings.steps}" / "actor" / "huggingface"
        if not (hf_dir / "model.safetensors").is_file():
            shutil.rmtree(run_dir, ignore_errors=True)
            shutil.rmtree(eval_dir / mode, ignore_errors=True)  # evaluated another model
            if train_mode(kit, mode, run_dir, settings):
                return 1
        if not (hf_dir / "model.safetensors").is_file():
            print(f"demo: the run finished but wrote no HF weights under {hf_dir}", file=sys.stderr)
            return 1
        series_by_mode[mode] = step_series(read_metrics_jsonl(run_dir / "metrics.jsonl"))
        if not evaluate(hf_dir, mode, benchmarks, eval_dir, settings.eval_runs, settings.verbose):
            return 1

    rows, claims = analyse(load_matrices(eval_dir), series_by_mode, settings.eval_runs)
    table = format_table(rows, settings.eval_runs)
    figure = plot(rows, series_by_mode, settings.figure or workdir / "demo_posneg.png")
    report = workdir / "REPORT.md"
    figure_link = os.path.relpath(figure, workdir)
    elapsed = time.time() - started
    report.write_text(
        report_markdown(table, claims, figure_link, f"{header}\n\nThis run took {elapsed:.0f} s.")
    )
    (workdir / "demo_results.json").write_text(
        json.dumps({"rows": rows, "claims": claims, "series": series_by_mode}, indent=2, default=_jsonable)
    )
    print()
    print(table)
    print()
    print("\n".join(format_claims(claims)))
    print(f"\nfigure: {figure}\nreport: {report}\n{elapsed:.0f} s in all")
    return 0


def _jsonable(value):
    import dataclasses

    return dataclasses.asdict(value) if dataclasses.is_dataclass(value) else str(value)
