"""Benchmark builders: AIME24/25, AMC23, MATH-500, Minerva, OlympiadBench, GPQA, MMLU-STEM, GaoKao -> eval JSONL."""

from __future__ import annotations

import json
import random
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dissect_lrm.data.io import atomic_text, hub_loader, progress, read_rows, write_json
from dissect_lrm.data.schema import SchemaError, problem_id
from dissect_lrm.eval.benchmarks import EvalProblem, Task
from dissect_lrm.reward.multiple_choice import normalize_choice

REPORT_FILE = "benchmarks_report.json"
# Markers the original preprocessing put between the question and its options (GPQA/MMLU, GaoKao).
CHOICE_MARKERS = ("Answer Choices:", "从以下选项中选择:")
_OPTION_START = re.compile(r"(?:^|\n)[ \t]*\(([A-J])\)[ \t]?")
LETTERS = "ABCDEFGHIJ"

Loader = Callable[..., Iterable[Mapping[str, Any]]]
# Hub rows -> rows in the local-file shape ({"problem", "answer", ...}) + out-of-scope counts.
HubConverter = Callable[[list[Mapping[str, Any]]], tuple[list[dict[str, Any]], dict[str, int]]]


# ---------------------------------------------------------------- multiple-choice helpers


def parse_choices(problem: str) -> dict[str, str] | None:
    """Options "(A) ..." after the last choice marker (or the last "(A)" line); None if fewer than two.

    Options must run A, B, C, ... in order: a "(B)" inside the question stem or inside an option
    (GPQA has both) is text, not a new option.
    """
    starts = [problem.rfind(m) + len(m) for m in CHOICE_MARKERS if m in problem]
    if starts:
        block = problem[max(starts) :]
    else:
        firsts = [m.start() for m in _OPTION_START.finditer(problem) if m.group(1) == "A"]
        if not firsts:
            return None
        block = problem[firsts[-1] :]
    accepted: list[re.Match[str]] = []
    for match in _OPTION_START.finditer(block):
        if match.group(1) == LETTERS[len(accepted)]:
            accepted.append(match)
            if len(accepted) == len(LETTERS):
                break
    if len(accepted) < 2:
        return None
    choices = {}
    for position, match in enumerate(accepted):
        end = accepted[position + 1].start() if position + 1 < len(accepted) else len(block)
        choices[match.group(1)] = block[match.end() : end].strip()
    return choices


def format_choices(question: str, options: Sequence[str], marker: str, separator: str) -> str:
    """The original preprocessing's layout: question, marker, then "(A) text" lines."""
    lines = [question, marker] + [f"({LETTERS[i]}) {text}" for i, text in enumerate(options)]
    return separator.join(lines)


# ---------------------------------------------------------------- hub converters


def _rename(problem_key: str, answer_key: str) -> HubConverter:
    def convert(rows: list[Mapping[str, Any]]) -> tuple[list[dict[str, Any]], dict[str, int]]:
        out = []
        for row in rows:
            item = {k: v for k, v in row.items() if k not in (problem_key, answer_key)}
            item["problem"], item["answer"] = row.get(problem_key), row.get(answer_key)
            out.append(item)
        return out, {}

    return convert


def convert_gpqa(rows: list[Mapping[str, Any]]) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """GPQA CSV columns -> shuffled options, as the original: one ``random.seed(42)`` stream over rows in order."""
    rng = random.Random(42)
    out = []
    for row in rows:
        correct = row.get("Correct Answer")
        options = [correct] + [row.get(f"Incorrect Answer {i}") for i in (1, 2, 3)]
        rng.shuffle(options)
        if not isinstance(row.get("Question"), str) or not all(isinstance(o, str) for o in options):
            out.append({"problem": row.get("Question"), "answer": None})  # reported as malformed downstream
            continue
        options = [o.strip() for o in options]
        problem = format_choices(row["Question"].strip(), options, "Answer Choices:", "\n")
        out.append({"problem": problem, "answer": LETTERS[options.index(correct.strip())]})
    return out, {}


