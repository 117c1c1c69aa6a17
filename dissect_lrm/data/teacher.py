"""Offline teacher samples (appendix B.5): hard problems for the student, verified teacher solutions, parquet."""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from dissect_lrm.data.schema import (
    OFFLINE_SOLUTIONS_COLUMN,
    SchemaError,
    strip_instruction,
    validate_train_parquet,
    validate_train_row,
)
from dissect_lrm.data.train import fitting_solutions, load_tokenizer
from dissect_lrm.eval.benchmarks import Benchmark, EvalProblem, load_benchmark
from dissect_lrm.eval.protocols import EvalConfig, Protocol
from dissect_lrm.eval.store import Store, StoreError

DEFAULT_THRESHOLD = 0.25  # B.5: problems the student solves less than 25% of the time
DEFAULT_CANDIDATES = 4  # B.5: four teacher candidates per problem
DEFAULT_SAMPLE_SIZE = 2560  # B.5 / §4.3: 2,560 training problems
DEFAULT_STUDENT_RUNS = 8  # rollouts per problem when the student is evaluated here (as Figure 2)
STUDENT_PROTOCOL = "student"
TEACHER_PROTOCOL = "teacher"
TRAIN_FILE = "train_offline.parquet"
REPORT_FILE = "teacher_report.json"
# Every training problem ends in exactly one of these (the report counts them all).
OUTCOMES = ("kept", "not_sampled", "no_correct_candidate", "above_threshold", "not_evaluated")


# ------------------------------------------------------------------------------------------- datasets


def _as_list(value: Any) -> Any:
    return value.tolist() if hasattr(value, "tolist") and not isinstance(value, str) else value


def training_benchmark(path: str | Path, name: str | None = None) -> tuple[Benchmark, list[dict[str, Any]]]:
    """A verl training parquet as an eval ``Benchmark`` (same prompt text, id = extra_info.problem_id).

    Returns the benchmark and the validated rows in file order (row i is problem i). The eval protocol
    appends the same boxed instruction the training prompt ends with, so both see one prompt.
    """
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"training parquet not found: {path}")
    rows = pd.read_parquet(path).to_dict(orient="records")
    problems: list[EvalProblem] = []
    seen: dict[str, int] = {}
    for index, row in enumerate(rows):
        validate_train_row(row, file=path, index=index)
        prompt = _as_list(row["prompt"])
        problem_id = str(row["extra_info"]["problem_id"])
        if problem_id in seen:
            raise SchemaError(
                path,
                index,
                "extra_info.problem_id",
                f"duplicate id {problem_id!r} (first at row {seen[problem_id]})",
            )
        seen[problem_id] = index
        text = strip_instruction(prompt[-1]["content"]).strip()
        answer = str(row["reward_model"]["ground_truth"]).strip()
        problems.append(EvalProblem(problem_id, text, (answer,), str(row["data_source"])))
    if not problems:
        raise SchemaError(path, None, "<file>", "the training parquet has no rows")
    return Benchmark(name or path.stem, tuple(problems), str(path)), rows


def load_problems(path: str | Path, name: str | None = None) -> Benchmark:
    """A dataset for rollouts: a training parquet, or an eval set (.json/.jsonl in the eval schema)."""
    path = Path(path)
    if path.suffix == ".parquet":
        return training_benchmark(path, name)[0]
    return load_benchmark(path, name=name)


# ------------------------------------------------------------------------------------------ generation


@dataclass(frozen=True)
class Generator:
    """One model behind one evaluation backend, with the sampling protocol it is run under."""

    model: str
    model_name: str | None = None  # the store's model directory (default: derived from the path)
    backend: str = "hf"
    backend_options: dict[str, Any] = field(default_factory=dict)
    protocol: Protocol = field(default_factory=Protocol)

    def config(
        self, benchmark: Benchmark, output_dir: str | Path, protocol_name: str, runs: int
    ) -> EvalConfig:
        protocol = replace(self.protocol, name=protocol_name, runs=runs, runs_per_benchmark=())
        return EvalConfig(
            model=self.model,
            benchmarks=(benchmark,),
            protocols=(protocol,),
            output_dir=str(output_dir),
            model_name=self.model_name,
            backend=self.backend,  # type: ignore[arg-type]
            backend_options=dict(self.backend_options),
        )


def generate_store(
    generator: Generator,
    benchmark: Benchmark,
    output_dir: str | Path,
    protocol_name: str,
    runs: int,
    progress: bool = True,
) -> tuple[Path, dict[str, Any]]:
    """Fill (or resume) one eval store through the eval runner; returns its path and the runner's stats."""
    from dissect_lrm.eval.runner import run_eval

    config = generator.config(benchmark, output_dir, protocol_name, runs)
    [stats] = run_eval(config, progress=progress)
    return Path(stats["store"]), stats


