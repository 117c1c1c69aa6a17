"""The `eval` and `stats` subcommands of `dissect-lrm` (add_commands), also runnable as `python -m dissect_lrm.eval.cli`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from dissect_lrm.cli_options import add_debug_argument, add_output_dir_argument, guarded, positive_int
from dissect_lrm.eval.options import (
    add_backend_arguments,
    add_sampling_arguments,
    backend_options,
    sampling_overrides,
)
from dissect_lrm.eval.protocols import PAPER_RUNS, PRESETS

_RUNS_TEXT = ", ".join(f"{name} {runs}" for name, runs in PAPER_RUNS.items())


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows a default only where it says something (not None/False/[]) and the help does not already."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default in (None, False, []) or "default" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


def _float_list(text: str) -> list[float]:
    try:
        return [float(item) for item in text.split(",") if item.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None


def _int_list(text: str) -> list[int]:
    try:
        return [int(item) for item in text.split(",") if item.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None


def _runs_for(text: str) -> tuple[str, int]:
    name, _, count = text.partition("=")
    if not name or not count.isdigit() or int(count) < 1:
        raise argparse.ArgumentTypeError(f"expected BENCHMARK=RUNS (e.g. aime24=128), got {text!r}")
    return name, int(count)


def _add_eval(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "eval",
        help="generate, grade and store multi-run evaluations, then write the report",
        description=(
            "Evaluate a model on benchmarks under a protocol: every (problem, run) is generated with its own "
            "seed, graded with the training reward (dissect_lrm.reward.compute_scores) and appended to a "
            "resumable JSONL store <output-dir>/<model>/<benchmark>/<protocol>.jsonl. Re-running the same "
            "command resumes (failed requests are retried); a different protocol under the same name is refused. "
            "Then writes <output-dir>/report/ (summary.json, summary.md, summary.csv, figures/)."
        ),
        formatter_class=_HelpFormatter,
    )
    what = parser.add_argument_group("what to evaluate")
    what.add_argument("--model", required=True, help="model path or hub id (for openai: what the server serves, unless --served-model-name)")  # fmt: skip
    what.add_argument("--model-name", default=None, help="directory name of the model in the store (default: derived from --model)")  # fmt: skip
    what.add_argument("-b", "--benchmark", action="append", required=True, metavar="NAME|PATH",
                      help="benchmark name looked up in --data-dir (aime24, aime25, amc23, math500, minerva, "
                           "olympiadbench, gpqa, mmlu_stem, gaokao, or the original stems aime, amc, ...) or a "
                           ".json/.jsonl file; repeat for several")  # fmt: skip
    what.add_argument("--data-dir", default=None, help="benchmark directory (default: $DISSECT_LRM_BENCHMARKS or ../shared/data/benchmarks)")  # fmt: skip
    what.add_argument("--task", choices=("math", "multiple_choice"), default=None, help="force the task of file benchmarks (default: by name / choices field)")  # fmt: skip
    what.add_argument("--limit", type=positive_int, default=None, help="only the first N problems of each benchmark (smoke tests; a separate store content)")  # fmt: skip

    protocol = parser.add_argument_group("protocol (defaults: the paper's)")
    protocol.add_argument("--protocol", choices=sorted(PRESETS), default="math",
                          help="preset: math (T 0.6, top-p 0.95, 32768 tokens), 8k/16k (output caps), multiple_choice "
                               "(letter suffix), n1/n2 (many-shot noise), greedy (T 0, 1 run)")  # fmt: skip
    protocol.add_argument("--protocol-name", default=None, help="store name of the protocol (default: the preset's)")  # fmt: skip
    protocol.add_argument("--runs", type=positive_int, default=None, help=f"runs per problem for every benchmark (default: Table 5: {_RUNS_TEXT}; others 16)")  # fmt: skip
    protocol.add_argument("--runs-for", type=_runs_for, action="append", default=[], metavar="BENCHMARK=RUNS", help="runs for one benchmark (repeatable)")  # fmt: skip
    protocol.add_argument("--noise", choices=("N1", "N2"), default=None, help="many-shot noise prefix (the n1/n2 presets set it)")  # fmt: skip
    protocol.add_argument("--noise-shots", type=positive_int, default=None, help="distractor shots in the noise prefix (paper: 20 for 1.5B, 100 for 7B; default 100)")  # fmt: skip
    protocol.add_argument("--prompt-style", choices=("auto", "math", "multiple_choice"), default=None, help="suffix: auto picks the letter suffix for multiple-choice benchmarks")  # fmt: skip
    protocol.add_argument("--temperatures", type=_float_list, default=None, metavar="T1,T2,...", help="temperature sweep: one protocol (and store) per temperature, named <protocol>-t<T>")  # fmt: skip
    add_sampling_arguments(parser)
    add_backend_arguments(parser)

    output = parser.add_argument_group("store and report")
    add_output_dir_argument(output, "output_dir", required=False, default="runs/eval", old=(), help="root of the stores and the report (default runs/eval)")  # fmt: skip
    output.add_argument("--log-samples", action="store_true", help="also write report/samples/*.jsonl: per sample the prompt hash and chat messages, response, extracted answer, verdict")  # fmt: skip
    add_debug_argument(output)
    output.add_argument("--no-retry-errors", action="store_true", help="on resume, keep failed requests as errors instead of retrying")  # fmt: skip
    output.add_argument("--batch-records", type=int, default=64, help="results graded and appended (fsynced) together")  # fmt: skip
    output.add_argument("--dry-run", action="store_true", help="print the plan (stores, runs done/missing, prompt and output token estimates, an example prompt) and exit")  # fmt: skip
    output.add_argument("--no-report", action="store_true", help="skip the report after generation")
    output.add_argument("--no-figures", action="store_true", help="report without PNG figures")
    output.add_argument("--no-progress", action="store_true", help="no progress bar")
    output.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples in the report")
    parser.set_defaults(func=guarded(run_eval_command))


def _add_stats(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "stats",
        help="statistics from existing stores: report, paired comparison, run planner",
        description="Statistics from stores written by `dissect-lrm eval`; nothing is generated.",
    )
    actions = parser.add_subparsers(dest="stats_command", required=True)
    report = actions.add_parser(
        "report",
        help="summary.json, summary.md/csv and figures for every store under a directory",
        description="avg pass@1 with std over runs, standard errors and bootstrap CIs, pass@k, maj@k, G-Pass@k, "
        "accuracy histogram and uncertain ratio, max gap (Table 7), planner, token statistics, greedy flips "
        "(when a 'greedy' store exists for the same model and benchmark).",
        formatter_class=_HelpFormatter,
    )
    report.add_argument("store_dir", metavar="STORE_DIR", help="root of the stores (the eval --output-dir)")
    report.add_argument("--store", action="append", default=None, help="only these store files (repeatable)")
    add_output_dir_argument(report, "report_dir", required=False, old=("--report-dir",), help="where to write (default: STORE_DIR/report)")  # fmt: skip
    report.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples")
    report.add_argument("--seed", type=int, default=0, help="seed of every resampling")
    report.add_argument("--ks", type=_int_list, default=None, metavar="K,K,...", help="k of pass@k, maj@k, G-Pass@k (default: all / powers of 2 / 4,8,16)")  # fmt: skip
    report.add_argument("--taus", type=_float_list, default=None, metavar="T1,T2,...", help="G-Pass@k thresholds (default 0.25,0.5,0.75,1)")  # fmt: skip
    report.add_argument("--no-figures", action="store_true", help="no PNG figures")
    add_debug_argument(report)
    report.set_defaults(func=guarded(run_report_command))

    compare = actions.add_parser(
        "compare",
        help="paired comparison of two models (stores) on the same problems",
        description="A minus B on the problems both stores have results for: difference of avg pass@1, paired "
        "bootstrap CI and a two-sided stratified permutation p-value.",
        formatter_class=_HelpFormatter,
    )
    compare.add_argument("store_a", help="store of model A (.jsonl)")
    compare.add_argument("store_b", help="store of model B (.jsonl)")
    compare.add_argument(
        "--level", choices=("runs", "problems", "both"), default="runs", help="bootstrap level"
    )
    compare.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples")
    compare.add_argument("--permutations", type=int, default=10000, help="Monte Carlo permutations (when runs are uneven)")  # fmt: skip
    compare.add_argument("--seed", type=int, default=0, help="seed")
    compare.add_argument("--allow-different-protocols", action="store_true", help="compare stores of different protocols (same benchmark), e.g. 8k vs 16k")  # fmt: skip
    add_debug_argument(compare)
    compare.set_defaults(func=guarded(run_compare_command))

    listing = actions.add_parser("benchmarks", help="list the built-in benchmarks (task, default runs, file found)",
                                 description="Built-in benchmark names for eval -b; any .json/.jsonl/.parquet file works too, "
                                 "with a spec for its columns: PATH:problem=KEY,answer=KEY,id=KEY,task=math|multiple_choice,name=NAME.")  # fmt: skip
    listing.add_argument("--data-dir", default=None, help="benchmark directory (default: $DISSECT_LRM_BENCHMARKS or ../shared/data/benchmarks)")  # fmt: skip
    listing.set_defaults(func=run_benchmarks_command)

    plan = actions.add_parser(
        "plan",
        help="predicted CI half-width and max gap per run count, and runs needed for a target",
        description="From the per-problem accuracies of a store, predict the score spread for other run counts "
        "(normal approximation) and recommend the runs that meet the targets.",
        formatter_class=_HelpFormatter,
    )
    plan.add_argument("store", help="store (.jsonl)")
    plan.add_argument(
        "--runs-list", type=_int_list, default=[1, 4, 8, 16, 32, 64, 128], help="run counts to predict"
    )
    plan.add_argument("--trials", type=int, default=4, help="independent trials of the max gap (Table 7: 4)")
    plan.add_argument(
        "--target-half-width",
        type=float,
        default=1.0,
        help="target re-run half-width in points (problems held fixed)",
    )
    plan.add_argument("--target-max-gap", type=float, default=1.0, help="target expected max gap in points")
    plan.add_argument("--confidence", type=float, default=0.95, help="CI confidence")
    plan.add_argument("--json", action="store_true", help="print the prediction as JSON")
    add_debug_argument(plan)
    plan.set_defaults(func=guarded(run_plan_command))


class UserError(ValueError):
    """A request that cannot be served as asked; reported on one line."""


def add_commands(subparsers: Any) -> None:
    """Add `eval` and `stats` to an argparse subparsers object (each sets func=handler(args) -> int)."""
    _add_eval(subparsers)
    _add_stats(subparsers)


# ------------------------------------------------------------------------------------------- handlers


def _protocols(args: argparse.Namespace) -> tuple:
    from dissect_lrm.eval.protocols import preset, temperature_sweep

    base = preset(args.protocol).with_overrides(
        name=args.protocol_name,
        runs=args.runs,
        noise=args.noise,
        **sampling_overrides(args),
        noise_shots=args.noise_shots,
        prompt_style=args.prompt_style,
    )
    if args.temperature is not None and args.temperature == 0 and args.top_p is None:
        base = base.with_overrides(top_p=1.0)
    if args.runs_for:
        base = base.with_overrides(runs_per_benchmark=tuple(args.runs_for))
    if args.temperatures:
        return tuple(temperature_sweep(base, args.temperatures))
    return (base,)


def run_eval_command(args: argparse.Namespace) -> int:
    from dissect_lrm.eval.benchmarks import resolve_benchmark
    from dissect_lrm.eval.protocols import EvalConfig
    from dissect_lrm.eval.provenance import check_model
    from dissect_lrm.eval.runner import _load_tokenizer, format_plan, plan_eval, run_eval

    benchmarks = tuple(
        resolve_benchmark(spec, args.data_dir, args.task).head(args.limit) for spec in args.benchmark
    )
    config = EvalConfig(
        model=args.model,
        benchmarks=benchmarks,
        protocols=_protocols(args),
        output_dir=args.output_dir,
        model_name=args.model_name,
        backend=args.backend,
        backend_options=backend_options(args),
        retry_errors=not args.no_retry_errors,
        batch_records=args.batch_records,
    )
    check_model(args.model, args.backend, args.revision)  # before anything is planned or written
    if args.dry_run:
        tokenizer = _load_tokenizer(args.model) if Path(args.model).is_dir() else None
        print(format_plan(config, plan_eval(config), tokenizer))
        return 0
    try:
        results = run_eval(config, progress=not args.no_progress)
    except KeyboardInterrupt:
        print("interrupted: the completed samples are stored; run the same command again to resume",
              file=sys.stderr)  # fmt: skip
        return 130
    for result in results:
        print(
            f"{result['benchmark']}/{result['protocol']}: {result['generated']} generated, "
            f"{result['already_done']} already stored, {result['errors']} errors -> {result['store']}"
        )
    _warn_failures(results)
    if args.log_samples:
        from dissect_lrm.eval.runner import write_samples

        for path in write_samples(config):
            print(f"samples: {path}")
    if not args.no_report:
        from dissect_lrm.eval.report import build_report

        report = build_report(args.output_dir, num_resamples=args.resamples, figures=not args.no_figures)
        _print_report(report)
    return 0


def _warn_failures(results: list[dict[str, Any]]) -> None:
    """Tell failures a retry can fix from those it reproduces (a prompt longer than the context)."""
    deterministic = sum(result["deterministic_errors"] for result in results)
    transient = sum(result["errors"] for result in results) - deterministic
    if transient:
        print(f"warning: {transient} requests failed transiently (timeouts, overload; error records, not graded); "
              "run the same command again to retry them", file=sys.stderr)  # fmt: skip
    if deterministic:
        print(f"warning: {deterministic} requests failed deterministically (e.g. a prompt longer than the context); "
              "a retry reproduces them: the report lists their problems as 'no result' and its conservative "
              "score counts them wrong", file=sys.stderr)  # fmt: skip


def _print_report(report: dict[str, Any]) -> None:
    for skipped in report["skipped"]:
        print(f"warning: {skipped['store']}: skipped ({skipped['error']})", file=sys.stderr)
    print(Path(report["files"]["summary.md"]).read_text())
    print(f"report: {Path(report['files']['summary.json']).parent}")


def run_report_command(args: argparse.Namespace) -> int:
    from dissect_lrm.eval.report import build_report

    report = build_report(
        args.store_dir, args.report_dir, seed=args.seed, num_resamples=args.resamples,
        figures=not args.no_figures, stores=args.store, ks=args.ks, taus=args.taus,
    )  # fmt: skip
    if not report["entries"]:
        for skipped in report["skipped"]:
            print(f"warning: {skipped['store']}: skipped ({skipped['error']})", file=sys.stderr)
        print(f"no readable stores under {args.store_dir}", file=sys.stderr)
        return 1
    _print_report(report)
    return 0


def _aligned(path_a: str, path_b: str, allow_protocols: bool = False) -> tuple[Any, Any, list[str]]:
    """Rows of the problems both stores hold, paired by problem id within the same benchmark content."""
    from dissect_lrm.eval.report import store_view
    from dissect_lrm.eval.store import Store

    view_a = store_view(Store.read(path_a), answer_classes=False)
    view_b = store_view(Store.read(path_b), answer_classes=False)
    if view_a.fingerprint != view_b.fingerprint:
        raise UserError(
            f"the stores hold different benchmarks ({view_a.benchmark} [{view_a.fingerprint}] vs "
            f"{view_b.benchmark} [{view_b.fingerprint}]): a paired comparison needs the same problems"
        )
    if view_a.protocol_hash != view_b.protocol_hash and not allow_protocols:
        raise UserError(
            f"the stores were generated under different protocols ({view_a.protocol} [{view_a.protocol_hash}] vs "
            f"{view_b.protocol} [{view_b.protocol_hash}]); pass --allow-different-protocols to compare anyway"
        )
    if view_a.data is None or view_b.data is None:
        raise UserError("a store has no successful records")
    shared = [pid for pid in view_a.problem_ids if pid in set(view_b.problem_ids)]
    if not shared:
        raise UserError("the two stores have no problem with a result in common")
    rows_a = [view_a.problem_ids.index(pid) for pid in shared]
    rows_b = [view_b.problem_ids.index(pid) for pid in shared]
    return (view_a, rows_a), (view_b, rows_b), shared


def run_compare_command(args: argparse.Namespace) -> int:
    from dissect_lrm.eval.stats import paired_comparison, to_jsonable

    (view_a, rows_a), (view_b, rows_b), shared = _aligned(
        args.store_a, args.store_b, args.allow_different_protocols
    )
    data_a, data_b = view_a.data, view_b.data
    mask_a = None if data_a.mask is None else data_a.mask[rows_a]
    mask_b = None if data_b.mask is None else data_b.mask[rows_b]
    result = paired_comparison(
        data_a.correct[rows_a], data_b.correct[rows_b], mask_a, mask_b, level=args.level,
        num_resamples=args.resamples, num_permutations=args.permutations, seed=args.seed,
    )  # fmt: skip
    result = {"a": f"{view_a.model}/{view_a.benchmark}/{view_a.protocol}",
              "b": f"{view_b.model}/{view_b.benchmark}/{view_b.protocol}",
              "shared_problems": len(shared), **result}  # fmt: skip
    print(json.dumps(to_jsonable(result), indent=1))
    return 0


def run_benchmarks_command(args: argparse.Namespace) -> int:
    from dissect_lrm.eval.benchmarks import list_benchmarks

    print(f"{'name':<16}{'task':<18}{'runs':>5}  file")
    for row in list_benchmarks(args.data_dir):
        print(f"{row['name']:<16}{row['task']:<18}{row['default_runs']:>5}  {row['path'] or '(not found)'}")
    return 0


def run_plan_command(args: argparse.Namespace) -> int:
    from dissect_lrm.eval.report import store_view
    from dissect_lrm.eval.stats import RunPlanner, to_jsonable
    from dissect_lrm.eval.store import Store

    view = store_view(Store.read(args.store), answer_classes=False)
    if view.data is None:
        print(f"{args.store}: no successful records", file=sys.stderr)
        return 1
    planner = RunPlanner(
        runs_list=tuple(args.runs_list), trials=args.trials, target_half_width=args.target_half_width / 100,
        target_max_gap=args.target_max_gap / 100, confidence=args.confidence,
    )  # fmt: skip
    result = planner.compute(view.data)
    if args.json:
        print(json.dumps(to_jsonable(result), indent=1))
        return 0
    print(f"{view.model} / {view.benchmark} / {view.protocol}: {view.data.num_problems} problems, "
          f"{view.data.num_runs} runs stored")  # fmt: skip
    print(
        f"{'runs':>6}{'score sd':>10}{'re-run ±':>15}{'E[max gap]':>12}   (points; re-run ±: where another R runs on the same problems land, not the report's CI)"
    )
    for row in result["plan"]:
        print(f"{row['runs']:>6}{100 * row['sd']:>10.2f}{100 * row['rerun_half_width']:>15.2f}{100 * row['expected_max_gap']:>12.2f}")  # fmt: skip
    recommend = result["recommend"]
    print(
        f"runs for re-run half-width <= {args.target_half_width} points: {recommend['runs_for_rerun_half_width']}"
    )
    print(f"runs for expected max gap <= {args.target_max_gap} points ({args.trials} trials): {recommend['runs_for_max_gap']}")  # fmt: skip
    print(
        f"share of score variance carried by uncertain problems: {100 * result['variance_share_uncertain']:.1f}%"
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dissect-lrm", description="Multi-run evaluation and its statistics."
    )
    add_commands(parser.add_subparsers(dest="command", required=True))
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
