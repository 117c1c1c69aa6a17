"""Training-set builders: DeepScaleR-40K and OpenThoughts-114K math (hub or local files) -> verl parquet."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dissect_lrm.data.io import LOCAL_SUFFIXES, hub_loader, progress, read_rows, write_json, write_parquet
from dissect_lrm.data.schema import (
    OFFLINE_SOLUTIONS_COLUMN,
    make_prompt,
    make_train_row,
    normalize_problem,
    strip_instruction,
    train_arrow_schema,
    validate_train_row,
)
from dissect_lrm.reward.extract import last_boxed

DROP_REASONS = ("malformed", "missing_answer", "duplicate", "too_long")
DEFAULT_VAL_SIZE = 200  # the RLR experiments held out 200 problems
TRAIN_FILE, VAL_FILE, REPORT_FILE = "train.parquet", "val.parquet", "build_report.json"

# A loader has the signature of ``datasets.load_dataset(path, name, split=...)`` and returns rows.
Loader = Callable[..., Iterable[Mapping[str, Any]]]


class RowError(ValueError):
    """Why one source row cannot become a training row; ``reason`` is one of ``DROP_REASONS``."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason, self.detail = reason, detail


@dataclass(frozen=True)
class Candidate:
    """A source row turned into (problem, answer), before de-duplication and the length filter."""

    origin: str  # source name or file path
    index: int  # row index in that source
    problem: str
    answer: str
    offline_solutions: list[str] | None = None


@dataclass
class SourceRows:
    """Rows of one source plus the rows the source's own definition leaves out (e.g. non-math domains)."""

    name: str
    data_source: str
    rows: list[Mapping[str, Any]]
    adapt: Callable[[Mapping[str, Any]], tuple[str, str, list[str] | None]]
    out_of_scope: dict[str, int] = field(default_factory=dict)


# ---------------------------------------------------------------- field adapters


def _clean_answer(value: Any) -> str:
    """One answer string; raises ``RowError`` for a missing or unusable answer."""
    if hasattr(value, "tolist") and not isinstance(value, str):
        value = value.tolist()
    if isinstance(value, (list, tuple)):
        if len(value) > 1:
            raise RowError("malformed", f"{len(value)} answers; a training ground truth is one string")
        value = value[0] if value else None
    if value is None or (isinstance(value, float) and value != value):  # None or NaN
        raise RowError("missing_answer", "no answer")
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise RowError("malformed", f"answer has type {type(value).__name__}")
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # AMC-style 142.0 is the integer 142
    text = str(value).strip()
    if not text:
        raise RowError("missing_answer", "empty answer")
    return text


def _clean_problem(value: Any) -> str:
    if value is None:
        raise RowError("malformed", "no problem text")
    if not isinstance(value, str):
        raise RowError("malformed", f"problem has type {type(value).__name__}")
    if not value.strip():
        raise RowError("malformed", "empty problem text")
    return value.strip()


def _clean_solutions(value: Any) -> list[str] | None:
    if value is None:
        return None
    if hasattr(value, "tolist") and not isinstance(value, str):
        value = value.tolist()
    if not isinstance(value, list) or not all(isinstance(s, str) for s in value):
        raise RowError("malformed", f"{OFFLINE_SOLUTIONS_COLUMN} must be a list of strings")
    return value


def _first(row: Mapping[str, Any], keys: Sequence[str]) -> Any:
    for key in keys:
        if key in row:
            return row[key]
    return None


def adapt_problem_answer(row: Mapping[str, Any]) -> tuple[str, str, list[str] | None]:
    """Generic local/hub row: ``problem``/``question`` + ``answer``; also accepts verl-format rows."""
    if not isinstance(row, Mapping):
        raise RowError("malformed", f"row is a {type(row).__name__}, not an object")
    problem = _first(row, ("problem", "question"))
    answer = _first(row, ("answer", "ground_truth", "final_answer"))
    if problem is None and "prompt" in row:  # an already-built verl row: rebuild it from its parts
        prompt = row["prompt"]
        prompt = prompt.tolist() if hasattr(prompt, "tolist") else prompt
        if not isinstance(prompt, list) or not prompt or not isinstance(prompt[-1], Mapping):
            raise RowError("malformed", "prompt is not a list of chat messages")
        problem = strip_instruction(str(prompt[-1].get("content", "")))
        reward = row.get("reward_model")
        answer = reward.get("ground_truth") if isinstance(reward, Mapping) else None
    solutions = _first(row, (OFFLINE_SOLUTIONS_COLUMN, "offline_samples_str_list"))
    return _clean_problem(problem), _clean_answer(answer), _clean_solutions(solutions)


