"""Each training feature acts inside verl's real trainer on CPU, visible in its dissect/* metrics."""

from __future__ import annotations

import pytest

from dissect_lrm.demo import training_overrides
from dissect_lrm.trainer.launcher import run_training

pytestmark = [pytest.mark.e2e, pytest.mark.ray, pytest.mark.timeout(900)]


def _run(kit, workdir, *extra: str):
    overrides = [*training_overrides(kit, workdir, steps=2), "trainer.save_freq=-1", *extra]
    run = run_training(overrides, workdir, timeout_s=420)
    assert not run.timed_out and run.returncode == 0, run.describe_failure()
    assert sorted(run.metrics) == [1, 2]
    return run


def test_neg_mode_with_relative_length_reward_and_dr_grpo(warm_tiny_kit, tmp_path):
    run = _run(
        warm_tiny_kit,
        tmp_path,
        "algorithm.sample_filter.mode=neg",
        "algorithm.rlr.enable=true",
        "algorithm.rlr.alpha=0.0",  # shape every group with a correct sample, to see it act
        "algorithm.norm_adv_by_std_in_grpo=false",
        "actor_rollout_ref.actor.loss_agg_mode=seq-mean-token-sum-norm",
        "actor_rollout_ref.actor.loss_scale_factor=24",
    )
    for step, metrics in run.metrics.items():
        correct = metrics["dissect/samples/correct"]
        assert metrics["dissect/filter/kept_pos_samples"] == 0, step
        assert metrics["dissect/filter/removed_pos_samples"] == correct, step
        assert metrics["dissect/filter/kept_neg_samples"] == metrics["dissect/samples/total"] - correct, step
        assert metrics["dissect/filter/removed_neg_samples"] == 0, step
        assert metrics["dissect/rlr/shaped_group_frac"] >= 0.0
    shaped = [m["dissect/rlr/shaped_group_frac"] for m in run.metrics.values()]
    assert any(s > 0 for s in shaped), "with alpha=0 every group holding a correct sample is shaped"
    mixed_steps = [m for m in run.metrics.values() if m["dissect/groups/mixed_frac"] > 0]
    assert mixed_steps and all(m["actor/grad_norm"] > 0 for m in mixed_steps)


def test_pos_mode_on_truncated_responses_masks_and_skips_the_update(warm_tiny_kit, tmp_path):
    # 4 tokens cannot hold "</think>" followed by "\boxed{c}" (5 tokens): every response is wrong, whatever
    # the model samples, and the warm model's responses are cut (truncated).
    run = _run(
        warm_tiny_kit,
        tmp_path,
        "data.max_response_length=4",
        "algorithm.sample_filter.mode=pos",
        "algorithm.truncation_mask.enable=true",
    )
    for step, metrics in run.metrics.items():
        assert metrics["dissect/samples/correct"] == 0, step
        # Every truncated sample is incorrect here, so every one is masked (an early EOS is not truncated).
        assert (
            metrics["dissect/truncation/masked_samples"] == metrics["dissect/truncation/truncated_samples"]
        ), step
        assert metrics["dissect/filter/nothing_left"] == 1.0, step
        assert metrics["dissect/actor_update_skipped"] == 1.0, step
        assert "actor/grad_norm" not in metrics, step
    assert any(m["dissect/truncation/truncated_samples"] > 0 for m in run.metrics.values())


def test_offline_injection_with_luffy_loss(warm_tiny_kit, tmp_path):
    run = _run(warm_tiny_kit, tmp_path, "algorithm.injection.enable=true", "algorithm.luffy.enable=true")
    injected = [m["dissect/injection/injected_samples"] for m in run.metrics.values()]
    assert any(n > 0 for n in injected), "the warm tiny model leaves all-wrong groups: injection must act"
    for step, metrics in run.metrics.items():
        assert (
            metrics["dissect/injection/injected_samples"]
            <= metrics["dissect/injection/low_accuracy_groups"] * 2
        )
        if metrics["dissect/injection/injected_samples"] > 0:
            share = metrics["dissect/injection/offpolicy_token_frac"]
            assert share > 0, step
            # The mask the trainer wrote is the one the LUFFY loss saw in the actor worker.
            assert metrics["actor/luffy/offpolicy_token_frac"] == pytest.approx(share, abs=0.02), step
            assert 0 < metrics["actor/luffy/off_ratio_mean"] < 1, step
