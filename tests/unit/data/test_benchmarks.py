"""Benchmark builders: option parsing, label normalisation, malformed rows reported, hub converters."""

from __future__ import annotations

import json
import random

import pytest

from dissect_lrm.data.benchmarks import (
    BENCHMARKS,
    REPORT_FILE,
    benchmark_spec,
    build_benchmarks,
    convert_benchmark,
    convert_gaokao,
    convert_gpqa,
    convert_mmlu,
    format_report,
    parse_choices,
    records_from_rows,
)
from dissect_lrm.data.schema import SchemaError
from dissect_lrm.eval.benchmarks import load_benchmark

GPQA_TRAP = (
    "Pick reactant (A) and order B.\n(B) 1. diene, 2. triene\nAnswer Choices:\n"
    "(A) A = x, B = 3, 1\n(B) A = y, B = 4, 2\n(C) A = z\n(D) A = w (B) inside"
)


@pytest.mark.parametrize(
    ("problem", "expected"),
    [
        ("Q\nAnswer Choices:\n(A) 1\n(B) 2\n(C) 3\n(D) 4", {"A": "1", "B": "2", "C": "3", "D": "4"}),
        # MMLU layout: " \n" separators, trailing spaces
        ("Q to \nAnswer Choices: \n(A) up \n(B) down ", {"A": "up", "B": "down"}),
        # GaoKao marker
        ("集合 ( )\n从以下选项中选择:\n(A) $x>1$\n(B) $x<1$", {"A": "$x>1$", "B": "$x<1$"}),
        # a "(B)" in the stem and one inside an option are not options
        (GPQA_TRAP, {"A": "A = x, B = 3, 1", "B": "A = y, B = 4, 2", "C": "A = z", "D": "A = w (B) inside"}),
        # MMLU row with roman-numeral items before the marker
        (
            "Which?\n(I) [1, 3)\n(II) (0, 1]\nAnswer Choices: \n(A) Only (II) \n(B) (I) and (II)",
            {"A": "Only (II)", "B": "(I) and (II)"},
        ),
        # no marker: the last run starting at "(A)"; multi-line option text is kept
        ("Q\n(A) one\nmore\n(B) two", {"A": "one\nmore", "B": "two"}),
        ("Q\nAnswer Choices:\n(A) only one", None),
        ("no options at all", None),
        ("Q\nAnswer Choices:\n(B) starts at B\n(C) c", None),
    ],
)
def test_parse_choices(problem, expected):
    assert parse_choices(problem) == expected


def _write(directory, name, rows):
    path = directory / name
    path.write_text(json.dumps(rows, ensure_ascii=False))
    return path


@pytest.fixture
def bench_dir(tmp_path):
    directory = tmp_path / "benchmarks"
    directory.mkdir()
    _write(
        directory,
        "amc.json",
        [{"problem": "p1", "answer": 142.0, "url": "u"}, {"problem": "p2", "answer": 2.5}],
    )
    _write(
        directory,
        "minerva.json",
        [
            {"problem": "m1", "answer": ["9.6\n", "9.60"], "solution": "long", "idx": 0},
            {"problem": "m2", "answer": []},
        ],
    )
    mc = "Q{}\n从以下选项中选择:\n(A) a\n(B) b\n(C) c\n(D) d"
    _write(
        directory,
        "gaokao_math_qa.json",
        [
            {"problem": mc.format(0), "answer": "C"},
            {"problem": mc.format(1), "answer": "A B D"},
            {"problem": mc.format(2), "answer": "DA"},
            {"problem": mc.format(3), "answer": "E"},  # not an option: malformed
            {"problem": "no options", "answer": "A"},  # malformed
            {"problem": mc.format(5), "answer": "none"},  # no letter: malformed
        ],
    )
    return directory


