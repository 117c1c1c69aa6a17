"""verl 0.9.1's real v1 trainer (Ray + FSDP2 engine worker + our hf rollout) runs GRPO on CPU.

Two steps, then a resumed run that must continue at step 3. Each run is a subprocess inside a
loopback-only network namespace (when one can be made) with a hard timeout.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from dissect_lrm.demo import training_overrides
from dissect_lrm.trainer.launcher import run_training

pytestmark = [pytest.mark.e2e, pytest.mark.ray, pytest.mark.timeout(900)]

RUN_TIMEOUT_S = 420


def grpo_overrides(kit, workdir: Path, total_steps: int) -> list[str]:
    """The demo's tiny GRPO run, with validation and a checkpoint at step 2."""
    return [
        *training_overrides(kit, workdir, total_steps),
        "trainer.v1.trainer_mode=dissect_sync",
        "trainer.test_freq=2",
        "actor_rollout_ref.rollout.val_kwargs.n=2",
        "trainer.save_freq=2",
    ]


@pytest.fixture(scope="module")
def trained(warm_tiny_kit, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("grpo_e2e")
    run = run_training(
        grpo_overrides(warm_tiny_kit, workdir, total_steps=2), workdir, timeout_s=RUN_TIMEOUT_S
    )
    assert not run.timed_out and run.returncode == 0, run.describe_failure()
    return workdir, run


def test_both_steps_are_logged_with_our_reward(trained):
    _, run = trained
    assert sorted(run.metrics) == [1, 2]
    assert run.phases[-1] == "finished"
    for step, metrics in run.metrics.items():
        # Our reward function ran (its acc reached the trainer) and our trainer's hooks ran.
        assert 0.0 <= metrics["dissect/acc/mean"] <= 1.0, step
        assert metrics["dissect/samples/total"] == 8 * 4
        fractions = [metrics[f"dissect/groups/{k}_frac"] for k in ("all_correct", "all_wrong", "mixed")]
        assert abs(sum(fractions) - 1.0) < 1e-6
        # With a binary reward, only mixed groups carry a gradient.
        if metrics["dissect/groups/mixed_frac"] > 0:
            assert metrics["actor/grad_norm"] > 0, step
    assert any(m["dissect/groups/mixed_frac"] > 0 for m in run.metrics.values())


def test_rollout_log_probs_match_the_fp32_actor(trained):
    """Our hf rollout's log-probs (generate's fp32 logits) against the actor's recomputed ones on the same
    tokens: equal up to summation order only when the actor computes in fp32 too (the CPU preset)."""
    _, run = trained
    for step, metrics in run.metrics.items():
        assert metrics["training/rollout_probs_diff_valid"] == 1, step
        assert metrics["training/rollout_probs_diff_max"] < 1e-4, step


def test_validation_reports_avg_and_uncertain_ratio(trained):
    _, run = trained
    metrics = run.metrics[2]
    source = "synthetic/arith"
    avg = metrics[f"dissect-val/{source}/avg@2"]
    assert avg == pytest.approx(metrics[f"val-core/{source}/acc/mean@2"], abs=1e-9)
    assert metrics[f"dissect-val/{source}/num_problems"] == 16
    ratios = [metrics[f"dissect-val/{source}/{k}_ratio"] for k in ("uncertain", "all_correct", "all_wrong")]
    # With 2 runs a problem's accuracy is 0, 0.5 or 1: uncertain (0.5 lies in [0.2, 0.8)) + the rest = 1.
    assert sum(ratios) == pytest.approx(1.0)
    assert f"dissect-val/{source}/avg@2" not in run.metrics[1]


def test_checkpoint_holds_updated_weights(trained, warm_tiny_kit):
    workdir, _ = trained
    checkpoint = workdir / "checkpoints" / "global_step_2" / "actor" / "model_world_size_1_rank_0.pt"
    assert checkpoint.is_file()
    assert (workdir / "checkpoints" / "latest_checkpointed_iteration.txt").read_text().strip() == "2"
    saved = torch.load(checkpoint, map_location="cpu", weights_only=False)
    initial = load_file(warm_tiny_kit.model_dir / "model.safetensors")
    saved = {name: (t.to_local() if hasattr(t, "to_local") else t).float() for name, t in saved.items()}
    assert set(initial) <= set(saved)  # the tied lm_head is saved too, safetensors stores it once
    changed = 0
    for name, tensor in initial.items():
        assert saved[name].shape == tensor.shape, name
        changed += not torch.equal(saved[name], tensor.float())
    assert changed > len(initial) // 2


def test_resumed_run_continues_at_step_3(trained, warm_tiny_kit):
    workdir, _ = trained
    run = run_training(
        grpo_overrides(warm_tiny_kit, workdir, total_steps=3),
        workdir,
        timeout_s=RUN_TIMEOUT_S,
        metrics_file="metrics_resumed.jsonl",
    )
    assert not run.timed_out and run.returncode == 0, run.describe_failure()
    assert sorted(run.metrics) == [3]
    assert "step 3" in run.phases and "step 1" not in run.phases
    assert (workdir / "checkpoints" / "global_step_3").is_dir()