# The 18 MMLU subjects of the STEM split the original evaluated (3018 test questions).
MMLU_STEM_SUBJECTS = frozenset(
    {
        "abstract_algebra", "astronomy", "college_biology", "college_chemistry", "college_computer_science",
        "college_mathematics", "college_physics", "computer_security", "conceptual_physics",
        "electrical_engineering", "elementary_mathematics", "high_school_biology", "high_school_chemistry",
        "high_school_computer_science", "high_school_mathematics", "high_school_physics",
        "high_school_statistics", "machine_learning",
    }
)  # fmt: skip


def convert_mmlu(rows: list[Mapping[str, Any]]) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """``cais/mmlu`` rows of the STEM subjects; option layout joined by " \\n" as the original."""
    out, other = [], Counter()
    for row in rows:
        subject = row.get("subject") or row.get("type")
        if subject not in MMLU_STEM_SUBJECTS:
            other[f"subject={subject}"] += 1
            continue
        choices, answer = row.get("choices"), row.get("answer")
        choices = choices.tolist() if hasattr(choices, "tolist") else choices
        valid = isinstance(choices, list) and isinstance(answer, int) and 0 <= answer < len(choices)
        problem = (
            format_choices(
                str(row.get("question", "")).strip(), [str(c) for c in choices], "Answer Choices:", " \n"
            )
            if valid
            else None
        )
        out.append({"problem": problem, "answer": LETTERS[answer] if valid else None, "subject": subject})
    return out, dict(other)


_GAOKAO_QUESTION = re.compile(r"^\s*问题：\s*(.*?)\s*(?:选项：.*)?$", re.S)
_OPTION_PREFIX = re.compile(r"^\s*\(?[A-J]\)\s*")


def convert_gaokao(rows: list[Mapping[str, Any]]) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """AGIEval hub rows (``query`` "问题：... 选项：...", ``choices`` "(A)...", ``gold`` indices) -> original layout."""
    out = []
    for row in rows:
        query, choices, gold = row.get("query"), row.get("choices"), row.get("gold")
        choices = choices.tolist() if hasattr(choices, "tolist") else choices
        gold = gold.tolist() if hasattr(gold, "tolist") else gold
        if not (isinstance(query, str) and isinstance(choices, list) and isinstance(gold, list) and gold):
            out.append({"problem": None, "answer": None})
            continue
        match = _GAOKAO_QUESTION.match(query)
        question = match.group(1) if match else query.strip()
        options = [_OPTION_PREFIX.sub("", str(c)).strip() for c in choices]
        problem = format_choices(question, options, "从以下选项中选择:", "\n")
        answer = "".join(sorted(LETTERS[i] for i in gold if isinstance(i, int) and 0 <= i < len(options)))
        out.append({"problem": problem, "answer": answer or None})
    return out, {}


# ---------------------------------------------------------------- specs


@dataclass(frozen=True)
class HubSource:
    path: str
    config: str | None
    split: str
    convert: HubConverter


@dataclass(frozen=True)
class BenchmarkSpec:
    name: str
    task: Task
    filename: str  # name of the original release's test JSON (../shared/data/benchmarks)
    expected_rows: int
    hub: HubSource


_SAME = _rename("problem", "answer")
BENCHMARKS: dict[str, BenchmarkSpec] = {
    spec.name: spec
    for spec in (
        BenchmarkSpec("aime24", "math", "aime.json", 30, HubSource("HuggingFaceH4/aime_2024", None, "train", _SAME)),
        BenchmarkSpec("aime25", "math", "aime25.json", 30, HubSource("yentinglin/aime_2025", None, "train", _SAME)),
        BenchmarkSpec("amc23", "math", "amc.json", 83, HubSource("AI-MO/aimo-validation-amc", None, "train", _SAME)),
        BenchmarkSpec("math500", "math", "math.json", 500, HubSource("HuggingFaceH4/MATH-500", None, "test", _SAME)),
        BenchmarkSpec(
            "minerva", "math", "minerva.json", 272,
            HubSource("math-ai/minervamath", None, "test", _rename("question", "answer")),
        ),
        BenchmarkSpec(
            "olympiadbench", "math", "olympiad_bench.json", 675,
            HubSource("Hothan/OlympiadBench", "OE_TO_maths_en_COMP", "train", _rename("question", "final_answer")),
        ),
        BenchmarkSpec(
            "gpqa_diamond", "multiple_choice", "gpqa_diamond.json", 198,
            HubSource("Idavidrein/gpqa", "gpqa_diamond", "train", convert_gpqa),
        ),
        BenchmarkSpec(
            "mmlu_stem", "multiple_choice", "mmlu_stem.json", 3018,
            HubSource("cais/mmlu", "all", "test", convert_mmlu),
        ),
        BenchmarkSpec(
            "gaokao", "multiple_choice", "gaokao_math_qa.json", 351,
            HubSource("hails/agieval-gaokao-mathqa", None, "test", convert_gaokao),
        ),
    )
}  # fmt: skip
ALIASES = {"aime": "aime24", "amc": "amc23", "math": "math500", "math-500": "math500", "olympiad_bench": "olympiadbench",
           "gpqa": "gpqa_diamond", "mmlu": "mmlu_stem", "gaokao_math_qa": "gaokao"}  # fmt: skip


