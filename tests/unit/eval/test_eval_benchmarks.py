"""Benchmark loaders: both schemas, answer normalisation, multiple choice, errors that name file/row/key."""

from __future__ import annotations

import json
import re

import pytest

from dissect_lrm.eval.benchmarks import (
    Benchmark,
    BenchmarkError,
    EvalProblem,
    load_benchmark,
    resolve_benchmark,
    write_benchmark,
)

GPQA_ROW = {"problem": "Which?\nAnswer Choices:\n(A) one\n(B) two\n(C) three\n(D) four", "answer": "C"}


def _write(path, rows):
    path.write_text(json.dumps(rows))
    return path


def test_original_schema_normalises_answers(tmp_path):
    path = _write(
        tmp_path / "amc.json",
        [{"problem": "p1", "answer": 142.0, "url": "u"}, {"problem": "p2", "answer": ["9.6\n", "9.60"]}],
    )
    bench = load_benchmark(path)
    assert bench.name == "amc23"  # original stem -> Table 5 name
    assert [p.answers for p in bench.problems] == [("142",), ("9.6", "9.60")]
    assert [p.id for p in bench.problems] == ["0", "1"]
    assert bench.task == "math" and bench.problems[0].choices is None


def test_multiple_choice_by_name_reads_option_letters(tmp_path):
    path = _write(tmp_path / "gpqa_diamond.json", [GPQA_ROW, {**GPQA_ROW, "answer": "A B D"}])
    bench = load_benchmark(path)
    assert bench.name == "gpqa" and bench.task == "multiple_choice"
    assert bench.problems[0].choices == ("A", "B", "C", "D")
    assert bench.problems[1].answers == ("A B D",)


def test_our_schema_roundtrip_and_fingerprint(tmp_path):
    problems = [
        EvalProblem("a", "What is 1+1?", ("2",), "toy"),
        EvalProblem("b", GPQA_ROW["problem"], ("C",), "toy", ("A", "B", "C", "D")),
    ]
    path = write_benchmark(problems, tmp_path / "toy.jsonl")
    bench = load_benchmark(path)
    assert bench.problems == tuple(problems)
    assert bench.fingerprint == Benchmark("toy", tuple(problems)).fingerprint
    changed = Benchmark("toy", (problems[0], EvalProblem("b", "other", ("C",), "toy", ("A", "B", "C", "D"))))
    assert changed.fingerprint != bench.fingerprint
    assert len(bench.head(1)) == 1 and bench.head(1).fingerprint != bench.fingerprint


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([{"problem": "x", "answer": "1"}, {"answer": "2"}], "row 1: missing key 'problem'"),
        ([{"problem": "x"}], "row 0: missing key 'answers' (our schema) or 'answer'"),
        ([{"problem": "x", "answer": None}], "row 0: key 'answer' holds None"),
        ([{"problem": "x", "answers": []}], "row 0: key 'answers' is an empty list"),
        ([{"problem": "", "answer": "1"}], "row 0: key 'problem' must be a non-empty string"),
        (
            [{"id": "a", "problem": "x", "answer": "1"}, {"id": "a", "problem": "y", "answer": "2"}],
            "row 1 repeats id 'a'",
        ),
        (["not an object"], "row 0: expected a JSON object"),
    ],
)
def test_malformed_rows_name_file_row_and_key(tmp_path, rows, message):
    path = _write(tmp_path / "bad.json", rows)
    with pytest.raises(BenchmarkError) as error:
        load_benchmark(path)
    assert message in str(error.value) and str(path) in str(error.value)


def test_multiple_choice_errors(tmp_path):
    path = _write(tmp_path / "gpqa_diamond.json", [GPQA_ROW, {**GPQA_ROW, "answer": "E"}])
    with pytest.raises(
        BenchmarkError, match=r"row 1: key 'answer' is 'E', not a set of the offered letters ABCD"
    ):
        load_benchmark(path)
    path = _write(tmp_path / "mmlu_stem.json", [{"problem": "no options here", "answer": "A"}])
    with pytest.raises(BenchmarkError, match="row 0: multiple-choice problem has no"):
        load_benchmark(path)


