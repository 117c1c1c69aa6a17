"""Small hand-made source files for the data-builder tests (JSON, JSONL, parquet)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

# Each row's fate is written next to it; the tests check the report against these comments.
JSON_ROWS = [
    {"problem": "What is 1 + 1?", "answer": "2"},  # kept
    {"problem": "What is 2 + 3?", "answer": 5},  # kept (int answer -> "5")
    {"problem": "  what is 1 +   1? ", "answer": "2"},  # duplicate of row 0 after normalisation
    {"problem": "What is 7 - 4?", "answer": ""},  # missing_answer (empty)
    {"problem": "What is 9 - 4?"},  # missing_answer (no field)
    {"problem": "", "answer": "3"},  # malformed (empty problem)
    {"problem": ["not", "text"], "answer": "3"},  # malformed (problem not a string)
    {"problem": "Name two primes.", "answer": ["2", "3"]},  # malformed (two answers)
    {"problem": "What is 6 / 2?", "answer": 3.0},  # kept (float 3.0 -> "3")
]
JSONL_ROWS = [
    {"question": "What is 4 * 4?", "answer": "16"},  # kept ("question" key)
    {"question": "WHAT IS 2 + 3?", "answer": "5"},  # duplicate of JSON row 1 (across files, case)
    {"question": "Compute 8 + 8.", "answer": None},  # missing_answer (null)
    {"question": "Compute " + "very " * 300 + "long 1 + 2.", "answer": "3"},  # too_long at 200 tokens
]
PARQUET_ROWS = [
    {"problem": "What is 10 - 1?", "answer": "9", "offline_solutions": ["9\n</think>\n\\boxed{9}"]},  # kept
    {"problem": "What is 10 - 2?", "answer": "8", "offline_solutions": []},  # kept
]
EXPECTED_DROPS = {"malformed": 3, "missing_answer": 3, "duplicate": 2, "too_long": 1}
EXPECTED_KEPT = 6


@pytest.fixture
def source_files(tmp_path: Path) -> list[Path]:
    json_path = tmp_path / "src" / "a.json"
    json_path.parent.mkdir()
    json_path.write_text(json.dumps(JSON_ROWS))
    jsonl_path = tmp_path / "src" / "b.jsonl"
    jsonl_path.write_text("\n".join(json.dumps(r) for r in JSONL_ROWS) + "\n")
    parquet_path = tmp_path / "src" / "c.parquet"
    pd.DataFrame(PARQUET_ROWS).to_parquet(parquet_path)
    return [json_path, jsonl_path, parquet_path]


@pytest.fixture(scope="session")
def tiny_tokenizer(tiny_kit):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_kit.model_dir)


def _many_problems(count: int) -> list[dict]:
    return [{"problem": f"What is {i} + {i}?", "answer": str(2 * i)} for i in range(count)]


@pytest.fixture
def many_problems():
    """``many_problems(n)``: n distinct, well-formed rows."""
    return _many_problems


@pytest.fixture
def expected_build() -> dict:
    """What building ``source_files`` must report (see the comments on the rows)."""
    return {"dropped": dict(EXPECTED_DROPS), "kept": EXPECTED_KEPT}
