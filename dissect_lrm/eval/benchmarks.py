"""Evaluation benchmarks: the one eval-problem schema and the one loader (our JSONL/JSON/parquet, the original test JSONs)."""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from dissect_lrm.reward.multiple_choice import option_letters

Task = Literal["math", "multiple_choice"]
TASKS: tuple[str, ...] = ("math", "multiple_choice")

# File stem of the original release's test JSONs -> our canonical benchmark name (Table 5 names).
SHARED_FILES: dict[str, str] = {
    "aime": "aime24",
    "aime25": "aime25",
    "amc": "amc23",
    "math": "math500",
    "minerva": "minerva",
    "olympiad_bench": "olympiadbench",
    "gpqa_diamond": "gpqa",
    "mmlu_stem": "mmlu_stem",
    "gaokao_math_qa": "gaokao",
}
MULTIPLE_CHOICE_BENCHMARKS: frozenset[str] = frozenset({"gpqa", "mmlu_stem", "gaokao"})
# Where the shared benchmark files live next to the repository; DISSECT_LRM_BENCHMARKS overrides it.
DEFAULT_BENCHMARK_DIR = Path(__file__).resolve().parents[3] / "shared" / "data" / "benchmarks"
_LETTERS = re.compile(r"^[A-J](?:[\s,]*[A-J])*$")


class BenchmarkError(ValueError):
    """A malformed benchmark file or row; the message names the file, the row and the key."""


@dataclass(frozen=True)
class EvalProblem:
    """One problem of the eval schema (what `data benchmarks` writes and `eval` reads).

    answers: every accepted answer (Minerva lists several); for multiple choice, the gold letters
    (one sorted letter string per answer, e.g. "AD").
    choices: the option letters offered by the problem (multiple choice only), e.g. ("A", "B", "C", "D").
    options: {letter: option text} when the file carries it (the builders write it); the problem text
    keeps the options too, since that is what the model sees and the grader reads.
    metadata: small descriptive fields of the source row (year, level, source_index, ...).
    Only id, problem, answers, source and the choice letters make the fingerprint.
    """

    id: str
    problem: str
    answers: tuple[str, ...]
    source: str
    choices: tuple[str, ...] | None = None
    options: dict[str, str] | None = field(default=None, compare=False)
    metadata: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def task(self) -> Task:
        return "multiple_choice" if self.choices is not None else "math"

    def to_json(self) -> dict[str, Any]:
        """The fingerprinted fields (changing this moves every benchmark's fingerprint)."""
        return {
            "id": self.id,
            "problem": self.problem,
            "answers": list(self.answers),
            "choices": None if self.choices is None else list(self.choices),
            "source": self.source,
        }

    def to_record(self) -> dict[str, Any]:
        """One JSONL row of the eval schema: the fingerprinted fields, the task and the metadata."""
        if self.options is not None:
            choices: Any = dict(self.options)
        else:
            choices = None if self.choices is None else list(self.choices)
        return {
            "id": self.id,
            "problem": self.problem,
            "answers": list(self.answers),
            "choices": choices,
            "source": self.source,
            "task": self.task,
            "metadata": dict(self.metadata),
        }


@dataclass(frozen=True)
class Benchmark:
    """A named, ordered list of problems; `fingerprint` identifies its content (ids, problems, answers)."""

    name: str
    problems: tuple[EvalProblem, ...]
    path: str = ""
    fingerprint: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if not self.problems:
            raise BenchmarkError(f"{self.path or self.name}: the benchmark has no problems")
        seen: dict[str, int] = {}
        for index, problem in enumerate(self.problems):
            if problem.id in seen:
                raise BenchmarkError(
                    f"{self.path or self.name}: row {index} repeats id {problem.id!r} (first at row {seen[problem.id]})"
                )
            seen[problem.id] = index
        digest = hashlib.sha256()
        for problem in self.problems:
            digest.update(json.dumps(problem.to_json(), sort_keys=True, ensure_ascii=False).encode())
        object.__setattr__(self, "fingerprint", digest.hexdigest()[:16])

    @property
    def task(self) -> Task:
        tasks = {problem.task for problem in self.problems}
        return "multiple_choice" if tasks == {"multiple_choice"} else "math"

    def __len__(self) -> int:
        return len(self.problems)

    def head(self, limit: int | None) -> Benchmark:
        """The first `limit` problems (smoke tests); the fingerprint changes with them."""
        if limit is None or limit >= len(self.problems):
            return self
        return Benchmark(self.name, self.problems[:limit], self.path)