def adapt_openthoughts(row: Mapping[str, Any]) -> tuple[str, str, list[str] | None]:
    """OpenThoughts metadata rows carry no answer field: the gold is the last box of the reference solution."""
    problem = _clean_problem(row.get("problem"))
    reference = row.get("ground_truth_solution")
    if not isinstance(reference, str) or not reference.strip():
        raise RowError("missing_answer", "no ground_truth_solution")
    boxed, _ = last_boxed(reference)
    if boxed is None:
        raise RowError("missing_answer", "ground_truth_solution has no \\boxed{} answer")
    return problem, _clean_answer(boxed), None


# ---------------------------------------------------------------- sources

DEEPSCALER_HUB = ("agentica-org/DeepScaleR-Preview-Dataset", None, "train")
OPENTHOUGHTS_HUB = ("open-thoughts/OpenThoughts-114k", "metadata", "train")
HUB_SOURCES = ("deepscaler", "openthoughts")


def deepscaler_source(loader: Loader | None = None) -> SourceRows:
    repo, config, split = DEEPSCALER_HUB
    rows = list((loader or hub_loader)(repo, config, split=split))
    return SourceRows("deepscaler", "deepscaler", rows, adapt_problem_answer)


def openthoughts_source(loader: Loader | None = None) -> SourceRows:
    """Only ``domain == "math"`` rows belong to this source; the others are counted, not built."""
    repo, config, split = OPENTHOUGHTS_HUB
    math_rows, other = [], Counter()
    for row in (loader or hub_loader)(repo, config, split=split):
        domain = row.get("domain")
        if domain == "math":
            math_rows.append(row)
        else:
            other[f"domain={domain}"] += 1
    return SourceRows("openthoughts", "openthoughts_math", math_rows, adapt_openthoughts, dict(other))


def file_source(path: str | Path) -> SourceRows:
    path = Path(path)
    return SourceRows(str(path), path.stem, read_rows(path), adapt_problem_answer)


def resolve_source(spec: str, loader: Loader | None = None) -> SourceRows:
    """``deepscaler`` | ``openthoughts`` (hub) or a path to a local JSON/JSONL/parquet file."""
    if spec == "deepscaler":
        return deepscaler_source(loader)
    if spec == "openthoughts":
        return openthoughts_source(loader)
    path = Path(spec)
    if path.suffix.lower() in LOCAL_SUFFIXES:
        if not path.is_file():
            raise FileNotFoundError(f"training source file not found: {path}")
        return file_source(path)
    raise ValueError(
        f"unknown training source {spec!r}: use {' | '.join(HUB_SOURCES)} or a .json/.jsonl/.parquet file"
    )


# ---------------------------------------------------------------- length filter


def prompt_lengths(
    tokenizer: Any, prompts: Sequence[list[dict[str, str]]], *, show_progress: bool = False
) -> list[int]:
    """Token counts as verl's overlong-prompt filter measures them: chat template + generation prompt."""
    lengths: list[int] = []
    chunk = 512
    starts = range(0, len(prompts), chunk)
    for start in progress(starts, desc="tokenize", total=len(starts), enabled=show_progress):
        batch = prompts[start : start + chunk]
        if getattr(tokenizer, "chat_template", None):
            texts = [
                tokenizer.apply_chat_template(m, add_generation_prompt=True, tokenize=False) for m in batch
            ]
        else:
            texts = [m[-1]["content"] for m in batch]
        # The rendered template already holds BOS etc.; adding special tokens would count them twice.
        encoded = tokenizer(texts, add_special_tokens=False, verbose=False)["input_ids"]
        lengths.extend(len(ids) for ids in encoded)
    return lengths


