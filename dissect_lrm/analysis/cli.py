"""``dissect-lrm profile`` and ``dissect-lrm figures fig2|fig6|curves|eval``: argparse commands (add_commands)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from dissect_lrm.cli_options import add_debug_argument, add_output_dir_argument, guarded, positive_int
from dissect_lrm.eval.options import add_generation_arguments, backend_options, generation_protocol

_PROFILE_HELP = """\
Zero-advantage profiler (paper §4.1, Figure 2). For a dataset and a model, roll out --runs samples per
problem through the evaluation backends (a resumable store under DIR/stores: rerunning resumes), or
read existing eval stores with --store, and report per dataset:
  the distribution of per-problem accuracy, the shares of all-correct / all-wrong problems (zero
  advantage under a 0/1 reward) and of mixed problems (the "effective" data).
Writes DIR/profile.json, profile.md, profile.csv, distribution.csv and distribution.png.
With --logs, also the per-step group shares the trainer logged (dissect/groups/*_frac) from verl's
metrics logs: DIR/zero_advantage_steps.csv and .png.
Examples:
  dissect-lrm profile --dataset data/deepscaler/train.parquet --model deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B \\
      --backend vllm --max-tokens 8192 --output-dir runs/profile/deepscaler
  dissect-lrm profile --store runs/eval/model/train/math.jsonl --output-dir runs/profile/from_store
  dissect-lrm profile --logs grpo=runs/train/metrics.jsonl --output-dir runs/profile/training
"""

_LOG_HELP = (
    "metrics log, as PATH or LABEL=PATH (repeat for several runs): verl's file logger JSONL "
    '({"step": N, "data": {...}} per line), a console log (lines "step:N - key:value - ..."), or a '
    "tensorboard event file / run directory"
)


def _add_profile(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "profile",
        help="zero-advantage profiler: per-problem accuracy over k rollouts (Figure 2)",
        description=_PROFILE_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    source = parser.add_argument_group("what to profile (at least one of --dataset, --store, --logs)")
    source.add_argument("--dataset", action="append", default=[], metavar="PATH",
                        help="training parquet (verl format) or eval set (.json/.jsonl); repeatable; needs --model")  # fmt: skip
    source.add_argument("--model", default=None, help="model path or hub id for the rollouts")
    source.add_argument("--model-name", default=None, help="store directory name of the model")
    source.add_argument(
        "--runs", type=positive_int, default=8, help="rollouts per problem (default 8, as the paper)"
    )
    source.add_argument(
        "--limit", type=positive_int, default=None, help="only the first N problems of each dataset"
    )
    source.add_argument("--store", action="append", default=[], metavar="JSONL", help="existing eval store; repeatable")  # fmt: skip
    source.add_argument("--logs", action="append", default=[], metavar="[LABEL=]PATH", help=_LOG_HELP)
    add_output_dir_argument(parser, "out", required=True, help="output directory")
    parser.add_argument("--no-plot", action="store_true", help="tables only, no PNG")
    add_debug_argument(parser)
    add_generation_arguments(parser)
    parser.set_defaults(func=run, analysis_handler=_run_profile)


def _add_figures(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "figures",
        help="the paper's figures as PNG (+ CSV of the plotted data)",
        description="One command per figure. Each writes a PNG under --output-dir (default runs/figures) and, next to it, "
        "a CSV with exactly the data it plots.",
    )
    figures = parser.add_subparsers(dest="figure", metavar="{fig2,fig6,curves,eval}", required=True)
    fig2 = figures.add_parser(
        "fig2",
        help="Figure 2: accuracy distributions from profiler outputs",
        description="Figure 2: share of problems per accuracy level, one bar group per profiled dataset. "
        "Writes DIR/fig2_accuracy_distribution.png and .csv (dataset, model, accuracy, problems, share).",
    )
    fig2.add_argument("profiles", nargs="+", metavar="PROFILE_JSON", help="profile.json files of 'dissect-lrm profile'")  # fmt: skip
    fig6 = figures.add_parser(
        "fig6",
        help="Figure 6: kept positive / negative samples per step, from training logs",
        description="Figure 6: dissect/filter/kept_{pos,neg}_samples per step, one line per run. "
        "Writes DIR/fig6_kept_samples.png and .csv (run, step, kept_pos_samples, kept_neg_samples).",
    )
    curves = figures.add_parser(
        "curves",
        help="training curves: reward, accuracy, response length per step",
        description="critic/score/mean, dissect/acc/mean and response_length/mean per step, one line per run. "
        "Writes DIR/training_curves.png and .csv (run, step, reward, accuracy, response_length).",
    )
    for sub in (fig6, curves):
        sub.add_argument("logs", nargs="+", metavar="[LABEL=]PATH", help=_LOG_HELP)
    evals = figures.add_parser(
        "eval",
        help="evaluation figures (accuracy histograms, score spread) from a store directory",
        description="For every eval store under STORE_DIR: the accuracy histogram (Figure 5 bins), and per "
        "benchmark and protocol the max gap between 4 trials vs runs (Figure 4); each with its CSV. "
        "The summary tables go to DIR/eval_report/.",
    )
    evals.add_argument(
        "store_dir", metavar="STORE_DIR", help="root of eval stores (dissect-lrm eval --output-dir)"
    )
    evals.add_argument(
        "--seed", type=int, default=0, help="seed of the bootstrap/spread statistics (default 0)"
    )
    evals.add_argument("--resamples", type=int, default=200, help="bootstrap resamples (default 200)")
    for sub in (fig2, fig6, curves, evals):
        add_output_dir_argument(sub, "out", required=False, default="runs/figures", help="output directory (default runs/figures)")  # fmt: skip
        add_debug_argument(sub)
    parser.set_defaults(func=run, analysis_handler=_run_figures)


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    """Add ``profile`` and ``figures`` to an argparse subparsers object; ``args.func(args)`` runs the command."""
    _add_profile(subparsers)
    _add_figures(subparsers)


def _run_profile(args: argparse.Namespace) -> int:
    from dissect_lrm.analysis.figures import zero_advantage
    from dissect_lrm.analysis.profiler import Profile, profile_dataset, profile_store, write_profiles
    from dissect_lrm.analysis.training_logs import read_runs
    from dissect_lrm.data.teacher import Generator

    if not (args.dataset or args.store or args.logs):
        print("error: give --dataset (with --model), --store or --logs", file=sys.stderr)
        return 2
    if args.dataset and not args.model:
        print("error: --dataset needs --model", file=sys.stderr)
        return 2
    out = Path(args.out)
    profiles: list[Profile] = []
    if args.dataset:
        generator = Generator(
            args.model, args.model_name, args.backend, backend_options(args), generation_protocol(args)
        )
        for dataset in args.dataset:
            profiles.append(profile_dataset(dataset, generator, out / "stores", args.runs, args.limit, not args.no_progress))  # fmt: skip
    profiles.extend(profile_store(path) for path in args.store)
    if profiles:
        files = write_profiles(profiles, out, plot=not args.no_plot)
        print(Path(files["markdown"]).read_text(), end="")
        print("wrote " + ", ".join(files.values()))
    if args.logs:
        written = zero_advantage(read_runs(args.logs), out)
        print(f"wrote {written['png']} and {written['csv']}")
    return 0


def _run_figures(args: argparse.Namespace) -> int:
    from dissect_lrm.analysis import figures
    from dissect_lrm.analysis.training_logs import read_runs

    if args.figure == "fig2":
        written = figures.fig2(args.profiles, args.out)
    elif args.figure == "fig6":
        written = figures.fig6(read_runs(args.logs), args.out)
    elif args.figure == "curves":
        written = figures.curves(read_runs(args.logs), args.out)
    else:
        paths = figures.eval_figures(args.store_dir, args.out, seed=args.seed, num_resamples=args.resamples)
        print(f"wrote {len(paths['png'])} figures: " + ", ".join(paths["png"]))
        return 0
    print(f"wrote {written['png']} and {written['csv']}")
    return 0


def run(args: argparse.Namespace) -> int:
    """Dispatch a parsed ``profile`` / ``figures`` command; user errors print a message, not a traceback."""
    return guarded(args.analysis_handler)(args)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="dissect-lrm", description="dissect-lrm analysis commands")
    add_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
