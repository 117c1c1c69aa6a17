"""Figure commands: non-empty PNGs, and the CSV next to each holds exactly the data of the source table."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dissect_lrm.analysis import cli
from dissect_lrm.analysis.profiler import Profile, write_profiles

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

# Hand-written metrics of two runs (what verl's file logger writes), with keys the figures must ignore.
POS_RUN = [
    (1, {"dissect/filter/kept_pos_samples": 40, "dissect/filter/kept_neg_samples": 0, "critic/score/mean": 0.30,
         "dissect/acc/mean": 0.30, "response_length/mean": 120.0, "actor/pg_loss": -0.1}),
    (2, {"dissect/filter/kept_pos_samples": 44, "dissect/filter/kept_neg_samples": 0, "critic/score/mean": 0.35,
         "dissect/acc/mean": 0.34, "response_length/mean": 118.5}),
    (3, {"dissect/filter/kept_pos_samples": 51, "dissect/filter/kept_neg_samples": 0, "critic/score/mean": 0.41,
         "dissect/acc/mean": 0.40, "response_length/mean": 111.0}),
]  # fmt: skip
NEG_RUN = [
    (1, {"dissect/filter/kept_pos_samples": 0, "dissect/filter/kept_neg_samples": 88, "critic/score/mean": 0.31,
         "dissect/acc/mean": 0.31, "response_length/mean": 121.0}),
    (2, {"dissect/filter/kept_pos_samples": 0, "dissect/filter/kept_neg_samples": 80, "critic/score/mean": 0.37,
         "dissect/acc/mean": 0.36, "response_length/mean": 125.0}),
]  # fmt: skip


def write_jsonl(path, entries) -> str:
    path.write_text("".join(json.dumps({"step": step, "data": data}) + "\n" for step, data in entries))
    return str(path)


@pytest.fixture
def logs(tmp_path):
    return write_jsonl(tmp_path / "pos.jsonl", POS_RUN), write_jsonl(tmp_path / "neg.jsonl", NEG_RUN)


def check_png(path) -> None:
    data = Path(path).read_bytes()
    assert data.startswith(PNG_MAGIC) and len(data) > 2000


def expected_rows(run: str, entries, columns: dict[str, str]) -> list[dict]:
    return [{"run": run, "step": step, **{name: float(data[key]) for name, key in columns.items()}} for step, data in entries]  # fmt: skip


def test_fig6_csv_matches_logs(tmp_path, logs):
    pos, neg = logs
    out = tmp_path / "figures"
    assert cli.main(["figures", "fig6", f"pos_only={pos}", f"neg_only={neg}", "--output-dir", str(out)]) == 0
    check_png(out / "fig6_kept_samples.png")
    table = pd.read_csv(out / "fig6_kept_samples.csv")
    columns = {"kept_pos_samples": "dissect/filter/kept_pos_samples", "kept_neg_samples": "dissect/filter/kept_neg_samples"}  # fmt: skip
    expected = expected_rows("pos_only", POS_RUN, columns) + expected_rows("neg_only", NEG_RUN, columns)
    got = table.to_dict(orient="records")
    assert sorted(got, key=lambda r: (r["run"], r["step"])) == sorted(
        expected, key=lambda r: (r["run"], r["step"])
    )


def test_curves_csv_matches_console_log(tmp_path, logs):
    # The same run as a console log: verl prints "step:N - key:value - ..." lines.
    console = tmp_path / "pos.log"
    console.write_text(
        "".join(
            f"step:{step} - " + " - ".join(f"{key}:{value}" for key, value in data.items()) + "\n"
            for step, data in POS_RUN
        )
    )
    out = tmp_path / "figures"
    assert cli.main(["figures", "curves", f"pos={console}", "--output-dir", str(out)]) == 0
    check_png(out / "training_curves.png")
    table = pd.read_csv(out / "training_curves.csv")
    columns = {"reward": "critic/score/mean", "accuracy": "dissect/acc/mean", "response_length": "response_length/mean"}  # fmt: skip
    assert table.to_dict(orient="records") == expected_rows("pos", POS_RUN, columns)


def test_missing_metric_is_a_clear_error(tmp_path, capsys):
    path = write_jsonl(tmp_path / "other.jsonl", [(1, {"critic/score/mean": 0.5})])
    assert cli.main(["figures", "fig6", path, "--output-dir", str(tmp_path / "f")]) == 2
    error = capsys.readouterr().err
    assert "dissect/filter/kept_pos_samples" in error and "other" in error
    assert not (tmp_path / "f" / "fig6_kept_samples.png").exists()


def test_fig2_csv_matches_profiles(tmp_path):
    first = Profile(
        "deepscaler", "m", "s1", ("a", "b", "c", "d"), np.array([0, 8, 3, 8]), np.array([8, 8, 8, 8])
    )
    second = Profile("openthoughts", "m", "s2", ("e", "f"), np.array([0, 0]), np.array([8, 8]))
    write_profiles([first], tmp_path / "p1", plot=False)
    write_profiles([second], tmp_path / "p2", plot=False)
    out = tmp_path / "figures"
    argv = ["figures", "fig2", str(tmp_path / "p1" / "profile.json"), str(tmp_path / "p2" / "profile.json"), "--output-dir", str(out)]  # fmt: skip
    assert cli.main(argv) == 0
    check_png(out / "fig2_accuracy_distribution.png")
    table = pd.read_csv(out / "fig2_accuracy_distribution.csv")
    deep = table[table["dataset"] == "deepscaler"].set_index("accuracy")
    assert len(deep) == 9  # every level k/8, also the empty ones
    assert (
        deep.loc[0.0, "problems"] == 1 and deep.loc[1.0, "problems"] == 2 and deep.loc[0.375, "problems"] == 1
    )
    assert deep["problems"].sum() == 4 and deep["share"].sum() == pytest.approx(1.0)
    other = table[table["dataset"] == "openthoughts"].set_index("accuracy")
    assert other.loc[0.0, "share"] == 1.0 and other["problems"].sum() == 2


def test_fig2_rejects_a_file_that_is_no_profile(tmp_path, capsys):
    bad = tmp_path / "profile.json"
    bad.write_text(json.dumps({"entries": []}))
    assert cli.main(["figures", "fig2", str(bad), "--output-dir", str(tmp_path / "f")]) == 2
    assert "key 'profiles' missing" in capsys.readouterr().err


def test_help_lists_every_figure(capsys):
    with pytest.raises(SystemExit):
        cli.main(["figures", "--help"])
    text = capsys.readouterr().out
    for name in ("fig2", "fig6", "curves", "eval"):
        assert name in text
