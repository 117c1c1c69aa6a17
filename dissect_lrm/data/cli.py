"""``dissect-lrm data train|benchmarks|teacher``: argparse commands that build training parquet and eval sets."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from dissect_lrm.cli_options import add_debug_argument, add_output_dir_argument, guarded
from dissect_lrm.data.benchmarks import BENCHMARKS, build_benchmarks, format_report
from dissect_lrm.data.train import DEFAULT_VAL_SIZE, REPORT_FILE, TRAIN_FILE, VAL_FILE, build_training_set

_TRAIN_HELP = f"""\
Build verl training parquet from DeepScaleR-40K, the math part of OpenThoughts-114K, or local files.

Writes DIR/{TRAIN_FILE}, DIR/{VAL_FILE} (a seeded held-out sample) and DIR/{REPORT_FILE}, which counts
every dropped row by reason (malformed, missing_answer, duplicate, too_long) and lists each one.
Example:
  dissect-lrm data train --source deepscaler --tokenizer deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B \\
      --max-prompt-tokens 1024 --output-dir data/deepscaler
  dissect-lrm data train --source ../shared/data/train/deepscaler_aime.json \\
      ../shared/data/train/deepscaler_math.json --output-dir data/deepscaler_local
"""

_BENCH_HELP = """\
Build evaluation sets (one JSONL record per problem: id, problem, answers, choices, source, task,
metadata) and DIR/benchmarks_report.json. Malformed rows are skipped and listed with their index and
key in the report and on stdout (use --strict to stop at the first one instead).
Example:
  dissect-lrm data benchmarks --from-dir ../shared/data/benchmarks --output-dir data/eval
  dissect-lrm data benchmarks --names aime24,gpqa_diamond --from-hub --output-dir data/eval