def benchmark_spec(name: str) -> BenchmarkSpec:
    key = ALIASES.get(name.lower(), name.lower())
    if key not in BENCHMARKS:
        raise ValueError(f"unknown benchmark {name!r}; known: {', '.join(BENCHMARKS)}")
    return BENCHMARKS[key]


# ---------------------------------------------------------------- rows -> records


def _answers(value: Any) -> list[str]:
    if hasattr(value, "tolist") and not isinstance(value, str):
        value = value.tolist()
    items = value if isinstance(value, (list, tuple)) else [value]
    out = []
    for item in items:
        if item is None or isinstance(item, bool) or not isinstance(item, (str, int, float)):
            raise ValueError(f"answer item {item!r} is not a string or number")
        if isinstance(item, float) and item.is_integer():
            item = int(item)  # AMC stores 142.0 for the integer answer 142
        text = str(item).strip()  # Minerva answers carry a trailing newline
        if text:
            out.append(text)
    if not out:
        raise ValueError(f"no answer in {value!r}")
    return out


def _metadata(row: Mapping[str, Any]) -> dict[str, Any]:
    """Small descriptive fields (year, level, subject, ids); long texts like solutions stay out."""
    keep = {}
    for key, value in row.items():
        if key in ("problem", "answer", "solution") or key.startswith("__"):
            continue
        if (
            value is None
            or isinstance(value, (bool, int, float))
            or (isinstance(value, str) and len(value) <= 200)
        ):
            keep[key] = value
    return keep


def record_from_row(spec: BenchmarkSpec, row: Mapping[str, Any], index: int, file: str | Path) -> EvalProblem:
    """One eval problem with its option texts and metadata; raises ``SchemaError`` (file, row, key) for a malformed row."""
    if not isinstance(row, Mapping):
        raise SchemaError(file, index, "<row>", f"row is a {type(row).__name__}, not an object")
    problem = row.get("problem")
    if not isinstance(problem, str) or not problem.strip():
        raise SchemaError(file, index, "problem", f"must be a non-empty string, got {problem!r:.80}")
    try:
        answers = _answers(row.get("answer"))
    except ValueError as error:
        raise SchemaError(file, index, "answer", str(error)) from error
    choices = None
    if spec.task == "multiple_choice":
        choices = parse_choices(problem)
        if choices is None:
            raise SchemaError(
                file, index, "problem", "no '(A) ... (B) ...' options found in the problem text"
            )
        try:
            labels = sorted({normalize_choice(a) for a in answers})
        except ValueError as error:
            raise SchemaError(file, index, "answer", str(error)) from error
        # normalize_choice keeps any A-J letter ("none" -> "E"), so check against the real options
        if any(not set(label) <= set(choices) for label in labels):
            raise SchemaError(
                file, index, "answer", f"label {answers} names no option among {''.join(choices)}"
            )
        answers = labels
    metadata = _metadata(row) | {"source_index": index, "problem_hash": problem_id(problem)}
    return EvalProblem(
        id=f"{spec.name}-{index:04d}",
        problem=problem,
        answers=tuple(answers),
        source=spec.name,
        choices=None if choices is None else tuple(choices),
        options=choices,
        metadata=metadata,
    )


