"""A 2-stage schedule on CPU is SIGKILLed during stage 2 and resumed: stage 1 is kept, stage 2 continues.

The runner (``python -m dissect_lrm.trainer.schedule``) runs verl's real trainer for each stage inside a
loopback-only network + PID namespace; the kill takes that whole namespace down at once (runner, trainer,
Ray), as a crashed machine would. The resumed runner must not rerun stage 1, must continue stage 2 from
its last checkpoint, and stage 2 must have started from stage 1's final HF weights.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from safetensors.torch import load_file

from dissect_lrm.trainer.launcher import OFFLINE_ENV, isolated, read_metrics_jsonl

pytestmark = [pytest.mark.e2e, pytest.mark.ray, pytest.mark.timeout(1500)]

STAGE_TIMEOUT_S = 420
STAGE2_STEPS = 3


def runner_command(kit, output_dir: Path, ray_dir: str) -> list[str]:
    overrides = [
        "+preset=cpu",
        f"actor_rollout_ref.model.path={kit.model_dir}",
        f"data.train_files={kit.train_parquet}",
        f"data.val_files={kit.val_parquet}",
        "data.train_batch_size=4",
        "data.max_prompt_length=64",
        "actor_rollout_ref.rollout.n=4",
        "actor_rollout_ref.actor.ppo_mini_batch_size=4",
        "actor_rollout_ref.actor.optim.lr=1e-3",
        "actor_rollout_ref.actor.use_kl_loss=False",
        "trainer.logger=[console,file]",
        "trainer.experiment_name=sched",
        "trainer.val_before_train=False",
        "trainer.test_freq=-1",
        "trainer.save_freq=1",  # every step: the kill lands after a stage-2 checkpoint
        "trainer.total_epochs=100",
        f"+ray_kwargs.ray_init._temp_dir={ray_dir}",
    ]
    return [
        sys.executable, "-m", "dissect_lrm.trainer.schedule",
        "--schedule", "8k:neg,16k:both", "--length-unit", "3", "--output-dir", str(output_dir), "--resume",
        "--stage-timeout-s", str(STAGE_TIMEOUT_S),
        "--stage-override", "1:trainer.total_training_steps=1",
        "--stage-override", f"2:trainer.total_training_steps={STAGE2_STEPS}",
        "--", *overrides,
    ]  # fmt: skip


def manifest(output_dir: Path) -> dict:
    return json.loads((output_dir / "schedule_manifest.json").read_text())


def kill_group(process: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=60)


@pytest.fixture
def ray_dir():
    # Ray's AF_UNIX socket paths are limited to 107 bytes: a short temp dir under /tmp.
    path = tempfile.mkdtemp(prefix="dlrm-ray-", dir="/tmp")
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_killed_schedule_resumes_in_stage_2_from_stage_1_weights(warm_tiny_kit, tmp_path, ray_dir):
    output_dir = tmp_path / "schedule"
    env = {**os.environ, **OFFLINE_ENV, "HF_HOME": str(tmp_path / "hf_home")}
    command = isolated(runner_command(warm_tiny_kit, output_dir, ray_dir))
    stage1_dir, stage2_dir = output_dir / "stage1-24-neg", output_dir / "stage2-48-both"
    tracker = stage2_dir / "checkpoints" / "latest_checkpointed_iteration.txt"

    # --- first run: let stage 1 finish, SIGKILL everything once stage 2 has checkpointed a step.
    first_log = (tmp_path / "first.log").open("w")
    process = subprocess.Popen(
        command, cwd=tmp_path, env=env, stdout=first_log, stderr=subprocess.STDOUT, start_new_session=True
    )
    deadline = time.monotonic() + 2 * STAGE_TIMEOUT_S
    try:
        while not tracker.exists():
            assert process.poll() is None, (
                f"runner ended early ({process.returncode}): {tmp_path / 'first.log'}"
            )
            assert time.monotonic() < deadline, "stage 2 never checkpointed"
            time.sleep(0.2)
    finally:
        kill_group(process)  # SIGKILL to the namespace: runner, trainer and Ray die together
        first_log.close()
    killed = manifest(output_dir)
    assert [(s["status"], s["attempts"]) for s in killed["stages"]] == [("done", 1), ("running", 1)]
    killed_at = int(tracker.read_text())
    assert 1 <= killed_at < STAGE2_STEPS, "the kill must land inside stage 2"
    stage1_final = Path(killed["stages"][0]["final_model"])
    stage1_weights = stage1_final / "model.safetensors"
    stage1_mtime = stage1_weights.stat().st_mtime_ns
    base = load_file(Path(warm_tiny_kit.model_dir) / "model.safetensors")
    trained = load_file(stage1_weights)
    assert any(not (base[k] == trained[k]).all() for k in base), "stage 1 changed no weight"

    # --- resume with the same command.
    resumed = subprocess.run(
        command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=2 * STAGE_TIMEOUT_S
    )
    assert resumed.returncode == 0, resumed.stdout[-5000:]
    final = manifest(output_dir)
    first, second = final["stages"]
    # Stage 1 was not rerun: one attempt, its weights untouched, no second log or metrics file.
    assert (first["status"], first["attempts"], first["final_step"]) == ("done", 1, 1)
    assert stage1_weights.stat().st_mtime_ns == stage1_mtime
    assert (
        not (stage1_dir / "train.attempt2.log").exists()
        and not (stage1_dir / "metrics.attempt2.jsonl").exists()
    )
    assert "stage 1/2 (24 tokens, neg): done" in resumed.stdout and "not rerun" in resumed.stdout
    # Stage 2 continued from its last checkpoint: the second attempt logged only the remaining steps.
    assert (second["status"], second["attempts"], second["final_step"]) == ("done", 2, STAGE2_STEPS)
    first_attempt = read_metrics_jsonl(stage2_dir / "metrics.attempt1.jsonl")
    second_attempt = read_metrics_jsonl(stage2_dir / "metrics.attempt2.jsonl")
    # (the kill may land between a checkpoint and that step's metrics line, so attempt 1 has <= killed_at)
    assert first_attempt.keys() <= set(range(1, killed_at + 1))
    assert sorted(second_attempt) == list(range(killed_at + 1, STAGE2_STEPS + 1))
    resumed_log = (stage2_dir / "train.attempt2.log").read_text()
    assert f"Resuming from {stage2_dir / 'checkpoints' / f'global_step_{killed_at}'}" in resumed_log
    # Stage 2 (both attempts) started from stage 1's final HF weights: the manifest, the command, and
    # the model path in the trainer's own config dump.
    assert second["init_model"] == str(stage1_final)
    for attempt in (1, 2):
        assert (
            f"actor_rollout_ref.model.path={stage1_final}"
            in (stage2_dir / f"command.attempt{attempt}.sh").read_text()
        )
        assert f"'path': '{stage1_final}'" in (stage2_dir / f"train.attempt{attempt}.log").read_text()
    # Each stage trained at its own length and mode.
    for step in second_attempt.values():
        assert step["response_length/max"] <= 48
        assert not [key for key in step if key.startswith("dissect/filter/")]  # both: no filter at all
        assert "actor/pg_loss" in step
    stage1_metrics = read_metrics_jsonl(stage1_dir / "metrics.attempt1.jsonl")
    assert stage1_metrics[1]["dissect/filter/kept_pos_samples"] == 0
    assert stage1_metrics[1]["response_length/max"] <= 24