def test_local_math_records(bench_dir, tmp_path):
    results = build_benchmarks(["amc23", "minerva"], tmp_path / "out", from_dir=bench_dir)
    amc = load_benchmark(tmp_path / "out" / "amc23.jsonl").problems
    assert [(r.id, r.answers, r.choices, r.task, r.source) for r in amc] == [
        ("amc23-0000", ("142",), None, "math", "amc23"),
        ("amc23-0001", ("2.5",), None, "math", "amc23"),
    ]
    assert amc[0].metadata["url"] == "u" and amc[0].metadata["source_index"] == 0
    minerva = load_benchmark(tmp_path / "out" / "minerva.jsonl").problems
    assert [r.answers for r in minerva] == [("9.6", "9.60")]
    assert "solution" not in minerva[0].metadata
    assert results[1].skipped == [
        {
            "index": 1,
            "key": "answer",
            "reason": f"{bench_dir / 'minerva.json'}: row 1: key 'answer': no answer in []",
        }
    ]


def test_multiple_choice_labels_and_skipped_rows(bench_dir, tmp_path):
    (result,) = build_benchmarks(["gaokao"], tmp_path / "out", from_dir=bench_dir)
    records = load_benchmark(tmp_path / "out" / "gaokao.jsonl").problems
    assert [r.answers for r in records] == [("C",), ("ABD",), ("AD",)]
    assert records[0].options == {"A": "a", "B": "b", "C": "c", "D": "d"}
    assert all(r.task == "multiple_choice" for r in records)
    assert [(s["index"], s["key"]) for s in result.skipped] == [(3, "answer"), (4, "problem"), (5, "answer")]
    report = json.loads((tmp_path / "out" / REPORT_FILE).read_text())
    assert report["benchmarks"][0]["written"] == 3 and len(report["benchmarks"][0]["skipped"]) == 3
    text = format_report([result])
    assert "| gaokao | multiple_choice | 6 | 3 | 3 | 351 |" in text
    assert "skipped gaokao row 4:" in text


def test_strict_mode_raises_with_file_row_and_key(bench_dir):
    with pytest.raises(SchemaError, match=r"gaokao_math_qa\.json: row 3: key 'answer'"):
        convert_benchmark("gaokao", from_dir=bench_dir, strict=True)


def test_non_object_rows_are_reported():
    result = records_from_rows(benchmark_spec("aime24"), [["a"], {"problem": "p", "answer": "1"}], "mem")
    assert [s["index"] for s in result.skipped] == [0] and len(result.records) == 1


def test_names_and_aliases():
    assert benchmark_spec("GPQA").name == "gpqa_diamond"
    assert benchmark_spec("math").name == "math500"
    assert list(BENCHMARKS) == [
        "aime24", "aime25", "amc23", "math500", "minerva", "olympiadbench", "gpqa_diamond", "mmlu_stem", "gaokao"
    ]  # fmt: skip
    with pytest.raises(ValueError, match="unknown benchmark 'aime23'"):
        benchmark_spec("aime23")


def test_build_needs_exactly_one_origin(tmp_path):
    with pytest.raises(ValueError, match="exactly one"):
        build_benchmarks(["aime24"], tmp_path)
    with pytest.raises(ValueError, match="exactly one"):
        build_benchmarks(["aime24"], tmp_path, from_dir=tmp_path, use_hub=True)
    with pytest.raises(FileNotFoundError, match="aime.json"):
        build_benchmarks(["aime24"], tmp_path, from_dir=tmp_path)


# ---------------------------------------------------------------- hub converters


def _gpqa_row(i: int) -> dict:
    return {
        "Question": f"Question {i}?",
        "Correct Answer": f"right {i}",
        **{f"Incorrect Answer {k}": f"wrong {i}.{k}" for k in (1, 2, 3)},
    }


def test_gpqa_converter_shuffles_with_seed_42_and_points_at_the_right_text():
    rows = [_gpqa_row(i) for i in range(12)]
    converted, _ = convert_gpqa(rows)
    assert converted == convert_gpqa(rows)[0]  # deterministic
    rng = random.Random(42)
    for i, item in enumerate(converted):
        options = [f"right {i}"] + [f"wrong {i}.{k}" for k in (1, 2, 3)]
        rng.shuffle(options)  # the original: one seeded stream, one shuffle per row in file order
        choices = parse_choices(item["problem"])
        assert list(choices.values()) == options
        assert choices[item["answer"]] == f"right {i}"
        assert item["problem"].startswith(f"Question {i}?\nAnswer Choices:\n(A) ")
    assert len({item["answer"] for item in converted}) > 1  # the correct answer is not always A