@dataclass
class BenchmarkResult:
    name: str
    origin: str  # file path or hub id
    input_rows: int
    records: list[EvalProblem]
    skipped: list[dict[str, Any]] = field(default_factory=list)
    out_of_scope: dict[str, int] = field(default_factory=dict)
    output: str | None = None

    def summary(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "origin": self.origin,
            "input_rows": self.input_rows,
            "written": len(self.records),
            "skipped": self.skipped,
            "out_of_scope": self.out_of_scope,
            "output": self.output,
        }


def records_from_rows(
    spec: BenchmarkSpec, rows: Sequence[Mapping[str, Any]], origin: str | Path, *, strict: bool = False
) -> BenchmarkResult:
    """Convert rows; a malformed row raises (``strict``) or is skipped and listed with its index and key."""
    result = BenchmarkResult(spec.name, str(origin), len(rows), [])
    for index, row in enumerate(rows):
        try:
            result.records.append(record_from_row(spec, row, index, origin))
        except SchemaError as error:
            if strict:
                raise
            result.skipped.append({"index": index, "key": error.key, "reason": str(error)})
    return result


def convert_benchmark(
    name: str,
    *,
    from_dir: str | Path | None = None,
    from_file: str | Path | None = None,
    loader: Loader | None = None,
    strict: bool = False,
) -> BenchmarkResult:
    """Convert one benchmark's source rows (a local file, a directory of the original test JSONs, or the hub).

    Reading an already-built benchmark file is ``dissect_lrm.eval.benchmarks.load_benchmark``.
    """
    spec = benchmark_spec(name)
    if from_file is not None or from_dir is not None:
        path = Path(from_file) if from_file is not None else Path(from_dir) / spec.filename  # type: ignore[arg-type]
        if not path.is_file():
            raise FileNotFoundError(f"{spec.name}: benchmark file not found: {path}")
        return records_from_rows(spec, read_rows(path), path, strict=strict)
    hub = spec.hub
    rows, out_of_scope = hub.convert(list((loader or hub_loader)(hub.path, hub.config, split=hub.split)))
    origin = f"hf://{hub.path}" + (f"/{hub.config}" if hub.config else "") + f"[{hub.split}]"
    result = records_from_rows(spec, rows, origin, strict=strict)
    result.out_of_scope = out_of_scope
    return result


def write_eval_set(path: str | Path, records: Sequence[EvalProblem]) -> Path:
    """The eval JSONL, written atomically (a crashed build leaves the old file or none)."""
    with atomic_text(path) as handle:
        for record in records:
            handle.write(json.dumps(record.to_record(), ensure_ascii=False) + "\n")
    return Path(path)


def build_benchmarks(
    names: Sequence[str],
    out_dir: str | Path,
    *,
    from_dir: str | Path | None = None,
    loader: Loader | None = None,
    strict: bool = False,
    use_hub: bool = False,
    show_progress: bool = False,
) -> list[BenchmarkResult]:
    """Write ``<name>.jsonl`` per benchmark and ``benchmarks_report.json`` under ``out_dir``."""
    if (from_dir is None) == (not use_hub):
        raise ValueError("give exactly one of from_dir (local test JSONs) or use_hub=True")
    out_dir = Path(out_dir)
    specs = [benchmark_spec(n) for n in names]
    results = []
    for spec in progress(specs, desc="benchmarks", total=len(specs), enabled=show_progress):
        result = convert_benchmark(spec.name, from_dir=from_dir, loader=loader, strict=strict)
        result.output = str(write_eval_set(out_dir / f"{spec.name}.jsonl", result.records))
        results.append(result)
    write_json(out_dir / REPORT_FILE, {"benchmarks": [r.summary() for r in results]})
    return results


def format_report(results: Sequence[BenchmarkResult]) -> str:
    lines = [
        "| benchmark | task | input | written | skipped (malformed) | expected |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for r in results:
        spec = BENCHMARKS[r.name]
        lines.append(
            f"| {r.name} | {spec.task} | {r.input_rows} | {len(r.records)} | {len(r.skipped)} | {spec.expected_rows} |"
        )
    for r in results:
        for skip in r.skipped:
            lines.append(f"skipped {r.name} row {skip['index']}: {skip['reason']}")
    return "\n".join(lines)
