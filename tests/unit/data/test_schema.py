"""Training-row contract: rows validate, and errors name file, row and key."""

from __future__ import annotations

import copy

import pandas as pd
import pytest

from dissect_lrm.data.schema import (
    BOXED_INSTRUCTION,
    SchemaError,
    make_train_row,
    normalize_problem,
    problem_id,
    strip_instruction,
    validate_train_parquet,
    validate_train_row,
)


def _row() -> dict:
    return make_train_row("What is 1+1?", "2", data_source="ds", split="train", index=3, source_index=7)


def test_train_row_shape():
    row = _row()
    validate_train_row(row)
    assert row["prompt"] == [{"role": "user", "content": "What is 1+1?" + BOXED_INSTRUCTION}]
    assert BOXED_INSTRUCTION == " Let's think step by step and output the final answer within \\boxed{}."
    assert row["reward_model"] == {"style": "rule", "ground_truth": "2"}
    assert row["extra_info"] == {
        "index": 3,
        "split": "train",
        "problem_id": problem_id("What is 1+1?"),
        "source_index": 7,
    }
    assert "offline_solutions" not in row
    with_solutions = make_train_row(
        "q", "1", data_source="d", split="test", index=0, offline_solutions=("a", "b")
    )
    assert with_solutions["offline_solutions"] == ["a", "b"]


def test_problem_id_is_a_stable_content_hash():
    assert problem_id("What is  1+1?\n") == problem_id("what is 1+1?")
    assert problem_id("What is 1+1?") != problem_id("What is 1+2?")
    assert problem_id("x") == "2d711642b726b044"  # sha256("x")[:16]: must never change between releases
    assert normalize_problem("  A\u00a0 B\tc ") == "a b c"  # NFKC turns the no-break space into a space


def test_strip_instruction_inverts_make_prompt():
    content = _row()["prompt"][0]["content"]
    assert strip_instruction(content) == "What is 1+1?"
    assert strip_instruction("no instruction") == "no instruction"


def _set(row: dict, dotted: str, value) -> dict:
    row = copy.deepcopy(row)
    *parents, last = dotted.split(".")
    target = row
    for key in parents:
        target = target[key]
    if value is _DELETE:
        del target[last]
    else:
        target[last] = value
    return row


_DELETE = object()


@pytest.mark.parametrize(
    ("key", "value", "named"),
    [
        ("prompt", _DELETE, "'prompt'"),
        ("prompt", [], "'prompt'"),
        ("prompt", [{"role": "user"}], "'prompt[0]'"),
        ("prompt", [{"role": "assistant", "content": "x"}], "'prompt[0].role'"),
        ("ability", "code", "'ability'"),
        ("data_source", None, "'data_source'"),
        ("reward_model.style", "model", "'reward_model.style'"),
        ("reward_model.ground_truth", "", "'reward_model.ground_truth'"),
        ("reward_model.ground_truth", ["1", "2"], "'reward_model.ground_truth'"),
        ("extra_info.index", "3", "'extra_info.index'"),
        ("extra_info.split", "dev", "'extra_info.split'"),
        ("extra_info.problem_id", _DELETE, "'extra_info.problem_id'"),
        ("offline_solutions", "one string", "'offline_solutions'"),
    ],
)
def test_train_row_errors_name_file_row_and_key(key, value, named):
    with pytest.raises(SchemaError) as info:
        validate_train_row(_set(_row(), key, value), file="data/train.parquet", index=12)
    message = str(info.value)
    assert message.startswith("data/train.parquet: row 12: key ")
    assert named in message
    assert info.value.index == 12 and info.value.file == "data/train.parquet"


def test_validate_train_parquet_points_at_the_bad_row(tmp_path):
    rows = [_row(), _set(_row(), "reward_model.ground_truth", "")]
    path = tmp_path / "t.parquet"
    pd.DataFrame(rows).to_parquet(path)
    with pytest.raises(SchemaError, match=r"t\.parquet: row 1: key 'reward_model\.ground_truth'"):
        validate_train_parquet(path)
    pd.DataFrame(rows[:1]).to_parquet(path)
    assert validate_train_parquet(path) == 1