def fitting_solutions(
    tokenizer: Any, solutions: Sequence[str], max_response_tokens: int
) -> tuple[list[str], int]:
    """The offline solutions that fit ``max_response_tokens`` as a finished response (EOS included, the
    rule injection applies), and how many did not: a longer one would be cut at training time, scored
    wrong and injected as an off-policy negative."""
    from dissect_lrm.algos.injection import offline_response_ids

    if not solutions:
        return list(solutions), 0
    encoded = tokenizer(list(solutions), add_special_tokens=False, verbose=False)["input_ids"]
    eos = tokenizer.eos_token_id
    kept = [
        text
        for text, ids in zip(solutions, encoded, strict=True)
        if len(offline_response_ids(ids, eos)) <= max_response_tokens
    ]
    return kept, len(solutions) - len(kept)


def load_tokenizer(path: str | Path) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(path))


# ---------------------------------------------------------------- build


@dataclass
class BuildReport:
    """Every input row ends up kept (train or val) or dropped with a reason; ``check`` proves it."""

    sources: list[dict[str, Any]] = field(default_factory=list)
    dropped_rows: list[dict[str, Any]] = field(default_factory=list)
    train_rows: int = 0
    val_rows: int = 0
    solutions_too_long: int = 0  # offline solutions dropped by max_response_tokens (their rows stay)
    settings: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, str] = field(default_factory=dict)

    @property
    def input_rows(self) -> int:
        return sum(s["rows"] for s in self.sources)

    @property
    def dropped(self) -> dict[str, int]:
        counts = Counter(d["reason"] for d in self.dropped_rows)
        return {reason: counts.get(reason, 0) for reason in DROP_REASONS}

    def drop(self, origin: str, index: int, reason: str, detail: str) -> None:
        assert reason in DROP_REASONS, reason
        self.dropped_rows.append({"source": origin, "index": index, "reason": reason, "detail": detail})

    def check(self) -> None:
        accounted = self.train_rows + self.val_rows + len(self.dropped_rows)
        if accounted != self.input_rows:  # a bug here would mean a silently lost row
            raise AssertionError(f"{self.input_rows} input rows but {accounted} accounted for")

    def to_dict(self) -> dict[str, Any]:
        return {
            "input_rows": self.input_rows,
            "train_rows": self.train_rows,
            "val_rows": self.val_rows,
            "solutions_too_long": self.solutions_too_long,
            "dropped": self.dropped,
            "sources": self.sources,
            "settings": self.settings,
            "outputs": self.outputs,
            "dropped_rows": self.dropped_rows,
        }

    def table(self) -> str:
        lines = ["| source | rows | out of scope (not counted as input) |", "|---|---:|---|"]
        for s in self.sources:
            scope = ", ".join(f"{k}: {v}" for k, v in s["out_of_scope"].items()) or "-"
            lines.append(f"| {s['name']} | {s['rows']} | {scope} |")
        lines += ["", "| outcome | rows |", "|---|---:|", f"| input | {self.input_rows} |"]
        lines += [f"| dropped: {reason} | {count} |" for reason, count in self.dropped.items()]
        lines += [f"| train | {self.train_rows} |", f"| val | {self.val_rows} |"]
        if self.settings.get("max_response_tokens") is not None:
            lines += [f"| offline solutions over max_response_tokens (dropped) | {self.solutions_too_long} |"]
        return "\n".join(lines)


def collect_candidates(
    sources: Sequence[SourceRows], report: BuildReport, *, show_progress: bool = False
) -> list[tuple[Candidate, str]]:
    """Adapt every row; malformed / answerless / duplicate rows are recorded in the report."""
    first_seen: dict[str, str] = {}
    kept: list[tuple[Candidate, str]] = []
    for source in sources:
        report.sources.append(
            {"name": source.name, "rows": len(source.rows), "out_of_scope": source.out_of_scope}
        )
        for index, row in progress(
            enumerate(source.rows),
            desc=f"read {Path(source.name).name}",
            total=len(source.rows),
            enabled=show_progress,
        ):
            try:
                problem, answer, solutions = source.adapt(row)
            except RowError as error:
                report.drop(source.name, index, error.reason, error.detail)
                continue
            key = normalize_problem(problem)
            if key in first_seen:
                report.drop(source.name, index, "duplicate", f"same problem as {first_seen[key]}")
                continue
            first_seen[key] = f"{source.name}:{index}"
            kept.append((Candidate(source.name, index, problem, answer, solutions), source.data_source))
    return kept