def store_accuracy(store: Store) -> dict[str, tuple[int, int]]:
    """(correct, successful runs) per problem id of a store; failed runs are left out, never counted wrong."""
    counts: dict[str, list[int]] = {}
    for record in store.records().values():
        if record.ok:
            entry = counts.setdefault(record.problem_id, [0, 0])
            entry[0] += int(bool(record.correct))
            entry[1] += 1
    return {pid: (correct, total) for pid, (correct, total) in counts.items()}


def verified_solutions(store: Store, max_solutions: int | None = None) -> dict[str, list[str]]:
    """The graded-correct responses per problem id, in run order, without exact duplicates."""
    solutions: dict[str, list[str]] = {}
    for record in sorted(store.records().values(), key=lambda r: (r.problem_index, r.run)):
        if record.ok and record.correct and record.response:
            kept = solutions.setdefault(record.problem_id, [])
            if record.response not in kept and (max_solutions is None or len(kept) < max_solutions):
                kept.append(record.response)
    return solutions


# ------------------------------------------------------------------------------------------- pipeline


@dataclass(frozen=True)
class TeacherSettings:
    """What the pipeline selects and keeps (the numbers of appendix B.5 by default)."""

    threshold: float = DEFAULT_THRESHOLD  # hard: student accuracy strictly below it
    candidates: int = DEFAULT_CANDIDATES
    sample_size: int = DEFAULT_SAMPLE_SIZE
    student_runs: int = DEFAULT_STUDENT_RUNS
    max_solutions: int | None = None  # cap on verified solutions per problem (None: all distinct ones)
    max_response_tokens: int | None = (
        None  # drop solutions longer than a training response (needs a tokenizer)
    )
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0 < self.threshold <= 1:
            raise ValueError(f"threshold must be in (0, 1], got {self.threshold}")
        for key in ("candidates", "sample_size", "student_runs"):
            if getattr(self, key) < 1:
                raise ValueError(f"{key} must be >= 1, got {getattr(self, key)}")
        if self.max_solutions is not None and self.max_solutions < 1:
            raise ValueError(f"max_solutions must be >= 1, got {self.max_solutions}")


@dataclass
class TeacherReport:
    """Every training problem's outcome, the counts, the stores used and the files written."""

    settings: dict[str, Any]
    problems: list[dict[str, Any]]
    counts: dict[str, int]
    stores: dict[str, str]
    generation: dict[str, dict[str, Any]]
    outputs: dict[str, str]

    def to_json(self) -> dict[str, Any]:
        return {
            "settings": self.settings,
            "counts": self.counts,
            "stores": self.stores,
            "generation": self.generation,
            "outputs": self.outputs,
            "problems": self.problems,
        }

    def table(self) -> str:
        total = sum(self.counts.values())
        lines = [f"{'outcome':<22}{'problems':>10}{'share':>9}"]
        for outcome in OUTCOMES:
            count = self.counts.get(outcome, 0)
            lines.append(f"{outcome:<22}{count:>10}{(100 * count / total if total else 0):>8.1f}%")
        lines.append(f"{'total':<22}{total:>10}")
        return "\n".join(lines)