def _answer_strings(value: Any, where: str, key: str = "answer") -> tuple[str, ...]:
    """Normalise an `answer` cell: AMC's 142.0 is "142", Minerva/OlympiadBench lists stay lists."""
    items = value if isinstance(value, list) else [value]
    answers = []
    for item in items:
        if isinstance(item, bool) or item is None or isinstance(item, (dict, list)):
            raise BenchmarkError(f"{where}: key {key!r} holds {item!r}, expected a string or a number")
        if isinstance(item, float) and item.is_integer():
            item = int(item)
        text = str(item).strip()
        if not text:
            raise BenchmarkError(f"{where}: key {key!r} holds an empty answer")
        answers.append(text)
    if not answers:
        raise BenchmarkError(f"{where}: key {key!r} is an empty list")
    return tuple(answers)


def _choices_for(problem: str, answers: Sequence[str], where: str) -> tuple[str, ...]:
    letters = tuple(sorted(option_letters(problem)))
    if not letters:
        raise BenchmarkError(f"{where}: multiple-choice problem has no '(A) ...' option lines")
    for answer in answers:
        gold = {ch for ch in answer.upper() if "A" <= ch <= "J"}
        if not _LETTERS.match(answer.strip().upper()) or not gold <= set(letters):
            raise BenchmarkError(
                f"{where}: key 'answer' is {answer!r}, not a set of the offered letters {''.join(letters)}"
            )
    return letters


def _options(choices: dict, answers: Sequence[str], where: str) -> dict[str, str]:
    """A {letter: option text} cell: capital letters, text values, answers sorted sets of the letters."""
    for letter, text in choices.items():
        if not (isinstance(letter, str) and len(letter) == 1 and "A" <= letter <= "Z"):
            raise BenchmarkError(
                f"{where}: key 'choices' has option key {letter!r}, expected one capital letter"
            )
        if not isinstance(text, str):
            raise BenchmarkError(f"{where}: key 'choices.{letter}' must be the option text, got {text!r}")
    if len(choices) < 2:
        raise BenchmarkError(f"{where}: key 'choices' needs at least two options, got {len(choices)}")
    for answer in answers:
        if answer != "".join(sorted(set(answer))) or not set(answer) <= set(choices):
            raise BenchmarkError(
                f"{where}: key 'answers' holds {answer!r}, not a sorted set of the option letters {''.join(choices)}"
            )
    return dict(choices)


def _check_task_key(row: dict, choices: Any, where: str) -> None:
    """The builders' `task` key, when present, must agree with the choices."""
    if "task" not in row:
        return
    task = row["task"]
    if task not in TASKS:
        raise BenchmarkError(f"{where}: key 'task' must be one of {', '.join(TASKS)}, got {task!r}")
    if task == "multiple_choice" and choices is None:
        raise BenchmarkError(f"{where}: key 'choices' is missing, task 'multiple_choice' needs the options")
    if task == "math" and choices is not None:
        raise BenchmarkError(f"{where}: key 'choices' must be null for task 'math'")


def _require_text(row: dict, key: str, where: str) -> str:
    if key not in row:
        raise BenchmarkError(f"{where}: missing key {key!r} (keys: {sorted(row)})")
    value = row[key]
    if not isinstance(value, str) or not value.strip():
        raise BenchmarkError(f"{where}: key {key!r} must be a non-empty string, got {value!r}")
    return value


