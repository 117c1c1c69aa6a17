"""Zero-advantage profiler end to end with the warm tiny model: rollouts through the hf backend, then tables."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

from dissect_lrm.analysis import cli
from dissect_lrm.eval.store import Store, find_stores

LIMIT, RUNS = 10, 4


def profile_argv(kit, out: Path, *extra: str) -> list[str]:
    return ["profile", "--dataset", str(kit.train_parquet), "--model", str(kit.model_dir), "--model-name", "tiny",
            "--runs", str(RUNS), "--limit", str(LIMIT), "--max-tokens", "20", "--threads", "1",
            "--output-dir", str(out), "--no-progress", *extra]  # fmt: skip


@pytest.fixture(scope="module")
def profiled(warm_tiny_kit, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("profile")
    assert cli.main(profile_argv(warm_tiny_kit, out)) == 0
    return out


def recount(store_path: Path) -> tuple[Counter, dict[str, int]]:
    """Correct runs per problem straight from the store's records, and the implied group kinds."""
    records = Store.read(store_path).records().values()
    correct = Counter()
    runs = Counter()
    for record in records:
        assert record.ok
        runs[record.problem_id] += 1
        correct[record.problem_id] += int(bool(record.correct))
    kinds = Counter(
        "all_correct" if correct[p] == runs[p] else "all_wrong" if correct[p] == 0 else "mixed" for p in runs
    )
    return Counter({p: correct[p] for p in runs}), dict(kinds)


def test_shares_match_a_recount_from_the_store(profiled):
    [store_path] = find_stores(profiled / "stores")
    summary = json.loads((profiled / "profile.json").read_text())["profiles"][0]
    correct, kinds = recount(store_path)
    assert len(correct) == summary["problems"] == LIMIT and summary["runs"] == RUNS
    shares = summary["shares"]
    assert shares["all_correct"] + shares["all_wrong"] + shares["mixed"] == pytest.approx(1.0)
    for kind in ("all_correct", "all_wrong", "mixed"):
        assert shares[kind] == pytest.approx(kinds.get(kind, 0) / LIMIT)
    assert shares["effective"] == shares["mixed"]
    levels = {row["accuracy"]: row["problems"] for row in summary["distribution"]}
    assert levels == {k / RUNS: sum(1 for c in correct.values() if c == k) for k in range(RUNS + 1)}
    assert summary["mean_accuracy"] == pytest.approx(sum(correct.values()) / (LIMIT * RUNS))


def test_tables_and_png_agree_with_the_json(profiled):
    summary = json.loads((profiled / "profile.json").read_text())["profiles"][0]
    table = pd.read_csv(profiled / "profile.csv")
    assert table.loc[0, "problems"] == LIMIT and table.loc[0, "mixed"] == pytest.approx(
        summary["shares"]["mixed"]
    )
    distribution = pd.read_csv(profiled / "distribution.csv")
    assert distribution["problems"].sum() == LIMIT and distribution["share"].sum() == pytest.approx(1.0)
    assert f"{100 * summary['shares']['all_wrong']:.1f}%" in (profiled / "profile.md").read_text()
    png = (profiled / "distribution.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 2000


def test_store_input_and_resume_give_the_same_profile(profiled, warm_tiny_kit, tmp_path):
    [store_path] = find_stores(profiled / "stores")
    before = store_path.read_bytes()
    first = json.loads((profiled / "profile.json").read_text())["profiles"][0]
    # Rerunning the rollouts resumes the complete store: nothing is generated again.
    assert cli.main(profile_argv(warm_tiny_kit, profiled)) == 0
    assert store_path.read_bytes() == before
    assert cli.main(["profile", "--store", str(store_path), "--output-dir", str(tmp_path), "--no-plot"]) == 0
    again = json.loads((tmp_path / "profile.json").read_text())["profiles"][0]
    assert again["shares"] == first["shares"] and again["distribution"] == first["distribution"]


def test_figure_2_from_the_profile(profiled, tmp_path):
    assert cli.main(["figures", "fig2", str(profiled / "profile.json"), "--output-dir", str(tmp_path)]) == 0
    table = pd.read_csv(tmp_path / "fig2_accuracy_distribution.csv")
    assert table.drop(columns=["dataset", "model"]).equals(pd.read_csv(profiled / "distribution.csv").drop(columns=["dataset", "model"]))  # fmt: skip
    assert (tmp_path / "fig2_accuracy_distribution.png").stat().st_size > 2000


def test_eval_figures_from_the_store_dir(profiled, tmp_path):
    assert (
        cli.main(
            ["figures", "eval", str(profiled / "stores"), "--output-dir", str(tmp_path), "--resamples", "50"]
        )
        == 0
    )
    [histogram] = sorted(tmp_path.glob("eval_hist_*.csv"))
    counts = pd.read_csv(histogram)
    assert counts["problems"].sum() == LIMIT
    correct, _ = recount(find_stores(profiled / "stores")[0])
    # Figure 5 bins [0, .2), [.2, .4), ...: with 4 runs, 0/4 is the first bin and 4/4 the last.
    assert counts["problems"].iloc[0] == sum(1 for c in correct.values() if c == 0)
    assert counts["problems"].iloc[-1] == sum(1 for c in correct.values() if c == RUNS)
    assert histogram.with_suffix(".png").stat().st_size > 2000


def test_profile_needs_a_source(capsys, tmp_path):
    assert cli.main(["profile", "--output-dir", str(tmp_path)]) == 2
    assert "--dataset" in capsys.readouterr().err
    assert (
        cli.main(["profile", "--store", str(tmp_path / "absent.jsonl"), "--output-dir", str(tmp_path)]) == 2
    )
    assert "absent.jsonl" in capsys.readouterr().err