def build_training_set(
    sources: Sequence[str | SourceRows],
    out_dir: str | Path,
    *,
    tokenizer: Any = None,
    max_prompt_tokens: int | None = None,
    max_response_tokens: int | None = None,
    val_size: int = DEFAULT_VAL_SIZE,
    seed: int = 0,
    data_source: str | None = None,
    loader: Loader | None = None,
    show_progress: bool = False,
) -> BuildReport:
    """Build ``train.parquet``, ``val.parquet`` and ``build_report.json`` under ``out_dir``.

    ``sources`` are ``"deepscaler"``, ``"openthoughts"``, local file paths, or ``SourceRows``.
    ``tokenizer`` is a tokenizer object or a path; it is required when ``max_prompt_tokens`` is set.
    The validation sample is ``val_size`` problems drawn with ``seed`` from the rows that survive
    every filter; it is disjoint from the training rows by construction. ``max_response_tokens`` (set it
    to verl's ``data.max_response_length``) drops offline solutions that would not fit a response; the
    report counts them.
    """
    if max_prompt_tokens is not None and max_prompt_tokens <= 0:
        raise ValueError(f"max_prompt_tokens must be positive, got {max_prompt_tokens}")
    if max_prompt_tokens is not None and tokenizer is None:
        raise ValueError("max_prompt_tokens needs a tokenizer (path or object)")
    if max_response_tokens is not None and (tokenizer is None or max_response_tokens <= 0):
        raise ValueError(
            f"max_response_tokens must be positive and needs a tokenizer, got {max_response_tokens}"
        )
    if val_size < 0:
        raise ValueError(f"val_size must be >= 0, got {val_size}")
    if isinstance(tokenizer, (str, Path)):
        tokenizer = load_tokenizer(tokenizer)
    out_dir = Path(out_dir)
    report = BuildReport(
        settings={
            "max_prompt_tokens": max_prompt_tokens,
            "max_response_tokens": max_response_tokens,
            "tokenizer": getattr(tokenizer, "name_or_path", None) if tokenizer is not None else None,
            "val_size": val_size,
            "seed": seed,
        }
    )
    resolved = [s if isinstance(s, SourceRows) else resolve_source(s, loader) for s in sources]
    candidates = collect_candidates(resolved, report, show_progress=show_progress)

    if max_prompt_tokens is not None:
        lengths = prompt_lengths(
            tokenizer, [make_prompt(c.problem) for c, _ in candidates], show_progress=show_progress
        )
        fitting = []
        for (candidate, source_name), length in zip(candidates, lengths):
            if length > max_prompt_tokens:
                report.drop(
                    candidate.origin,
                    candidate.index,
                    "too_long",
                    f"{length} > {max_prompt_tokens} prompt tokens",
                )
            else:
                fitting.append((candidate, source_name))
        candidates = fitting

    val_positions = set(random.Random(seed).sample(range(len(candidates)), min(val_size, len(candidates))))
    train_rows: list[dict[str, Any]] = []
    val_rows: list[dict[str, Any]] = []
    for position, (candidate, source_name) in enumerate(candidates):
        target, split = (val_rows, "test") if position in val_positions else (train_rows, "train")
        offline = candidate.offline_solutions
        if offline and max_response_tokens is not None:
            offline, too_long = fitting_solutions(tokenizer, offline, max_response_tokens)
            report.solutions_too_long += too_long
        row = make_train_row(
            candidate.problem,
            candidate.answer,
            data_source=data_source or source_name,
            split=split,
            index=len(target),
            source_index=candidate.index,
            offline_solutions=offline,
        )
        validate_train_row(row, file=candidate.origin, index=candidate.index)
        target.append(row)

    # The offline column exists only when some source has it; rows without solutions get [].
    with_offline = any(OFFLINE_SOLUTIONS_COLUMN in r for r in train_rows + val_rows)
    schema = train_arrow_schema(with_offline)
    if with_offline:
        for row in train_rows + val_rows:
            row.setdefault(OFFLINE_SOLUTIONS_COLUMN, [])
    report.train_rows, report.val_rows = len(train_rows), len(val_rows)
    report.check()
    report.outputs = {
        "train": str(write_parquet(out_dir / TRAIN_FILE, train_rows, schema)),
        "val": str(write_parquet(out_dir / VAL_FILE, val_rows, schema)),
        "report": str(out_dir / REPORT_FILE),
    }
    write_json(out_dir / REPORT_FILE, report.to_dict())
    return report