def parse_row(row: Any, index: int, name: str, path: str, task: Task | None) -> EvalProblem:
    """One row of either schema: ours ({id, problem, answers, choices, source}) or the original release's."""
    where = f"{path}: row {index}"
    if not isinstance(row, dict):
        raise BenchmarkError(f"{where}: expected a JSON object, got {type(row).__name__}")
    problem = _require_text(row, "problem", where)
    if "answers" in row:  # our schema
        answers = _answer_strings(row["answers"], where, "answers")
        choices, options = row.get("choices"), None
        _check_task_key(row, choices, where)
        if isinstance(choices, dict):
            # The builders store {letter: option text}; the letters are what grading needs.
            options = _options(choices, answers, where)
            choices = list(options)
        if choices is not None:
            if not isinstance(choices, list) or not all(isinstance(c, str) and c for c in choices):
                raise BenchmarkError(f"{where}: key 'choices' must be a list of option letters")
            choices = tuple(choices)
        elif task == "multiple_choice":
            choices = _choices_for(problem, answers, where)
        source = row.get("source") or name
        identifier = row.get("id", index)
        metadata = row.get("metadata", {})
        if not isinstance(metadata, dict):
            raise BenchmarkError(f"{where}: key 'metadata' must be a mapping, got {type(metadata).__name__}")
    elif "answer" in row:  # the original release's test JSON
        answers = _answer_strings(row["answer"], where)
        is_choice = task == "multiple_choice" or (task is None and name in MULTIPLE_CHOICE_BENCHMARKS)
        choices = _choices_for(problem, answers, where) if is_choice else None
        source, options, metadata = name, None, {}
        identifier = row.get("id", row.get("unique_id", index))
    else:
        raise BenchmarkError(f"{where}: missing key 'answers' (our schema) or 'answer' (original schema)")
    if task == "math" and choices is not None:
        raise BenchmarkError(f"{where}: row has choices but the benchmark was loaded as task='math'")
    if not isinstance(identifier, (str, int)) or isinstance(identifier, bool) or str(identifier) == "":
        raise BenchmarkError(
            f"{where}: key 'id' must be a non-empty string or an integer, got {identifier!r}"
        )
    return EvalProblem(str(identifier), problem, answers, str(source), choices, options, dict(metadata))


def _plain(value: Any) -> Any:
    """parquet cells to JSON-like values (numpy arrays to lists, numpy scalars to Python)."""
    if hasattr(value, "tolist"):
        return value.tolist()
    return value


def _read_rows(path: Path) -> list[Any]:
    if path.suffix == ".parquet":
        import pandas as pd

        return [
            {key: _plain(value) for key, value in row.items()}
            for row in pd.read_parquet(path).to_dict("records")
        ]
    if path.suffix == ".jsonl":
        rows = []
        with path.open(encoding="utf-8") as handle:
            for number, line in enumerate(handle):
                if not line.strip():
                    continue
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as error:
                    raise BenchmarkError(
                        f"{path}: row {number} (line {number + 1}) is not JSON: {error}"
                    ) from None
        return rows
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise BenchmarkError(f"{path}: not valid JSON: {error}") from None
    if isinstance(data, dict) and isinstance(data.get("problems"), list):
        return data["problems"]
    if not isinstance(data, list):
        raise BenchmarkError(f"{path}: expected a JSON list of rows (or {{'problems': [...]}})")
    return data


def canonical_name(path: Path) -> str:
    """aime.json -> aime24 (the original file names), anything else keeps its stem."""
    stem = path.name.removesuffix(".jsonl").removesuffix(".json").removesuffix(".parquet")
    return SHARED_FILES.get(stem, stem)


SPEC_KEYS: tuple[str, ...] = ("problem", "answer", "id", "task", "name")


def parse_spec(text: str) -> tuple[str, dict[str, str]]:
    """`PATH:problem=KEY,answer=KEY,id=KEY,task=math|multiple_choice,name=NAME` -> (PATH, settings).

    A user's own benchmark without a code change: which columns hold the problem, the answer(s) and
    the id, whether it is multiple choice, and the name its stores get. Without ':' the path is taken
    as is (our schema or the original release's).
    """
    path, colon, rest = text.rpartition(":")
    if not colon or "=" not in rest or not path:
        return text, {}
    settings: dict[str, str] = {}
    for item in rest.split(","):
        key, equals, value = item.partition("=")
        key = key.strip()
        if not equals or key not in SPEC_KEYS or not value.strip():
            raise BenchmarkError(
                f"benchmark spec {text!r}: expected KEY=VALUE with KEY in {', '.join(SPEC_KEYS)}, got {item!r}"
            )
        settings[key] = value.strip()
    if settings.get("task", "math") not in TASKS:
        raise BenchmarkError(f"benchmark spec {text!r}: task must be one of {', '.join(TASKS)}")
    return path, settings


