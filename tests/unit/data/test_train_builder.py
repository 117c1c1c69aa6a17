"""Training-set builder: every drop reason counted, de-duplication, seeded disjoint val split, hub path."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from dissect_lrm.data import train as train_mod
from dissect_lrm.data.io import atomic_path
from dissect_lrm.data.schema import BOXED_INSTRUCTION, problem_id, validate_train_parquet
from dissect_lrm.data.train import (
    DROP_REASONS,
    REPORT_FILE,
    TRAIN_FILE,
    VAL_FILE,
    SourceRows,
    adapt_problem_answer,
    build_training_set,
)


def _problems(path: Path) -> list[str]:
    frame = pd.read_parquet(path)
    return [p[-1]["content"][: -len(BOXED_INSTRUCTION)] for p in frame["prompt"]]


def test_every_drop_reason_is_counted_and_listed(source_files, tiny_tokenizer, tmp_path, expected_build):
    report = build_training_set(
        source_files, tmp_path / "out", tokenizer=tiny_tokenizer, max_prompt_tokens=200, val_size=2
    )
    assert report.dropped == expected_build["dropped"]
    assert report.input_rows == 9 + 4 + 2
    assert report.train_rows + report.val_rows == expected_build["kept"]
    assert (report.train_rows, report.val_rows) == (4, 2)
    on_disk = json.loads((tmp_path / "out" / REPORT_FILE).read_text())
    assert on_disk["dropped"] == expected_build["dropped"]
    listed = {(Path(d["source"]).name, d["index"], d["reason"]) for d in on_disk["dropped_rows"]}
    assert listed == {
        ("a.json", 2, "duplicate"),
        ("a.json", 3, "missing_answer"),
        ("a.json", 4, "missing_answer"),
        ("a.json", 5, "malformed"),
        ("a.json", 6, "malformed"),
        ("a.json", 7, "malformed"),
        ("b.jsonl", 1, "duplicate"),
        ("b.jsonl", 2, "missing_answer"),
        ("b.jsonl", 3, "too_long"),
    }
    table = report.table()
    for reason in DROP_REASONS:
        assert f"| dropped: {reason} | {expected_build['dropped'][reason]} |" in table


def test_duplicate_detail_points_at_the_first_copy(source_files, tmp_path):
    report = build_training_set(source_files, tmp_path / "out", val_size=0)
    details = {d["index"]: d["detail"] for d in report.dropped_rows if d["reason"] == "duplicate"}
    assert details[2].endswith("a.json:0")
    assert details[1].endswith("a.json:1")  # b.jsonl row 1 repeats a.json row 1 (case differs)


def test_without_length_filter_the_long_row_is_kept(source_files, tmp_path, expected_build):
    report = build_training_set(source_files, tmp_path / "out", val_size=0)
    assert report.dropped["too_long"] == 0
    assert report.train_rows == expected_build["kept"] + 1


def test_rows_match_the_verl_schema_and_answers_are_strings(source_files, tmp_path, expected_build):
    build_training_set(source_files, tmp_path / "out", val_size=0)
    path = tmp_path / "out" / TRAIN_FILE
    assert validate_train_parquet(path) == expected_build["kept"] + 1
    frame = pd.read_parquet(path)
    answers = dict(zip(_problems(path), (r["ground_truth"] for r in frame["reward_model"])))
    assert answers["What is 2 + 3?"] == "5"
    assert answers["What is 6 / 2?"] == "3"
    row = frame.iloc[0]
    assert row["prompt"][0]["role"] == "user"
    assert row["prompt"][0]["content"] == "What is 1 + 1?" + BOXED_INSTRUCTION
    assert row["extra_info"]["problem_id"] == problem_id("what is 1 + 1?")
    assert row["data_source"] == "a"
    assert list(frame["extra_info"].map(lambda e: e["index"])) == list(range(len(frame)))
    schema = pq.read_schema(path)
    assert str(schema.field("data_source").type) == "string"
    assert str(schema.field("reward_model").type) == "struct<ground_truth: string, style: string>"


def test_offline_solutions_column_is_carried_and_filled(source_files, tmp_path):
    build_training_set(source_files, tmp_path / "out", val_size=0)
    frame = pd.read_parquet(tmp_path / "out" / TRAIN_FILE)
    solutions = dict(zip(_problems(tmp_path / "out" / TRAIN_FILE), frame["offline_solutions"].map(list)))
    assert solutions["What is 10 - 1?"] == ["9\n</think>\n\\boxed{9}"]
    assert solutions["What is 10 - 2?"] == []
    assert solutions["What is 1 + 1?"] == []  # rows from sources without the column get an empty list


def test_no_offline_column_when_no_source_has_it(tmp_path, many_problems):
    src = tmp_path / "p.json"
    src.write_text(json.dumps(many_problems(5)))
    build_training_set([src], tmp_path / "out", val_size=1)
    assert "offline_solutions" not in pq.read_schema(tmp_path / "out" / TRAIN_FILE).names


def test_malformed_offline_solutions_are_dropped_with_reason(tmp_path):
    src = tmp_path / "p.json"
    src.write_text(json.dumps([{"problem": "x?", "answer": "1", "offline_solutions": [1, 2]}]))
    report = build_training_set([src], tmp_path / "out", val_size=0)
    assert report.dropped["malformed"] == 1
    assert "offline_solutions" in report.dropped_rows[0]["detail"]


def test_val_split_is_seeded_sized_and_disjoint(tmp_path, many_problems):
    src = tmp_path / "p.json"
    src.write_text(json.dumps(many_problems(60)))
    build_training_set([src], tmp_path / "a", val_size=20, seed=3)
    build_training_set([src], tmp_path / "b", val_size=20, seed=3)
    build_training_set([src], tmp_path / "c", val_size=20, seed=4)
    val_a, train_a = _problems(tmp_path / "a" / VAL_FILE), _problems(tmp_path / "a" / TRAIN_FILE)
    assert len(val_a) == 20 and len(train_a) == 40
    assert not set(val_a) & set(train_a)
    assert set(val_a) | set(train_a) == {r["problem"] for r in many_problems(60)}
    assert val_a == _problems(tmp_path / "b" / VAL_FILE)
    assert set(val_a) != set(_problems(tmp_path / "c" / VAL_FILE))
    splits = pd.read_parquet(tmp_path / "a" / VAL_FILE)["extra_info"].map(lambda e: e["split"])
    assert set(splits) == {"test"}


def test_val_size_larger_than_data_takes_everything(tmp_path, many_problems):
    src = tmp_path / "p.json"
    src.write_text(json.dumps(many_problems(3)))
    report = build_training_set([src], tmp_path / "out", val_size=200)
    assert (report.train_rows, report.val_rows) == (0, 3)
    assert pd.read_parquet(tmp_path / "out" / TRAIN_FILE).empty


def test_verl_format_parquet_is_accepted_as_a_source(tmp_path, many_problems):
    src = tmp_path / "p.json"
    src.write_text(json.dumps(many_problems(4)))
    build_training_set([src], tmp_path / "first", val_size=0)
    report = build_training_set([tmp_path / "first" / TRAIN_FILE], tmp_path / "second", val_size=0)
    assert report.train_rows == 4
    first = pd.read_parquet(tmp_path / "first" / TRAIN_FILE)
    second = pd.read_parquet(tmp_path / "second" / TRAIN_FILE)
    assert list(first["prompt"].map(lambda p: p[0]["content"])) == list(
        second["prompt"].map(lambda p: p[0]["content"])
    )
    assert list(first["reward_model"]) == list(second["reward_model"])


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ({"problem": "p", "answer": float("nan")}, "missing_answer"),
        ({"problem": "p", "answer": []}, "missing_answer"),
        ({"problem": "p", "answer": {"x": 1}}, "malformed"),
        ({"problem": "p", "answer": True}, "malformed"),
        ({"problem": None, "answer": "1"}, "malformed"),
        ({"prompt": "not messages", "reward_model": {"ground_truth": "1"}}, "malformed"),
    ],
)
def test_adapter_reasons(row, reason):
    with pytest.raises(train_mod.RowError) as info:
        adapt_problem_answer(row)
    assert info.value.reason == reason


def test_adapter_rejects_non_object_rows():
    with pytest.raises(train_mod.RowError, match="not an object"):
        adapt_problem_answer(["a", "b"])  # type: ignore[arg-type]


# ---------------------------------------------------------------- hub code path


def _fake_loader(tables: dict[tuple[str, str | None, str], list[dict]], calls: list):
    def loader(path, name=None, split="train"):
        calls.append((path, name, split))
        return tables[(path, name, split)]

    return loader


def test_deepscaler_from_the_hub(tmp_path):
    calls: list = []
    rows = [{"problem": "Hub 1?", "answer": "1", "solution": "..."}, {"problem": "Hub 2?", "answer": ""}]
    loader = _fake_loader({("agentica-org/DeepScaleR-Preview-Dataset", None, "train"): rows}, calls)
    report = build_training_set(["deepscaler"], tmp_path / "out", val_size=0, loader=loader)
    assert calls == [("agentica-org/DeepScaleR-Preview-Dataset", None, "train")]
    assert report.train_rows == 1 and report.dropped["missing_answer"] == 1
    assert pd.read_parquet(tmp_path / "out" / TRAIN_FILE)["data_source"].tolist() == ["deepscaler"]


def test_openthoughts_keeps_math_and_takes_the_boxed_gold(tmp_path):
    calls: list = []
    rows = [
        {"problem": "Math A?", "domain": "math", "ground_truth_solution": "so \\boxed{\\frac{1}{2}} done"},
        {"problem": "Code?", "domain": "code", "ground_truth_solution": "def f(): ..."},
        {"problem": "Math B?", "domain": "math", "ground_truth_solution": "no box here"},
        {"problem": "Math C?", "domain": "math", "ground_truth_solution": None},
        {"problem": "Bio?", "domain": "biology", "ground_truth_solution": "\\boxed{x}"},
    ]
    loader = _fake_loader({("open-thoughts/OpenThoughts-114k", "metadata", "train"): rows}, calls)
    report = build_training_set(["openthoughts"], tmp_path / "out", val_size=0, loader=loader)
    assert report.sources[0]["rows"] == 3
    assert report.sources[0]["out_of_scope"] == {"domain=code": 1, "domain=biology": 1}
    assert report.dropped["missing_answer"] == 2
    frame = pd.read_parquet(tmp_path / "out" / TRAIN_FILE)
    assert frame["reward_model"].tolist() == [{"ground_truth": "\\frac{1}{2}", "style": "rule"}]
    assert frame["data_source"].tolist() == ["openthoughts_math"]


def test_default_loader_is_datasets_load_dataset(tmp_path, monkeypatch):
    import datasets

    calls = []

    def fake_load_dataset(path, name=None, split=None):
        calls.append((path, name, split))
        return [{"problem": "From datasets?", "answer": "7"}]

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    report = build_training_set(["deepscaler"], tmp_path / "out", val_size=0)
    assert calls == [("agentica-org/DeepScaleR-Preview-Dataset", None, "train")]
    assert report.train_rows == 1


def test_sources_can_be_given_as_rows(tmp_path, many_problems):
    source = SourceRows("mem", "mem", many_problems(3), adapt_problem_answer)
    report = build_training_set([source], tmp_path / "out", val_size=1, data_source="override")
    assert report.train_rows == 2
    assert set(pd.read_parquet(tmp_path / "out" / TRAIN_FILE)["data_source"]) == {"override"}


# ---------------------------------------------------------------- errors and atomic writes


def test_argument_errors(tmp_path):
    with pytest.raises(ValueError, match="needs a tokenizer"):
        build_training_set(["x.json"], tmp_path, max_prompt_tokens=10)
    with pytest.raises(ValueError, match="val_size"):
        build_training_set(["x.json"], tmp_path, val_size=-1)
    with pytest.raises(ValueError, match="unknown training source"):
        build_training_set(["deepscale"], tmp_path)
    with pytest.raises(FileNotFoundError, match="missing.json"):
        build_training_set([tmp_path / "missing.json"], tmp_path)


def test_atomic_path_keeps_the_old_file_when_writing_fails(tmp_path):
    target = tmp_path / "report.json"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("crash mid-write")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]  # no temp file left behind


def test_atomic_path_replaces_on_success(tmp_path):
    target = tmp_path / "sub" / "f.txt"
    with atomic_path(target) as tmp:
        tmp.write_text("new")
    assert target.read_text() == "new"
    assert [p.name for p in target.parent.iterdir()] == ["f.txt"]


def test_offline_solutions_longer_than_a_response_are_dropped_and_counted(tmp_path, tiny_tokenizer):
    short, long = "9\n</think>\n\\boxed{9}", "Let me count slowly: " + "one more, " * 40 + "\\boxed{9}"
    src = tmp_path / "p.json"
    src.write_text(
        json.dumps([{"problem": "What is 10 - 1?", "answer": "9", "offline_solutions": [short, long]}])
    )
    n_short = len(tiny_tokenizer(short, add_special_tokens=False)["input_ids"]) + 1  # + EOS
    report = build_training_set(
        [src], tmp_path / "out", tokenizer=tiny_tokenizer, max_response_tokens=n_short, val_size=0
    )
    frame = pd.read_parquet(tmp_path / "out" / TRAIN_FILE)
    assert list(frame["offline_solutions"][0]) == [short]
    assert report.solutions_too_long == 1
    assert "| offline solutions over max_response_tokens (dropped) | 1 |" in report.table()
    # one token less and the short one does not fit either (its EOS counts)
    report = build_training_set(
        [src], tmp_path / "out2", tokenizer=tiny_tokenizer, max_response_tokens=n_short - 1, val_size=0
    )
    assert report.solutions_too_long == 2
