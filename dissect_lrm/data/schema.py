"""The training-row contract (verl parquet) with its validation; the eval schema is dissect_lrm.eval.benchmarks.EvalProblem."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

# The instruction the original release appended to every math prompt (one leading space, R1-distill style).
BOXED_INSTRUCTION = " Let's think step by step and output the final answer within \\boxed{}."
OFFLINE_SOLUTIONS_COLUMN = "offline_solutions"
TRAIN_COLUMNS = ("data_source", "prompt", "ability", "reward_model", "extra_info")
TRAIN_SPLITS = ("train", "test")

_SPACES = re.compile(r"\s+")


class SchemaError(ValueError):
    """A row that breaks a data contract; the message names the file, the row index and the key."""

    def __init__(self, file: str | Path | None, index: int | None, key: str, problem: str) -> None:
        self.file, self.index, self.key = (str(file) if file is not None else None), index, key
        where = f"{self.file or '<memory>'}: row {index if index is not None else '?'}"
        super().__init__(f"{where}: key {key!r}: {problem}")


def normalize_problem(text: str) -> str:
    """The text used for de-duplication: NFKC, case-folded, whitespace collapsed."""
    return _SPACES.sub(" ", unicodedata.normalize("NFKC", text)).strip().casefold()


def problem_id(text: str) -> str:
    """Stable id of a problem: a hash of its normalised text, so copies in any source share it."""
    return hashlib.sha256(normalize_problem(text).encode("utf-8")).hexdigest()[:16]


def make_prompt(problem: str) -> list[dict[str, str]]:
    """The chat messages verl tokenizes (the chat template adds the assistant/think opener)."""
    return [{"role": "user", "content": problem.strip() + BOXED_INSTRUCTION}]


def strip_instruction(content: str) -> str:
    """Inverse of ``make_prompt`` on one message: the problem text of an already-formatted prompt."""
    return content[: -len(BOXED_INSTRUCTION)] if content.endswith(BOXED_INSTRUCTION) else content


def make_train_row(
    problem: str,
    answer: str,
    *,
    data_source: str,
    split: str,
    index: int,
    source_index: int | None = None,
    offline_solutions: Sequence[str] | None = None,
) -> dict[str, Any]:
    """One verl RLHF row. ``offline_solutions`` adds the column the injection feature reads."""
    row: dict[str, Any] = {
        "data_source": data_source,
        "prompt": make_prompt(problem),
        "ability": "math",
        "reward_model": {"style": "rule", "ground_truth": answer},
        "extra_info": {
            "index": index,
            "split": split,
            "problem_id": problem_id(problem),
            # Row of the source this came from, so a report or a bug can point back at it.
            "source_index": -1 if source_index is None else source_index,
        },
    }
    if offline_solutions is not None:
        row[OFFLINE_SOLUTIONS_COLUMN] = list(offline_solutions)
    return row


def train_arrow_schema(with_offline_solutions: bool = False) -> Any:
    """The parquet types verl's RLHFDataset reads (plain ``string``, as in the original release's files)."""
    import pyarrow as pa

    message = pa.struct([("content", pa.string()), ("role", pa.string())])
    fields = [
        ("data_source", pa.string()),
        ("prompt", pa.list_(message)),
        ("ability", pa.string()),
        ("reward_model", pa.struct([("ground_truth", pa.string()), ("style", pa.string())])),
        (
            "extra_info",
            pa.struct(
                [
                    ("index", pa.int64()),
                    ("split", pa.string()),
                    ("problem_id", pa.string()),
                    ("source_index", pa.int64()),
                ]
            ),
        ),
    ]
    if with_offline_solutions:
        fields.append((OFFLINE_SOLUTIONS_COLUMN, pa.list_(pa.string())))
    return pa.schema(fields)


def _as_list(value: Any) -> Any:
    # parquet round trips turn lists into numpy arrays
    return value.tolist() if hasattr(value, "tolist") and not isinstance(value, str) else value


def _nonempty_str(value: Any) -> bool:
    return isinstance(value, str) and value.strip() != ""


def validate_train_row(
    row: Mapping[str, Any], *, file: str | Path | None = None, index: int | None = None
) -> None:
    """Raise ``SchemaError`` unless ``row`` is a verl training row of this project."""
    # Hand-written, not pydantic: one row is a few checks, and each failure must read as one
    # "file: row N: key K: problem" line, which pydantic's nested error lists would need rewriting into.

    def fail(key: str, problem: str) -> None:
        raise SchemaError(file, index, key, problem)

    for key in TRAIN_COLUMNS:
        if key not in row:
            fail(key, "missing column")
    if not isinstance(row["data_source"], str):
        fail("data_source", f"must be a string, got {type(row['data_source']).__name__}")
    prompt = _as_list(row["prompt"])
    if not isinstance(prompt, list) or not prompt:
        fail("prompt", "must be a non-empty list of chat messages")
    for position, message in enumerate(prompt):
        if not isinstance(message, Mapping) or set(message) < {"role", "content"}:
            fail(f"prompt[{position}]", "must be a mapping with 'role' and 'content'")
        if not _nonempty_str(message["content"]):
            fail(f"prompt[{position}].content", "must be a non-empty string")
    if prompt[-1]["role"] != "user":
        fail(f"prompt[{len(prompt) - 1}].role", f"last message must be 'user', got {prompt[-1]['role']!r}")
    if row["ability"] != "math":
        fail("ability", f"must be 'math', got {row['ability']!r}")
    reward = row["reward_model"]
    if not isinstance(reward, Mapping):
        fail("reward_model", "must be a mapping")
    if reward.get("style") != "rule":
        fail("reward_model.style", f"must be 'rule', got {reward.get('style')!r}")
    if not _nonempty_str(reward.get("ground_truth")):
        fail("reward_model.ground_truth", f"must be a non-empty string, got {reward.get('ground_truth')!r}")
    extra = row["extra_info"]
    if not isinstance(extra, Mapping):
        fail("extra_info", "must be a mapping")
    if not isinstance(extra.get("index"), int) or isinstance(extra.get("index"), bool):
        fail("extra_info.index", f"must be an integer, got {extra.get('index')!r}")
    if extra.get("split") not in TRAIN_SPLITS:
        fail("extra_info.split", f"must be one of {TRAIN_SPLITS}, got {extra.get('split')!r}")
    if not _nonempty_str(extra.get("problem_id")):
        fail("extra_info.problem_id", f"must be a non-empty string, got {extra.get('problem_id')!r}")
    if OFFLINE_SOLUTIONS_COLUMN in row:
        solutions = _as_list(row[OFFLINE_SOLUTIONS_COLUMN])
        if not isinstance(solutions, list) or not all(isinstance(s, str) for s in solutions):
            fail(OFFLINE_SOLUTIONS_COLUMN, "must be a list of strings")


def validate_train_parquet(path: str | Path) -> int:
    """Validate every row of a training parquet; returns the row count."""
    import pandas as pd

    frame = pd.read_parquet(path)
    for index, row in enumerate(frame.to_dict(orient="records")):
        validate_train_row(row, file=path, index=index)
    return len(frame)
