"""The ``dissect-lrm`` front door: train and schedule are subcommands that hand their arguments over."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

from dissect_lrm.cli import TRAIN_CONFIG, main, train_help


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    return subprocess.run(
        [sys.executable, "-m", "dissect_lrm.cli", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_top_level_help_lists_train_and_schedule(capsys):
    try:
        main(["--help"])
    except SystemExit as exit_:
        assert exit_.code == 0
    out = capsys.readouterr().out
    for command in ("train", "schedule", "eval", "data", "stats", "profile", "figures", "demo"):
        assert command in out


def test_train_help_lists_every_key_we_add():
    config = yaml.safe_load(TRAIN_CONFIG.read_text())
    text = train_help()
    # Every group and leaf key of ours under algorithm: is in the help, with the verl pointer.
    for group, value in config["algorithm"].items():
        assert f"{group}:" in text
        if isinstance(value, dict):
            for key in value:
                assert f"{key}:" in text
    assert "trainer_mode: dissect_sync" in text
    assert "ppo_trainer" in text and "--cfg job" in text
    assert "pkg://verl.trainer.config" not in text  # Hydra's internals are not our keys


def test_schedule_subcommand_is_the_schedule_runner(tmp_path, capsys):
    code = main(
        [
            "schedule",
            "--dry-run",
            "--length-unit",
            "3",
            "--schedule",
            "8k:neg,16k:both",
            "--output-dir",
            str(tmp_path / "sched"),
            "--",
            "trainer.total_training_steps=2",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert out.count("dissect_lrm.trainer.main") == 2
    assert "data.max_response_length=24" in out and "data.max_response_length=48" in out
    assert not (tmp_path / "sched").exists()


def test_train_subcommand_reaches_the_trainer_and_writes_only_under_runs(tmp_path):
    result = run_cli(
        "train", "+preset=cpu", f"actor_rollout_ref.model.path={tmp_path / 'missing'}", cwd=tmp_path
    )
    assert result.returncode == 2, result.stderr
    assert "no such model directory" in result.stderr
    assert "Traceback" not in result.stderr
    # Hydra's run records go under runs/, never into ./outputs.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["runs"]