"""


def add_commands(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``data`` command group (``train``, ``benchmarks``) to an argparse subparsers object."""
    data = subparsers.add_parser(
        "data",
        help="build training parquet and evaluation sets",
        description="Dataset builders: training parquet for verl and evaluation sets in the eval schema.",
    )
    commands = data.add_subparsers(dest="data_command", metavar="{train,benchmarks,teacher}", required=True)

    train = commands.add_parser(
        "train",
        help="training parquet (DeepScaleR, OpenThoughts math, local files)",
        description=_TRAIN_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    train.add_argument(
        "--source",
        nargs="+",
        required=True,
        metavar="SOURCE",
        help="one or more of: deepscaler (agentica-org/DeepScaleR-Preview-Dataset), openthoughts "
        "(open-thoughts/OpenThoughts-114k, metadata config, domain == math), or a local .json/.jsonl/"
        ".parquet file with problem/question and answer fields (verl-format parquet is accepted too). "
        "Sources are read in order; a problem seen earlier wins de-duplication.",
    )
    train.add_argument(
        "--tokenizer",
        metavar="PATH",
        help="tokenizer (local path or hub id) used to measure prompt length with its chat template; "
        "required with --max-prompt-tokens",
    )
    train.add_argument(
        "--max-prompt-tokens",
        type=int,
        metavar="N",
        help="drop problems whose templated prompt is longer than N tokens (set it to verl's "
        "data.max_prompt_length so verl never has to filter or truncate); default: no length filter",
    )
    train.add_argument(
        "--max-response-tokens",
        type=int,
        metavar="N",
        help="drop offline solutions longer than N tokens (EOS included; set it to verl's "
        "data.max_response_length: a longer one would be injected cut and scored wrong); needs --tokenizer",
    )
    train.add_argument(
        "--val-size",
        type=int,
        default=DEFAULT_VAL_SIZE,
        metavar="N",
        help=f"problems held out for validation, drawn with --seed (default {DEFAULT_VAL_SIZE}, as in the "
        "RLR experiments; 0 writes an empty val file)",
    )
    train.add_argument("--seed", type=int, default=0, help="seed of the validation sample (default 0)")
    train.add_argument(
        "--data-source",
        metavar="NAME",
        help="data_source value of every row (default: deepscaler, openthoughts_math or the file's stem)",
    )
    add_output_dir_argument(train, "out", required=True, help="output directory")
    train.add_argument("--no-progress", action="store_true", help="hide progress bars")
    train.set_defaults(data_handler=_run_train)

    bench = commands.add_parser(
        "benchmarks",
        help="evaluation sets (AIME24/25, AMC23, MATH-500, Minerva, OlympiadBench, GPQA, MMLU-STEM, GaoKao)",
        description=_BENCH_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    bench.add_argument(
        "--names",
        default=",".join(BENCHMARKS),
        metavar="LIST",
        help=f"comma-separated benchmarks (default: all): {', '.join(BENCHMARKS)}",
    )
    origin = bench.add_mutually_exclusive_group(required=True)
    origin.add_argument(
        "--from-dir",
        metavar="DIR",
        help="directory with the original release's test JSONs (aime.json, aime25.json, amc.json, math.json, "
        "minerva.json, olympiad_bench.json, gpqa_diamond.json, mmlu_stem.json, gaokao_math_qa.json)",
    )
    origin.add_argument(
        "--from-hub",
        action="store_true",
        help="download from the Hugging Face hub with datasets.load_dataset (GPQA is gated: log in first)",
    )
    bench.add_argument("--strict", action="store_true", help="fail on the first malformed row")
    add_output_dir_argument(bench, "out", required=True, help="output directory")
    bench.add_argument("--no-progress", action="store_true", help="hide progress bars")
    bench.set_defaults(data_handler=_run_benchmarks)
    _add_teacher(commands)
    for command in commands.choices.values():
        add_debug_argument(command)
    return data


def _run_train(args: argparse.Namespace) -> int:
    for option, value in (
        ("--max-prompt-tokens", args.max_prompt_tokens),
        ("--max-response-tokens", args.max_response_tokens),
    ):
        if value is not None and not args.tokenizer:
            print(f"error: {option} needs --tokenizer", file=sys.stderr)
            return 2
    report = build_training_set(
        args.source,
        args.out,
        tokenizer=args.tokenizer,
        max_prompt_tokens=args.max_prompt_tokens,
        max_response_tokens=args.max_response_tokens,
        val_size=args.val_size,
        seed=args.seed,
        data_source=args.data_source,
        show_progress=not args.no_progress,
    )
    print(report.table())
    print(f"wrote {report.outputs['train']}, {report.outputs['val']} and {report.outputs['report']}")
    return 0


def _run_benchmarks(args: argparse.Namespace) -> int:
    names = [n.strip() for n in args.names.split(",") if n.strip()]
    results = build_benchmarks(
        names,
        args.out,
        from_dir=args.from_dir,
        use_hub=args.from_hub,
        strict=args.strict,
        show_progress=not args.no_progress,
    )
    print(format_report(results))
    print(f"wrote {len(results)} eval sets and {Path(args.out) / 'benchmarks_report.json'}")
    return 0


_TEACHER_HELP = """\
Offline teacher samples (paper appendix B.5) for offline-sample injection.

1. Student accuracy per training problem: from --student-store (an eval store of the student on this
   training parquet, matched by extra_info.problem_id), or by running --student-model here for
   --student-runs rollouts per problem.
2. Problems with accuracy below --threshold get --candidates samples from --teacher-model, graded with
   the training reward (dissect_lrm.reward.compute_scores) through the evaluation runner.
3. Problems with at least one correct sample are kept; --sample-size of them are drawn with --seed.
Writes DIR/train_offline.parquet (the source rows plus an offline_solutions column: the verified
solution strings, which algorithm.injection.column reads) and DIR/teacher_report.json, which gives
every problem's outcome: kept, not_sampled, no_correct_candidate, above_threshold, not_evaluated.
Generation goes to resumable stores under DIR/stores: re-running the command redoes nothing done.
Example:
  dissect-lrm data teacher --train data/deepscaler/train.parquet \\
      --student-store runs/eval/DeepScaleR-1.5B-Preview/train/math.jsonl \\
      --teacher-model Qwen/QwQ-32B --backend vllm --tp 4 --output-dir data/offline
"""


def _add_teacher(commands: argparse._SubParsersAction) -> None:
    from dissect_lrm.data import teacher

    parser = commands.add_parser(
        "teacher",
        help="offline teacher samples for injection (appendix B.5)",
        description=_TEACHER_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--train", required=True, metavar="PARQUET", help="training parquet (verl format)")
    student = parser.add_mutually_exclusive_group(required=True)
    student.add_argument("--student-store", metavar="JSONL", help="eval store of the student on --train")
    student.add_argument("--student-model", metavar="PATH", help="evaluate this student model here instead")
    parser.add_argument("--teacher-model", required=True, metavar="PATH", help="teacher model path or hub id")
    parser.add_argument("--student-name", default=None, help="store directory name of the student model")
    parser.add_argument("--teacher-name", default=None, help="store directory name of the teacher model")
    parser.add_argument("--threshold", type=float, default=teacher.DEFAULT_THRESHOLD,
                        help=f"keep problems with student accuracy below it (default {teacher.DEFAULT_THRESHOLD})")  # fmt: skip
    parser.add_argument("--candidates", type=int, default=teacher.DEFAULT_CANDIDATES,
                        help=f"teacher samples per hard problem (default {teacher.DEFAULT_CANDIDATES})")  # fmt: skip
    parser.add_argument("--sample-size", type=int, default=teacher.DEFAULT_SAMPLE_SIZE,
                        help=f"problems drawn from the solvable ones (default {teacher.DEFAULT_SAMPLE_SIZE})")  # fmt: skip
    parser.add_argument("--student-runs", type=int, default=teacher.DEFAULT_STUDENT_RUNS,
                        help=f"rollouts per problem with --student-model (default {teacher.DEFAULT_STUDENT_RUNS})")  # fmt: skip
    parser.add_argument("--max-solutions", type=int, default=None,
                        help="at most this many verified solutions per problem (the paper kept up to 4; default: all)")  # fmt: skip
    parser.add_argument("--max-response-tokens", type=int, default=None, metavar="N",
                        help="drop verified solutions longer than N tokens of the --teacher-model tokenizer "
                        "(set it to verl's data.max_response_length; default: keep all)")  # fmt: skip
    from dissect_lrm.eval.options import add_generation_arguments

    add_output_dir_argument(parser, "out", required=True, help="output directory")
    add_generation_arguments(parser)  # its --seed also seeds the --sample-size draw
    parser.set_defaults(data_handler=_run_teacher)


def _run_teacher(args: argparse.Namespace) -> int:
    from dissect_lrm.data.teacher import Generator, TeacherSettings, build_teacher_set
    from dissect_lrm.eval.options import backend_options, generation_protocol

    protocol, options = generation_protocol(args), backend_options(args)
    teacher = Generator(args.teacher_model, args.teacher_name, args.backend, options, protocol)
    student = Generator(args.student_model, args.student_name, args.backend, options, protocol) if args.student_model else None  # fmt: skip
    settings = TeacherSettings(
        threshold=args.threshold,
        candidates=args.candidates,
        sample_size=args.sample_size,
        student_runs=args.student_runs,
        max_solutions=args.max_solutions,
        max_response_tokens=args.max_response_tokens,
        seed=args.seed,
    )
    report = build_teacher_set(
        args.train,
        args.out,
        teacher,
        student_store=args.student_store,
        student=student,
        settings=settings,
        progress=not args.no_progress,
        tokenizer=args.teacher_model if args.max_response_tokens is not None else None,
    )
    print(report.table())
    print(f"wrote {report.outputs['train']} and {report.outputs['report']}")
    return 0


def run(args: argparse.Namespace) -> int:
    """Dispatch a parsed ``data`` command (for the top-level ``dissect-lrm`` entry)."""
    # RuntimeError too: a teacher run's backend failures are reported like bad input
    return guarded(args.data_handler, catch=(RuntimeError,))(args)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="dissect-lrm", description="dissect-lrm data commands")
    add_commands(parser.add_subparsers(dest="command", required=True))
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