def test_mmlu_converter_keeps_stem_subjects_with_original_layout():
    rows = [
        {
            "question": "Speed of light?",
            "choices": ["c", "2c", "0", "1"],
            "answer": 0,
            "subject": "college_physics",
        },
        {
            "question": "Who wrote it?",
            "choices": ["a", "b", "c", "d"],
            "answer": 1,
            "subject": "world_religions",
        },
        {"question": "Broken", "choices": ["a"], "answer": 3, "subject": "astronomy"},
    ]
    converted, out_of_scope = convert_mmlu(rows)
    assert out_of_scope == {"subject=world_religions": 1}
    assert converted[0]["problem"] == "Speed of light? \nAnswer Choices: \n(A) c \n(B) 2c \n(C) 0 \n(D) 1"
    assert converted[0]["answer"] == "A"
    assert converted[1]["problem"] is None  # answer index out of range -> reported downstream


def test_gaokao_converter_reads_agieval_queries():
    rows = [
        {"query": "问题：设集合 A, 则 ( )  选项：(A)1 (B)2 (C)3 (D)4 答案：从A到D, 我们应选择", "choices": ["(A)1", "(B)2", "(C)3", "(D)4"], "gold": [3, 0]},
        {"query": "问题：x", "choices": ["(A)1", "(B)2"], "gold": []},
    ]  # fmt: skip
    converted, _ = convert_gaokao(rows)
    assert converted[0] == {
        "problem": "设集合 A, 则 ( )\n从以下选项中选择:\n(A) 1\n(B) 2\n(C) 3\n(D) 4",
        "answer": "AD",
    }
    assert converted[1]["problem"] is None


def test_hub_path_with_a_fake_loader(tmp_path):
    calls = []
    tables = {
        ("Hothan/OlympiadBench", "OE_TO_maths_en_COMP", "train"): [
            {"question": "Olympiad?", "final_answer": ["$\\frac{1}{2}$"], "id": 7}
        ],
        ("Idavidrein/gpqa", "gpqa_diamond", "train"): [_gpqa_row(0), _gpqa_row(1)],
        ("cais/mmlu", "all", "test"): [
            {"question": "q", "choices": ["1", "2", "3", "4"], "answer": 2, "subject": "machine_learning"},
            {"question": "q", "choices": ["1", "2", "3", "4"], "answer": 2, "subject": "marketing"},
        ],
    }

    def loader(path, name=None, split="train"):
        calls.append((path, name, split))
        return tables[(path, name, split)]

    results = build_benchmarks(
        ["olympiadbench", "gpqa_diamond", "mmlu_stem"], tmp_path / "out", use_hub=True, loader=loader
    )
    assert calls == list(tables)
    olympiad = load_benchmark(tmp_path / "out" / "olympiadbench.jsonl").problems
    assert olympiad[0].problem == "Olympiad?" and olympiad[0].answers == ("$\\frac{1}{2}$",)
    assert olympiad[0].metadata["id"] == 7
    assert results[0].origin == "hf://Hothan/OlympiadBench/OE_TO_maths_en_COMP[train]"
    gpqa = load_benchmark(tmp_path / "out" / "gpqa_diamond.jsonl").problems
    assert [gpqa[i].options[gpqa[i].answers[0]] for i in (0, 1)] == ["right 0", "right 1"]
    assert results[2].out_of_scope == {"subject=marketing": 1}
    assert [r.answers for r in load_benchmark(tmp_path / "out" / "mmlu_stem.jsonl").problems] == [("C",)]


def test_default_hub_loader_is_datasets_load_dataset(monkeypatch):
    import datasets

    calls = []

    def fake_load_dataset(path, name=None, split=None):
        calls.append((path, name, split))
        return [{"problem": "p", "answer": "3"}]

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    result = convert_benchmark("aime25")
    assert calls == [("yentinglin/aime_2025", None, "train")]
    assert result.records[0].answers == ("3",)
