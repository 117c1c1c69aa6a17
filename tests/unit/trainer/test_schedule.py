"""The schedule runner's manifest logic: planning, refusals, resume, and stage chaining with a fake trainer."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

from dissect_lrm.trainer import schedule as sched
from dissect_lrm.trainer.schedule import (
    MANIFEST_NAME,
    ScheduleError,
    build_manifest,
    find_final_checkpoint,
    load_manifest,
    override_value,
    reconcile,
    save_manifest,
    scale_length,
    stage_command,
)

# A stand-in for `python -m dissect_lrm.trainer.main`: writes the checkpoint layout verl writes
# (latest_checkpointed_iteration.txt, global_step_N/actor/huggingface with weights) and records its
# arguments; FAKE_FAIL_STAGE_DIR=<substring> makes the stage whose checkpoint dir contains it fail
# once, after writing a step-1 checkpoint (an interrupted stage); FAKE_STOP_AT=N stops after step N.
FAKE_TRAINER = textwrap.dedent(
    """\
    #!{python}
    import json, os, sys
    from pathlib import Path
    args = sys.argv[3:]  # after "-m dissect_lrm.trainer.main"
    values = {{}}
    for item in args:
        key, _, value = item.partition("=")
        values[key.lstrip("+")] = value
    ckpt = Path(values["trainer.default_local_dir"])
    steps = int(values.get("trainer.total_training_steps", "2"))
    ckpt.mkdir(parents=True, exist_ok=True)
    tracker = ckpt / "latest_checkpointed_iteration.txt"
    start = int(tracker.read_text()) if tracker.exists() and values.get("trainer.resume_mode") == "auto" else 0
    with open(ckpt.parent / "calls.jsonl", "a") as log:
        log.write(json.dumps({{"args": args, "resumed_from": start}}) + "\\n")
    fail = os.environ.get("FAKE_FAIL_STAGE_DIR")
    marker = ckpt.parent / "failed_once"
    steps = min(steps, int(os.environ.get("FAKE_STOP_AT", steps)))  # a run that ends early, rc 0
    for step in range(start + 1, steps + 1):
        hf = ckpt / f"global_step_{{step}}" / "actor" / "huggingface"
        hf.mkdir(parents=True, exist_ok=True)
        (hf / "config.json").write_text("{{}}")
        (hf / "model.safetensors").write_text(values.get("actor_rollout_ref.model.path", "none"))
        tracker.write_text(str(step))
        if fail and fail in str(ckpt) and not marker.exists():
            marker.write_text("x")
            sys.exit(3)
    """
)


@pytest.fixture
def fake_python(tmp_path: Path) -> str:
    path = tmp_path / "fake_python"
    path.write_text(FAKE_TRAINER.format(python=sys.executable))
    path.chmod(0o755)
    return str(path)


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def run_cli(capsys, monkeypatch, fake_python):
    """``python -m dissect_lrm.trainer.schedule`` in-process (stages are fake-trainer subprocesses)."""

    def run(*args: str, env: dict[str, str] | None = None) -> Result:
        for name in ("FAKE_FAIL_STAGE_DIR", "FAKE_STOP_AT"):
            monkeypatch.delenv(name, raising=False)
        for name, value in (env or {}).items():
            monkeypatch.setenv(name, value)
        capsys.readouterr()
        returncode = sched.main(["--python", fake_python, *args])
        captured = capsys.readouterr()
        return Result(returncode, captured.out, captured.err)

    return run


def _calls(stage_dir: Path) -> list[dict]:
    path = stage_dir / "calls.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


# ----------------------------------------------------------------------------- pure functions


def test_scale_length_is_identity_by_default_and_scales_k_units():
    assert scale_length(8192, 1024) == 8192
    assert scale_length(8192, 3) == 24
    assert scale_length(24576, 3) == 72
    assert scale_length(3000, 3) == 9  # plain token counts scale by unit / 1024 (8.79 -> 9)
    assert scale_length(100, 3) == 1  # never 0


def test_build_manifest_plans_one_directory_per_stage():
    manifest = build_manifest("8k:neg, 16k:neg ,24k:both", length_unit=3, overrides=["a=1"])
    assert [(s.index, s.max_response_length, s.mode) for s in manifest.stages] == [
        (1, 24, "neg"),
        (2, 48, "neg"),
        (3, 72, "both"),
    ]
    assert [s.dir for s in manifest.stages] == ["stage1-24-neg", "stage2-48-neg", "stage3-72-both"]
    assert all(s.status == "pending" and s.attempts == 0 for s in manifest.stages)
    assert manifest.overrides == ["a=1"]


@pytest.mark.parametrize(
    ("schedule", "message"),
    [
        ("", "empty schedule"),
        ("8k", "expected 'LEN:MODE'"),
        ("8k:mixed", "unknown mode"),
        ("0k:neg", "bad length"),
    ],
)
def test_build_manifest_rejects_bad_schedules(schedule, message):
    with pytest.raises(ScheduleError, match=message):
        build_manifest(schedule)


def test_build_manifest_rejects_stage_overrides_beyond_the_schedule():
    with pytest.raises(ScheduleError, match=r"stage\(s\) \['3'\]"):
        build_manifest("8k:neg,16k:both", stage_overrides={"3": ["x=1"]})


def test_manifest_round_trips_through_json(tmp_path):
    manifest = build_manifest("8k:neg,16k:both", overrides=["k=v"], stage_overrides={"2": ["n=16"]})
    manifest.stages[0].status = "done"
    manifest.stages[0].final_model = "/x/huggingface"
    save_manifest(manifest, tmp_path / MANIFEST_NAME)
    assert load_manifest(tmp_path / MANIFEST_NAME) == manifest
    assert not (tmp_path / (MANIFEST_NAME + ".tmp")).exists()
    assert load_manifest(tmp_path / "absent.json") is None


def test_load_manifest_reports_a_corrupt_file(tmp_path):
    (tmp_path / MANIFEST_NAME).write_text("{not json")
    with pytest.raises(ScheduleError, match="not a readable schedule manifest"):
        load_manifest(tmp_path / MANIFEST_NAME)


def test_reconcile_new_directory_uses_the_request():
    requested = build_manifest("8k:neg")
    assert reconcile(None, requested, resume=False) is requested
    assert reconcile(None, requested, resume=True) is requested


def test_reconcile_refuses_an_existing_schedule_without_resume():
    existing = build_manifest("8k:neg,16k:both")
    with pytest.raises(ScheduleError, match="pass --resume"):
        reconcile(existing, build_manifest("8k:neg,16k:both"), resume=False)


@pytest.mark.parametrize(
    ("requested", "unit"),
    [("8k:neg,16k:neg", 1024), ("8k:neg", 1024), ("8k:neg,16k:both,24k:both", 1024), ("8k:neg,16k:both", 3)],
)
def test_reconcile_refuses_a_different_schedule(requested, unit):
    existing = build_manifest("8k:neg,16k:both")
    with pytest.raises(ScheduleError, match="refusing to resume"):
        reconcile(existing, build_manifest(requested, length_unit=unit), resume=True)


def test_reconcile_keeps_progress_and_takes_the_new_overrides():
    existing = build_manifest("8k:neg,16k:both", overrides=["old=1"])
    existing.stages[0].status = "done"
    resumed = reconcile(existing, build_manifest("8k:neg, 16k:both", overrides=["new=2"]), resume=True)
    assert resumed.stages[0].status == "done"
    assert resumed.overrides == ["new=2"]


def test_override_value_takes_the_last_and_plus_forms():
    overrides = ["a.b=1", "+a.b=2", "c=3", "a.bc=9"]
    assert override_value(overrides, "a.b") == "2"
    assert override_value(overrides, "c") == "3"
    assert override_value(overrides, "x") is None


def test_stage_command_orders_user_then_schedule_then_stage_overrides(tmp_path):
    manifest = build_manifest(
        "8k:neg,16k:both",
        overrides=[
            "actor_rollout_ref.model.path=/base",
            "trainer.experiment_name=exp",
            "data.max_response_length=5",
        ],
        stage_overrides={"2": ["actor_rollout_ref.rollout.n=16"]},
    )
    stage = manifest.stages[1]
    stage.init_model = "/stage1/huggingface"
    command = stage_command(manifest, stage, tmp_path, python="py")
    assert command[:3] == ["py", "-m", "dissect_lrm.trainer.main"]
    args = command[3:]
    assert override_value(args, "data.max_response_length") == "16384"  # the schedule's value wins
    assert override_value(args, "algorithm.sample_filter.mode") == "both"
    assert override_value(args, "actor_rollout_ref.model.path") == "/stage1/huggingface"
    assert override_value(args, "trainer.default_local_dir") == str(
        tmp_path / "stage2-16384-both" / "checkpoints"
    )
    assert override_value(args, "trainer.resume_mode") == "auto"
    assert override_value(args, "trainer.experiment_name") == "exp-s2-16384-both"
    assert override_value(args, "trainer.save_freq") == "10"
    assert "hf_model" in override_value(args, "actor_rollout_ref.actor.checkpoint.save_contents")
    assert args[-1] == "actor_rollout_ref.rollout.n=16"


def test_check_overrides_notes_ignored_keys_and_refuses_bad_ones():
    notes = sched.check_overrides(build_manifest("8k:neg", overrides=["data.max_response_length=5"]))
    assert notes and "data.max_response_length=5 is ignored" in notes[0]
    with pytest.raises(ScheduleError, match="save_freq=-1"):
        sched.check_overrides(build_manifest("8k:neg", overrides=["trainer.save_freq=-1"]))
    with pytest.raises(ScheduleError, match="sets algorithm.sample_filter.mode itself"):
        sched.check_overrides(
            build_manifest("8k:neg,8k:pos", stage_overrides={"2": ["algorithm.sample_filter.mode=both"]})
        )


def _checkpoint(root: Path, step: int, weights: bool = True) -> Path:
    hf = root / f"global_step_{step}" / "actor" / "huggingface"
    hf.mkdir(parents=True)
    (hf / "config.json").write_text("{}")
    if weights:
        (hf / "model.safetensors").write_text("w")
    (root / "latest_checkpointed_iteration.txt").write_text(str(step))
    return hf


def test_find_final_checkpoint_reads_verls_tracker(tmp_path):
    _checkpoint(tmp_path, 1)
    _checkpoint(tmp_path, 2)
    (tmp_path / "latest_checkpointed_iteration.txt").write_text("1\n")
    assert find_final_checkpoint(tmp_path) == (1, tmp_path / "global_step_1" / "actor" / "huggingface")


def test_find_final_checkpoint_refuses_missing_tracker_or_weights(tmp_path):
    with pytest.raises(ScheduleError, match="save_freq > 0"):
        find_final_checkpoint(tmp_path)
    _checkpoint(tmp_path, 3, weights=False)
    with pytest.raises(ScheduleError, match="holds no HF weights.*model_merger"):
        find_final_checkpoint(tmp_path)


# ----------------------------------------------------------------------------- the runner, fake trainer


def test_runner_chains_stages_from_the_previous_final_weights(tmp_path, run_cli):
    out = tmp_path / "run"
    result = run_cli(
        "--schedule", "8k:neg,16k:both", "--output-dir", str(out),
        "--stage-override", "2:trainer.total_training_steps=3",
        "--", "actor_rollout_ref.model.path=/base/model", "trainer.total_training_steps=2",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr + result.stdout
    manifest = load_manifest(out / MANIFEST_NAME)
    first, second = manifest.stages
    assert (first.status, first.final_step, first.attempts) == ("done", 2, 1)
    assert (second.status, second.final_step, second.attempts) == ("done", 3, 1)
    assert first.init_model == "/base/model"
    assert (
        second.init_model
        == first.final_model
        == str(out / "stage1-8192-neg" / "checkpoints" / "global_step_2" / "actor" / "huggingface")
    )
    [call] = _calls(out / "stage2-16384-both")
    assert override_value(call["args"], "actor_rollout_ref.model.path") == first.final_model
    assert (out / "stage2-16384-both" / "train.attempt1.log").exists()
    assert (out / "stage2-16384-both" / "command.attempt1.sh").read_text().count("global_step_2") == 1


def test_runner_resumes_the_interrupted_stage_and_never_reruns_a_finished_one(tmp_path, run_cli):
    out = tmp_path / "run"
    args = ["--schedule", "8k:neg,16k:both", "--output-dir", str(out), "--", "trainer.total_training_steps=2"]
    failed = run_cli(*args, env={"FAKE_FAIL_STAGE_DIR": "stage2-"})
    assert failed.returncode == 1
    assert "Rerun with --resume" in failed.stderr
    manifest = load_manifest(out / MANIFEST_NAME)
    assert [s.status for s in manifest.stages] == ["done", "running"]

    refused = run_cli(*args)
    assert refused.returncode == 2 and "pass --resume" in refused.stderr

    resumed = run_cli("--resume", *args)
    assert resumed.returncode == 0, resumed.stderr + resumed.stdout
    assert len(_calls(out / "stage1-8192-neg")) == 1  # stage 1 ran once, in the first invocation
    stage2_calls = _calls(out / "stage2-16384-both")
    assert [c["resumed_from"] for c in stage2_calls] == [0, 1]  # continued from its step-1 checkpoint
    manifest = load_manifest(out / MANIFEST_NAME)
    assert [s.status for s in manifest.stages] == ["done", "done"]
    assert manifest.stages[1].attempts == 2
    assert "resuming from its last checkpoint" in resumed.stdout
    assert "not rerun" in resumed.stdout

    again = run_cli("--resume", *args)
    assert again.returncode == 0
    assert len(_calls(out / "stage2-16384-both")) == 2  # nothing left to run


def test_runner_refuses_to_resume_another_schedule(tmp_path, run_cli):
    out = tmp_path / "run"
    assert run_cli("--schedule", "8k:neg", "--output-dir", str(out)).returncode == 0
    result = run_cli("--resume", "--schedule", "8k:pos", "--output-dir", str(out))
    assert result.returncode == 2
    assert "refusing to resume" in result.stderr and "'8k:neg'" in result.stderr


def test_runner_reports_a_finished_stage_whose_weights_vanished(tmp_path, run_cli):
    out = tmp_path / "run"
    args = ["--schedule", "8k:neg,8k:pos", "--output-dir", str(out), "--", "trainer.total_training_steps=1"]
    assert run_cli(*args).returncode == 0
    manifest = load_manifest(out / MANIFEST_NAME)
    manifest.stages[1].status = "pending"
    save_manifest(manifest, out / MANIFEST_NAME)
    shutil.rmtree(manifest.stages[0].final_model)
    result = run_cli("--resume", *args)
    assert result.returncode == 2 and "final weights" in result.stderr and "missing" in result.stderr


def test_runner_refuses_a_stage_that_exits_cleanly_before_its_last_step(tmp_path, run_cli):
    out = tmp_path / "run"
    args = ["--schedule", "8k:neg", "--output-dir", str(out), "--", "trainer.total_training_steps=3"]
    result = run_cli(*args, env={"FAKE_STOP_AT": "2"})
    assert result.returncode == 2
    assert "last checkpoint is step 2, not 3" in result.stderr
    assert load_manifest(out / MANIFEST_NAME).stages[0].status == "running"


def test_dry_run_prints_every_stage_and_writes_nothing(tmp_path, run_cli):
    out = tmp_path / "run"
    result = run_cli(
        "--dry-run", "--length-unit", "3", "--schedule", "8k:neg,16k:neg,24k:both",
        "--output-dir", str(out), "--", "actor_rollout_ref.model.path=/m",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("dissect_lrm.trainer.main") == 3
    assert "data.max_response_length=72" in result.stdout
    assert "'actor_rollout_ref.model.path=<stage 2 final weights>'" in result.stdout
    assert not out.exists()


def test_bad_stage_override_syntax_is_a_clear_error(tmp_path, run_cli):
    result = run_cli(
        "--schedule", "8k:neg", "--output-dir", str(tmp_path / "o"),
        "--stage-override", "two:x=1",
    )  # fmt: skip
    assert result.returncode == 2 and "expected STAGE:KEY=VALUE" in result.stderr


def test_schedule_module_imports_no_verl():
    code = "import sys, dissect_lrm.trainer.schedule; print('verl' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "False", result.stderr