def test_jsonl_bad_line_is_named(tmp_path):
    path = tmp_path / "x.jsonl"
    path.write_text('{"problem": "a", "answers": ["1"]}\n{"problem": \n')
    with pytest.raises(BenchmarkError, match=r"row 1 \(line 2\) is not JSON"):
        load_benchmark(path)


def test_task_override_and_resolve_by_name(tmp_path):
    _write(tmp_path / "aime.json", [{"problem": "p", "answer": "204"}])
    assert resolve_benchmark("aime24", tmp_path).name == "aime24"
    assert resolve_benchmark("aime", tmp_path).name == "aime24"
    with pytest.raises(FileNotFoundError, match="known names"):
        resolve_benchmark("nope", tmp_path)
    _write(tmp_path / "letters.json", [GPQA_ROW])
    assert load_benchmark(tmp_path / "letters.json").task == "math"
    assert load_benchmark(tmp_path / "letters.json", task="multiple_choice").task == "multiple_choice"


EXPECTED_SIZES = {"aime24": 30, "aime25": 30, "amc23": 83, "math500": 500, "minerva": 272,
                  "olympiadbench": 675, "gpqa": 198, "mmlu_stem": 3018, "gaokao": 351}  # fmt: skip


def test_real_benchmarks_load(shared_dir):
    directory = shared_dir / "data" / "benchmarks"
    if not directory.is_dir():
        pytest.skip(f"{directory} absent")
    for name, size in EXPECTED_SIZES.items():
        bench = resolve_benchmark(name, directory)
        assert len(bench) == size, name
        assert bench.task == ("multiple_choice" if name in ("gpqa", "mmlu_stem", "gaokao") else "math")
    amc = resolve_benchmark("amc23", directory)
    assert all("." not in p.answers[0] for p in amc.problems[:5])  # 142.0 -> 142
    gaokao = resolve_benchmark("gaokao", directory)
    assert sum(len(set(p.answers[0]) - {" "}) > 1 for p in gaokao.problems) == 7  # multi-answer labels


def _record(**changes) -> dict:
    """A row as the data builders write it (choices as {letter: text}, task and metadata keys)."""
    record = {
        "id": "gpqa-0001",
        "problem": "Q?\nAnswer Choices:\n(A) x\n(B) y",
        "answers": ["B"],
        "choices": {"A": "x", "B": "y"},
        "source": "gpqa_diamond",
        "task": "multiple_choice",
        "metadata": {"source_index": 1},
    }
    record.update(changes)
    return record


def test_builder_rows_round_trip_through_jsonl(tmp_path):
    math = _record(id="m-1", task="math", choices=None, answers=["1/2", "0.5"], source="math500", metadata={})
    path = tmp_path / "set.jsonl"
    path.write_text(json.dumps(_record()) + "\n\n" + json.dumps(math) + "\n")
    problems = load_benchmark(path).problems
    assert [p.id for p in problems] == ["gpqa-0001", "m-1"]
    assert problems[0].choices == ("A", "B") and problems[0].options == {"A": "x", "B": "y"}
    assert problems[0].task == "multiple_choice" and problems[0].metadata == {"source_index": 1}
    assert problems[1].answers == ("1/2", "0.5") and problems[1].choices is None
    again = write_benchmark(problems, tmp_path / "again.jsonl").read_text().splitlines()
    assert [json.loads(line) for line in again] == [_record(), math]


@pytest.mark.parametrize(
    ("changes", "key"),
    [
        ({"answers": []}, "answers"),
        ({"answers": ["E"]}, "answers"),
        ({"answers": ["BA"]}, "answers"),  # letter sets are stored sorted
        ({"choices": None}, "choices"),
        ({"choices": {"a": "x", "B": "y"}}, "choices"),
        ({"choices": {"A": "x", "B": 2}}, "choices.B"),
        ({"task": "code"}, "task"),
        ({"problem": ""}, "problem"),
        ({"task": "math", "answers": ["1"]}, "choices"),  # math rows carry no choices
        ({"metadata": []}, "metadata"),
    ],
)
def test_builder_row_errors_name_file_row_and_key(tmp_path, changes, key):
    path = tmp_path / "set.jsonl"
    path.write_text(json.dumps(_record(id="first")) + "\n" + json.dumps(_record(**changes)) + "\n")
    with pytest.raises(BenchmarkError, match=rf"set\.jsonl: row 1: key '{re.escape(key)}'"):
        load_benchmark(path)