def _write_parquet(source: Path, indices: Sequence[int], solutions: Sequence[list[str]], path: Path) -> None:
    """The chosen rows of the source parquet, schema kept as is, with the verified solutions column."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pq.read_table(source)
    if OFFLINE_SOLUTIONS_COLUMN in table.column_names:  # a re-used file: its old solutions are not ours
        table = table.drop_columns([OFFLINE_SOLUTIONS_COLUMN])
    table = table.take(pa.array(list(indices), type=pa.int64()))
    column = pa.array([list(items) for items in solutions], type=pa.list_(pa.string()))
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table.append_column(OFFLINE_SOLUTIONS_COLUMN, column), path)


def build_teacher_set(
    train_file: str | Path,
    output_dir: str | Path,
    teacher: Generator,
    *,
    student_store: str | Path | None = None,
    student: Generator | None = None,
    settings: TeacherSettings | None = None,
    progress: bool = True,
    tokenizer: Any = None,
) -> TeacherReport:
    """Run the B.5 pipeline; resumable: the student and teacher stores under ``output_dir/stores`` resume.

    Student accuracy comes from ``student_store`` (an eval store of the student on this training set,
    matched by problem id) or from running ``student`` here. Problems below the threshold get
    ``candidates`` teacher samples, graded by the eval runner with the training reward; those with at
    least one correct sample are kept and ``sample_size`` of them are drawn with ``seed``. With
    ``settings.max_response_tokens`` (verl's ``data.max_response_length``), verified solutions longer
    than that (measured with ``tokenizer``, a path or object) are dropped before the draw and counted.
    """
    settings = settings or TeacherSettings()
    if settings.max_response_tokens is not None:
        if tokenizer is None:
            raise ValueError("max_response_tokens needs a tokenizer (path or object)")
        if isinstance(tokenizer, (str, Path)):
            tokenizer = load_tokenizer(tokenizer)
    solutions_too_long = 0
    train_file, output_dir = Path(train_file), Path(output_dir)
    stores_dir = output_dir / "stores"
    benchmark, _ = training_benchmark(train_file)
    ids = [problem.id for problem in benchmark.problems]
    generation: dict[str, dict[str, Any]] = {}

    if student_store is not None:
        student_path = Path(student_store)
        if not student_path.is_file():
            raise FileNotFoundError(f"student store not found: {student_path}")
        store = Store.read(student_path)
    elif student is not None:
        student_path, generation["student"] = generate_store(
            student, benchmark, stores_dir, STUDENT_PROTOCOL, settings.student_runs, progress
        )
        store = Store.read(student_path)
    else:
        raise ValueError(
            "give a student store (an eval of the student on the training set) or a student model"
        )
    accuracy = store_accuracy(store)
    overlap = set(accuracy) & set(ids)
    if not overlap:
        raise StoreError(
            f"{student_path}: none of its {len(accuracy)} problem ids matches extra_info.problem_id of {train_file} "
            f"(e.g. store {sorted(accuracy)[:3]} vs dataset {ids[:3]}); evaluate the student on this training set"
        )

    hard = [
        problem
        for problem in benchmark.problems
        if problem.id in accuracy and accuracy[problem.id][0] / accuracy[problem.id][1] < settings.threshold
    ]
    solutions: dict[str, list[str]] = {}
    candidates: dict[str, tuple[int, int]] = {}
    teacher_path: Path | None = None
    if hard:
        # The hard subset is a function of the student store and the threshold, so a rerun finds the
        # same benchmark fingerprint and resumes the same teacher store.
        hard_benchmark = Benchmark(f"{benchmark.name}_hard", tuple(hard), str(train_file))
        teacher_path, generation["teacher"] = generate_store(
            teacher, hard_benchmark, stores_dir, TEACHER_PROTOCOL, settings.candidates, progress
        )
        teacher_store = Store.read(teacher_path)
        solutions = verified_solutions(teacher_store, settings.max_solutions)
        if settings.max_response_tokens is not None:
            for pid, texts in solutions.items():
                solutions[pid], too_long = fitting_solutions(tokenizer, texts, settings.max_response_tokens)
                solutions_too_long += too_long
        candidates = store_accuracy(teacher_store)

    solvable = [pid for pid in ids if solutions.get(pid)]
    chosen = set(random.Random(settings.seed).sample(solvable, min(settings.sample_size, len(solvable))))
    problems: list[dict[str, Any]] = []
    for index, pid in enumerate(ids):
        correct, total = accuracy.get(pid, (0, 0))
        if pid not in accuracy:
            outcome = "not_evaluated"
        elif correct / total >= settings.threshold:
            outcome = "above_threshold"
        elif not solutions.get(pid):
            outcome = "no_correct_candidate"
        else:
            outcome = "kept" if pid in chosen else "not_sampled"
        teacher_correct, teacher_total = candidates.get(pid, (0, 0))
        problems.append(
            {
                "problem_id": pid,
                "row": index,
                "student_correct": correct,
                "student_runs": total,
                "student_accuracy": correct / total if total else None,
                "teacher_correct": teacher_correct,
                "teacher_candidates": teacher_total,
                "solutions": len(solutions.get(pid, [])),
                "outcome": outcome,
            }
        )
    counts = Counter(problem["outcome"] for problem in problems)
    kept_rows = [problem["row"] for problem in problems if problem["outcome"] == "kept"]
    output_dir.mkdir(parents=True, exist_ok=True)
    train_path, report_path = output_dir / TRAIN_FILE, output_dir / REPORT_FILE
    _write_parquet(train_file, kept_rows, [solutions[ids[row]] for row in kept_rows], train_path)
    validate_train_parquet(train_path)
    report = TeacherReport(
        settings={
            "train_file": str(train_file),
            "teacher_model": teacher.model,
            "student_model": student.model if student is not None and student_store is None else None,
            "threshold": settings.threshold,
            "candidates": settings.candidates,
            "sample_size": settings.sample_size,
            "student_runs": settings.student_runs,
            "max_solutions": settings.max_solutions,
            "max_response_tokens": settings.max_response_tokens,
            "solutions_too_long": solutions_too_long,
            "seed": settings.seed,
            "store_problems_not_in_dataset": len(set(accuracy) - set(ids)),
        },
        problems=problems,
        counts={outcome: counts.get(outcome, 0) for outcome in OUTCOMES},
        stores={"student": str(student_path), **({"teacher": str(teacher_path)} if teacher_path else {})},
        generation=generation,
        outputs={"train": str(train_path), "report": str(report_path)},
    )
    report_path.write_text(json.dumps(report.to_json(), indent=1, ensure_ascii=False))
    return report