def _mapped(row: Any, settings: dict[str, str], where: str) -> Any:
    """A row of a user's file in the original schema ({problem, answer, id}) by the spec's column names."""
    if not isinstance(row, dict):
        return row
    mapped = dict(row)
    for target in ("problem", "answer", "id"):
        source = settings.get(target)
        if source is None:
            continue
        if source not in row:
            raise BenchmarkError(
                f"{where}: missing column {source!r} (the spec's {target}=; columns: {sorted(row)})"
            )
        mapped[target] = row[source]
    if "answer" in settings:
        mapped.pop("answers", None)  # the spec's answer column wins over a stray `answers`
    return mapped


def load_benchmark(path: str | Path, name: str | None = None, task: Task | None = None) -> Benchmark:
    """Load a benchmark from .json (list of rows), .jsonl or .parquet in our schema or the original one.

    `path` may carry a spec (parse_spec): `data/mine.parquet:problem=question,answer=final,task=math`.

    task: force "math" or "multiple_choice"; by default multiple choice is known by name (gpqa,
    mmlu_stem, gaokao) or by a `choices` field. Every row must parse: errors name file, row and key.
    """
    text, settings = parse_spec(str(path))
    path = Path(text)
    task = task or settings.get("task")  # type: ignore[assignment]
    if task is not None and task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}, got {task!r}")
    if not path.is_file():
        raise FileNotFoundError(f"benchmark file not found: {path}")
    name = name or settings.get("name") or canonical_name(path)
    rows = [_mapped(row, settings, f"{path}: row {index}") for index, row in enumerate(_read_rows(path))]
    problems = tuple(parse_row(row, index, name, str(path), task) for index, row in enumerate(rows))
    return Benchmark(name, problems, str(path))


def benchmark_dir() -> Path:
    return Path(os.environ.get("DISSECT_LRM_BENCHMARKS", str(DEFAULT_BENCHMARK_DIR)))


def resolve_benchmark(spec: str, data_dir: str | Path | None = None, task: Task | None = None) -> Benchmark:
    """A path, or a name looked up in `data_dir` (default: ../shared/data/benchmarks or $DISSECT_LRM_BENCHMARKS).

    Names may be canonical (aime24, amc23, math500, gpqa, ...) or the original file stems (aime, amc, ...).
    """
    candidate = Path(parse_spec(spec)[0])
    if candidate.suffix in (".json", ".jsonl", ".parquet") or candidate.is_file():
        return load_benchmark(spec, task=task)
    directory = Path(data_dir) if data_dir is not None else benchmark_dir()
    stems = [spec] + [stem for stem, canonical in SHARED_FILES.items() if canonical == spec]
    for stem in stems:
        for suffix in (".jsonl", ".json"):
            if (directory / f"{stem}{suffix}").is_file():
                return load_benchmark(
                    directory / f"{stem}{suffix}", name=SHARED_FILES.get(stem, stem), task=task
                )
    known = sorted(set(SHARED_FILES.values()))
    raise FileNotFoundError(f"benchmark {spec!r} not found in {directory} (known names: {', '.join(known)})")


def list_benchmarks(data_dir: str | Path | None = None) -> list[dict[str, Any]]:
    """The built-in benchmark names: task, default runs (Table 5), and whether a file is in data_dir."""
    from dissect_lrm.eval.protocols import DEFAULT_RUNS, PAPER_RUNS

    directory = Path(data_dir) if data_dir is not None else benchmark_dir()
    rows = []
    for stem, name in SHARED_FILES.items():
        found = [
            directory / f"{stem}{suffix}"
            for suffix in (".jsonl", ".json")
            if (directory / f"{stem}{suffix}").is_file()
        ]
        rows.append({
            "name": name, "file_stem": stem,
            "task": "multiple_choice" if name in MULTIPLE_CHOICE_BENCHMARKS else "math",
            "default_runs": PAPER_RUNS.get(name, DEFAULT_RUNS), "path": str(found[0]) if found else None,
        })  # fmt: skip
    return rows


def write_benchmark(problems: Iterable[EvalProblem], path: str | Path) -> Path:
    """Write problems as JSONL in our eval schema (what the data commands produce)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as handle:
        for problem in problems:
            handle.write(json.dumps(problem.to_record(), ensure_ascii=False) + "\n")
    return path
