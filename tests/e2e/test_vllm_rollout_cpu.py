"""verl 0.9.1's own vLLM rollout (rollout.name=vllm: its async server, log-probs, weight sync after each
update) feeds our reward, hooks and losses, on vLLM's CPU build.

Runs are shared to keep CI short: one 2-step run with the positive-sample filter and RLR (plus
validation and a checkpoint), its resumed continuation, and one 2-step injection + LUFFY run.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from dissect_lrm.demo import training_overrides
from dissect_lrm.trainer.launcher import run_training

pytest.importorskip("vllm", reason="vLLM's CPU build is installed by scripts/setup_env.sh")

pytestmark = [pytest.mark.e2e, pytest.mark.ray, pytest.mark.timeout(1200)]

RUN_TIMEOUT_S = 540
# verl's rollout-vs-actor check compares token probabilities (not log-probs) on the same tokens:
# vLLM's CPU kernels and the FSDP actor's sdpa forward, both fp32 (the CPU preset turns verl's default bf16
# autocast off), differ only by summation order: about 1e-6. The actor under bf16 differed by up to 0.07.
PROB_DIFF_TOLERANCE = 1e-4


def vllm_overrides(kit, workdir: Path, total_steps: int, *extra: str) -> list[str]:
    return [
        *training_overrides(kit, workdir, total_steps),
        "actor_rollout_ref.rollout.name=vllm",
        "trainer.v1.trainer_mode=dissect_sync",
        *extra,
    ]


def run_or_fail(overrides: list[str], workdir: Path, metrics_file: str = "metrics.jsonl"):
    run = run_training(overrides, workdir, timeout_s=RUN_TIMEOUT_S, metrics_file=metrics_file)
    assert not run.timed_out and run.returncode == 0, run.describe_failure()
    return run


FEATURES = (
    "algorithm.sample_filter.mode=pos",
    "algorithm.rlr.enable=true",
    "algorithm.rlr.alpha=0.0",  # shape every group with a correct sample, to see it act
    "trainer.test_freq=2",
    "actor_rollout_ref.rollout.val_kwargs.n=2",
    "trainer.save_freq=2",
)


@pytest.fixture(scope="module")
def trained(warm_tiny_kit, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("vllm_e2e")
    return workdir, run_or_fail(vllm_overrides(warm_tiny_kit, workdir, 2, *FEATURES), workdir)


def test_grpo_steps_through_vllm_with_our_reward_filter_and_rlr(trained):
    _, run = trained
    assert sorted(run.metrics) == [1, 2] and run.phases[-1] == "finished"
    for step, metrics in run.metrics.items():
        assert 0.0 <= metrics["dissect/acc/mean"] <= 1.0, step
        total, correct = metrics["dissect/samples/total"], metrics["dissect/samples/correct"]
        assert total == 8 * 4, step
        # pos mode: every correct sample kept, every wrong one removed.
        assert metrics["dissect/filter/kept_pos_samples"] == correct, step
        assert metrics["dissect/filter/removed_neg_samples"] == total - correct, step
        assert metrics["dissect/filter/kept_neg_samples"] == 0, step
        if metrics["dissect/groups/mixed_frac"] > 0:
            assert metrics["actor/grad_norm"] > 0, step
    assert any(m["dissect/rlr/shaped_group_frac"] > 0 for m in run.metrics.values())
    assert any(m["dissect/groups/mixed_frac"] > 0 for m in run.metrics.values())
    assert run.metrics[2]["dissect-val/synthetic/arith/num_problems"] == 16  # validation went through vLLM


def test_rollout_log_probs_match_the_actor_on_the_same_tokens(trained):
    _, run = trained
    for step, metrics in run.metrics.items():
        assert metrics["training/rollout_probs_diff_valid"] == 1, step
        print(
            f"step {step}: rollout vs actor max |p diff| {metrics['training/rollout_probs_diff_max']:.2e}, "
            f"pearson {metrics['training/rollout_actor_probs_pearson_corr']:.8f}"
        )
        assert metrics["training/rollout_probs_diff_max"] < PROB_DIFF_TOLERANCE, step
        assert metrics["training/rollout_actor_probs_pearson_corr"] > 0.99999, step
    # Step 2's rollout ran on the weights synced after step 1: were they stale, the actor's
    # recomputed probabilities (new weights) would disagree with vLLM's (old weights).
    assert run.metrics[2]["actor/grad_norm"] > 0 or run.metrics[1]["actor/grad_norm"] > 0


def test_checkpoint_holds_updated_weights_and_resume_continues(trained, warm_tiny_kit):
    workdir, _ = trained
    checkpoint = workdir / "checkpoints" / "global_step_2" / "actor" / "model_world_size_1_rank_0.pt"
    assert checkpoint.is_file()
    saved = torch.load(checkpoint, map_location="cpu", weights_only=False)
    saved = {name: (t.to_local() if hasattr(t, "to_local") else t).float() for name, t in saved.items()}
    initial = load_file(warm_tiny_kit.model_dir / "model.safetensors")
    changed = [n for n, t in initial.items() if n in saved and not torch.equal(saved[n], t.float())]
    assert changed, "two GRPO updates through the vLLM rollout left every weight unchanged"
    resumed = run_or_fail(
        vllm_overrides(warm_tiny_kit, workdir, 3, *FEATURES, "trainer.save_freq=-1"),
        workdir,
        metrics_file="metrics_resumed.jsonl",
    )
    assert sorted(resumed.metrics) == [3]  # continued at step 3, not from scratch
    assert "step 3" in resumed.phases and "step 1" not in resumed.phases


def test_offline_injection_with_luffy_loss_through_vllm(warm_tiny_kit, tmp_path):
    run = run_or_fail(
        vllm_overrides(
            warm_tiny_kit, tmp_path, 2, "trainer.save_freq=-1", "algorithm.injection.enable=true",
            # groups with at most half right qualify: all-wrong groups alone are too rare to count on
            "algorithm.injection.gamma=0.5", "algorithm.luffy.enable=true",
        ),
        tmp_path,
    )  # fmt: skip
    assert sorted(run.metrics) == [1, 2]
    assert any(m["dissect/injection/injected_samples"] > 0 for m in run.metrics.values())
    for step, metrics in run.metrics.items():
        if metrics["dissect/injection/injected_samples"] > 0:
            share = metrics["dissect/injection/offpolicy_token_frac"]
            assert share > 0, step
            assert metrics["actor/luffy/offpolicy_token_frac"] == pytest.approx(share, abs=0.02), step
            assert 0 < metrics["actor/luffy/off_ratio_mean"] < 1, step
