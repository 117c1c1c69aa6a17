"""One flag name per idea: every new spelling parses, every old one still parses to the same value and warns."""

from __future__ import annotations

import pytest

from dissect_lrm.cli import build_parser

TEACHER = ["data", "teacher", "--train", "t.parquet", "--student-store", "s.jsonl", "--teacher-model", "m"]
PROFILE = ["profile", "--store", "s.jsonl"]
# (command without the option, new spelling, old spelling, value, namespace attribute, parsed value)
RENAMES = [
    (["data", "train", "--source", "x.json"], "--output-dir", "--out", "o", "out", "o"),
    (["data", "benchmarks", "--from-hub"], "--output-dir", "--out", "o", "out", "o"),
    (TEACHER, "--output-dir", "--out", "o", "out", "o"),
    (PROFILE, "--output-dir", "--out", "o", "out", "o"),
    (["figures", "fig2", "p.json"], "--output-dir", "--out", "o", "out", "o"),
    (["figures", "fig6", "l.jsonl"], "--output-dir", "--out", "o", "out", "o"),
    (["figures", "curves", "l.jsonl"], "--output-dir", "--out", "o", "out", "o"),
    (["figures", "eval", "runs/eval"], "--output-dir", "--out", "o", "out", "o"),
    (["stats", "report", "runs/eval"], "--output-dir", "--report-dir", "o", "report_dir", "o"),
    (["demo"], "--output-dir", "--workdir", "o", "workdir", "o"),
    (["demo"], "--timeout-s", "--timeout", "12", "timeout", 12.0),
    (["eval", "--model", "m", "-b", "x.jsonl"], "--request-timeout-s", "--request-timeout", "9", "request_timeout", 9.0),
    (PROFILE + ["--output-dir", "o"], "--request-timeout-s", "--request-timeout", "9", "request_timeout", 9.0),
    (TEACHER + ["--output-dir", "o"], "--seed", "--gen-seed", "7", "seed", 7),
    (PROFILE + ["--output-dir", "o"], "--seed", "--gen-seed", "7", "seed", 7),
]  # fmt: skip


def _ids(case) -> str:
    return f"{' '.join(case[0][:2])} {case[2]}"


@pytest.mark.parametrize("case", RENAMES, ids=_ids)
def test_new_spelling_parses_without_a_warning(case, recwarn):
    command, new, _, value, attribute, parsed = case
    args = build_parser().parse_args([*command, new, value])
    assert getattr(args, attribute) == parsed
    assert not [w for w in recwarn if issubclass(w.category, FutureWarning)]


@pytest.mark.parametrize("case", RENAMES, ids=_ids)
def test_old_spelling_still_parses_and_warns(case, capsys):
    command, new, old, value, attribute, parsed = case
    with pytest.warns(FutureWarning, match=f"{old} is deprecated; use {new}"):
        args = build_parser().parse_args([*command, old, value])
    assert getattr(args, attribute) == parsed
    assert f"warning: {old} is deprecated; use {new}" in capsys.readouterr().err


@pytest.mark.parametrize(
    "command", [["data", "train", "--source", "x.json"], PROFILE, ["figures", "fig2", "p.json"],
                ["stats", "report", "runs/eval"], ["eval", "--model", "m", "-b", "x.jsonl"]],
)  # fmt: skip
def test_debug_is_spelled_the_same_everywhere(command):
    extra = ["--output-dir", "o"] if command[0] in ("data", "profile") else []
    assert build_parser().parse_args([*command, *extra, "--debug"]).debug is True


def test_figures_write_under_runs_by_default():
    assert build_parser().parse_args(["figures", "fig2", "p.json"]).out == "runs/figures"


def test_analysis_takes_no_options_from_the_data_commands():
    import ast
    from pathlib import Path

    import dissect_lrm.analysis.cli as analysis_cli

    tree = ast.parse(Path(analysis_cli.__file__).read_text())
    modules = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert "dissect_lrm.data.cli" not in modules


@pytest.mark.parametrize(
    "argv",
    [["data", "train", "--source", "nowhere.json"], ["figures", "fig2", "nowhere/profile.json"],
     ["profile", "--store", "nowhere.jsonl"], ["stats", "plan", "nowhere.jsonl"]],
)  # fmt: skip
def test_debug_shows_the_traceback_and_without_it_one_line(argv, tmp_path, capsys):
    from dissect_lrm.cli import main

    argv = [*argv, "--output-dir", str(tmp_path)] if argv[0] != "stats" else argv
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Traceback" not in err and "nowhere" in err
    with pytest.raises((FileNotFoundError, ValueError)):
        main([*argv, "--debug"])
