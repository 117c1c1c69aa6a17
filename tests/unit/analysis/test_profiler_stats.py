"""Profile arithmetic: group shares, accuracy distribution with failed runs, per-step shares from logs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dissect_lrm.analysis.profiler import Profile, training_zero_advantage, write_profiles
from dissect_lrm.analysis.training_logs import read_metrics


def test_shares_on_a_hand_counted_case():
    # 5 problems x 4 runs: all wrong, all right, 1/4, 3/4, and one with a failed run (2 of 3 observed right).
    profile = Profile("d", "m", "s", tuple("abcde"), np.array([0, 4, 1, 3, 2]), np.array([4, 4, 4, 4, 3]))
    assert profile.shares() == {"all_correct": 0.2, "all_wrong": 0.2, "mixed": 0.6, "effective": 0.6}
    levels = {row["accuracy"]: row["problems"] for row in profile.distribution()}
    assert levels == {0.0: 1, 0.25: 1, 0.5: 0, 0.75: 1, 1.0: 1, round(2 / 3, 12): 1}
    summary = profile.summary()
    assert summary["incomplete_problems"] == 1 and summary["runs"] == 4


def test_write_profiles_tables_agree(tmp_path):
    profile = Profile("d", "m", "s", ("a", "b"), np.array([0, 1]), np.array([2, 2]))
    files = write_profiles([profile], tmp_path)
    assert Path(files["png"]).read_bytes()[:4] == b"\x89PNG"
    data = json.loads(Path(files["json"]).read_text())["profiles"][0]
    assert data["shares"]["mixed"] == 0.5 and data["mean_accuracy"] == 0.25
    assert (
        pd.read_csv(files["csv"]).to_dict(orient="records")[0]["mixed"] == 0.5
    )  # not overwritten by the plot
    assert "| d | m | 2 | 2 | 25.0% | 0.0% | 50.0% | 50.0% | 50.0% |" in Path(files["markdown"]).read_text()


def test_training_zero_advantage_from_logs(tmp_path):
    path = tmp_path / "m.jsonl"
    steps = [(1, 0.25, 0.5, 0.25), (2, 0.5, 0.125, 0.375)]
    path.write_text(
        "".join(
            json.dumps(
                {
                    "step": s,
                    "data": {
                        "dissect/groups/all_correct_frac": c,
                        "dissect/groups/all_wrong_frac": w,
                        "dissect/groups/mixed_frac": m,
                    },
                }
            )
            + "\n"
            for s, c, w, m in steps
        )  # fmt: skip
    )
    data = training_zero_advantage(read_metrics(path))
    assert data[["step", "all_correct", "all_wrong", "mixed"]].values.tolist() == [list(row) for row in steps]
    assert data["zero_advantage"].tolist() == pytest.approx([0.75, 0.625])
