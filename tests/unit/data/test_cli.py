"""``dissect-lrm data ...`` through ``dissect_lrm.data.cli.main``: outputs, help and user errors."""

from __future__ import annotations

import argparse
import json

import pandas as pd
import pytest

from dissect_lrm.data.cli import add_commands, main
from dissect_lrm.eval.benchmarks import load_benchmark


def test_train_command_writes_parquet_and_prints_the_table(
    source_files, tiny_kit, tmp_path, capsys, expected_build
):
    out = tmp_path / "out"
    argv = ["data", "train", "--source", *map(str, source_files), "--tokenizer", str(tiny_kit.model_dir)]
    argv += [
        "--max-prompt-tokens",
        "200",
        "--val-size",
        "2",
        "--seed",
        "1",
        "--output-dir",
        str(out),
        "--no-progress",
    ]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "| dropped: too_long | 1 |" in printed and "| val | 2 |" in printed
    assert (
        len(pd.read_parquet(out / "train.parquet")) + len(pd.read_parquet(out / "val.parquet"))
        == expected_build["kept"]
    )
    report = json.loads((out / "build_report.json").read_text())
    assert report["settings"]["max_prompt_tokens"] == 200 and report["settings"]["seed"] == 1
    assert report["dropped"] == expected_build["dropped"]


def test_train_command_data_source_override(source_files, tmp_path):
    out = tmp_path / "out"
    assert main(["data", "train", "--source", str(source_files[0]), "--data-source", "mine", "--val-size", "0",
                 "--output-dir", str(out), "--no-progress"]) == 0  # fmt: skip
    assert set(pd.read_parquet(out / "train.parquet")["data_source"]) == {"mine"}


def test_benchmarks_command(tmp_path, capsys):
    src = tmp_path / "bench"
    src.mkdir()
    (src / "aime.json").write_text(json.dumps([{"problem": "p", "answer": "12"}]))
    (src / "gpqa_diamond.json").write_text(
        json.dumps([{"problem": "Q\nAnswer Choices:\n(A) 1\n(B) 2", "answer": "B"}])
    )
    out = tmp_path / "out"
    argv = [
        "data",
        "benchmarks",
        "--names",
        "aime24,gpqa",
        "--from-dir",
        str(src),
        "--output-dir",
        str(out),
        "--no-progress",
    ]
    assert main(argv) == 0
    assert "| gpqa_diamond | multiple_choice | 1 | 1 | 0 | 198 |" in capsys.readouterr().out
    assert load_benchmark(out / "aime24.jsonl").problems[0].answers == ("12",)
    assert load_benchmark(out / "gpqa_diamond.jsonl").problems[0].options == {"A": "1", "B": "2"}


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["data", "train", "--source", "x.json", "--max-prompt-tokens", "5", "--output-dir", "o"],
            "needs --tokenizer",
        ),
        (["data", "train", "--source", "nowhere.json", "--output-dir", "o"], "not found: nowhere.json"),
        (["data", "train", "--source", "huggingface", "--output-dir", "o"], "unknown training source"),
        (
            ["data", "benchmarks", "--names", "aime23", "--from-dir", ".", "--output-dir", "o"],
            "unknown benchmark",
        ),
    ],
)
def test_user_errors_exit_2_with_a_message(argv, message, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_benchmarks_origin_is_required(capsys):
    with pytest.raises(SystemExit) as info:
        main(["data", "benchmarks", "--output-dir", "o"])
    assert info.value.code == 2
    assert "--from-dir" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "options"),
    [
        (["data", "--help"], ["train", "benchmarks"]),
        (["data", "train", "--help"], ["--source", "--tokenizer", "--max-prompt-tokens", "--val-size", "--seed", "--output-dir",
                                        "deepscaler", "openthoughts", "too_long"]),
        (["data", "benchmarks", "--help"], ["--names", "--from-dir", "--from-hub", "--strict", "--output-dir", "gaokao"]),
    ],
)  # fmt: skip
def test_help_explains_every_option(argv, options, capsys):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 0
    text = capsys.readouterr().out
    for option in options:
        assert option in text


def test_add_commands_hooks_into_another_parser():
    parser = argparse.ArgumentParser(prog="dissect-lrm")
    subparsers = parser.add_subparsers(dest="command")
    subparsers.add_parser("eval")
    add_commands(subparsers)
    args = parser.parse_args(["data", "benchmarks", "--from-hub", "--output-dir", "o"])
    assert args.command == "data" and args.data_command == "benchmarks" and args.from_hub
    assert callable(args.data_handler)
