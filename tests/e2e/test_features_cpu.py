"""Each training feature acts inside verl's real trainer on CPU, visible in its dissect/* metrics."""

from __future__ import annotations

import math

import pyarrow.parquet as pq
import pytest
import torch
from transformers import AutoTokenizer

from dissect_lrm.demo import training_overrides
from dissect_lrm.trainer.launcher import run_training
from dissect_lrm.trainer.loss_trace import read_trace

pytestmark = [pytest.mark.e2e, pytest.mark.ray, pytest.mark.timeout(900)]


def _run(kit, workdir, *extra: str, extra_env: dict[str, str] | None = None):
    overrides = [*training_overrides(kit, workdir, steps=2), "trainer.save_freq=-1", *extra]
    run = run_training(overrides, workdir, timeout_s=420, extra_env=extra_env)
    assert not run.timed_out and run.returncode == 0, run.describe_failure()
    assert sorted(run.metrics) == [1, 2]
    return run


def _kept_rows(calls: list[dict]) -> tuple[int, torch.Tensor]:
    """Rows the actor's loss had in its mask, and their advantages."""
    count, advantages = 0, []
    for call in calls:
        mask = call["inputs"]["response_mask"].bool()
        kept = mask.any(dim=-1)
        count += int(kept.sum())
        advantages.append(_row_advantage(call["inputs"]["advantages"] * mask)[kept])
    return count, torch.cat(advantages)


def test_neg_mode_with_relative_length_reward_and_dr_grpo(warm_tiny_kit, tmp_path):
    trace_dir = tmp_path / "loss_trace"
    run = _run(
        warm_tiny_kit,
        tmp_path,
        "algorithm.sample_filter.mode=neg",
        "algorithm.rlr.enable=true",
        "algorithm.rlr.alpha=0.0",  # shape every group with a correct sample, to see it act
        "algorithm.norm_adv_by_std_in_grpo=false",
        "actor_rollout_ref.actor.loss_agg_mode=seq-mean-token-sum-norm",
        "actor_rollout_ref.actor.loss_scale_factor=24",
        extra_env={"DISSECT_LRM_LOSS_TRACE": str(trace_dir)},
    )
    # What the actor's loss received: only the kept (incorrect) samples, none with a positive advantage.
    kept_rows, kept_advantages = _kept_rows(read_trace(trace_dir))
    assert kept_rows == sum(m["dissect/filter/kept_neg_samples"] for m in run.metrics.values())
    assert (kept_advantages <= 0).all()
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


CLIP_LOW, CLIP_HIGH, CLIP_C, LUFFY_GAMMA = 0.001, 0.3, 3.0, 0.1


def _row_advantage(advantages: torch.Tensor) -> torch.Tensor:
    """The (constant) advantage of each row of a masked outcome-advantage matrix."""
    index = advantages.abs().argmax(dim=-1, keepdim=True)
    return advantages.gather(-1, index).squeeze(-1)


def _offline_lengths(kit) -> set[int]:
    """Token lengths of every offline solution of the kit as a finished response (EOS appended)."""
    tokenizer = AutoTokenizer.from_pretrained(kit.model_dir)
    lengths = set()
    for solutions in pq.read_table(kit.train_parquet).column("offline_solutions").to_pylist():
        for text in solutions or []:
            ids = tokenizer(text, add_special_tokens=False)["input_ids"]
            lengths.add(
                ids.index(tokenizer.eos_token_id) + 1 if tokenizer.eos_token_id in ids else len(ids) + 1
            )
    return lengths


def _expected_luffy_loss(call: dict, low: float = CLIP_LOW, high: float = CLIP_HIGH) -> tuple[float, float]:
    """LUFFY (token-mean) recomputed from the inputs the actor's loss received, with the given clip bounds:
    -A p/(p+gamma) on off-policy tokens, clipped PPO on the others, dual-clipped at -A * CLIP_C where A < 0.
    Ratios, their clip and p are taken in the dtype the worker computed them in (its log-probs'), sums in
    float64. Returns (loss, clip fraction)."""
    inputs = call["inputs"]
    log_prob = inputs["log_prob"]
    ratio = torch.exp(log_prob - inputs["old_log_prob"].to(log_prob.dtype))
    clipped_ratio = ratio.clamp(1 - low, 1 + high).double()
    ratio = ratio.double()
    prob = torch.exp(log_prob)
    shaped = (prob / (prob + LUFFY_GAMMA)).double()
    mask, advantages = inputs["response_mask"].double(), inputs["advantages"].double()
    off = (inputs["rollout_is_weights"] > 0.5).double() * mask
    on = mask - off
    unclipped = -advantages * ratio
    clipped = -advantages * clipped_ratio
    on_loss = torch.maximum(unclipped, clipped)
    on_loss = torch.where(advantages < 0, torch.minimum(on_loss, -advantages * CLIP_C), on_loss)
    loss_matrix = off * (-advantages * shaped) + on * on_loss
    info = call["global_batch_info"]
    loss = float((loss_matrix * mask).sum() / info["batch_num_tokens"] * info["dp_size"])
    clipfrac = float(((clipped > unclipped).double() * on).sum() / on.sum().clamp(min=1))
    return loss, clipfrac


def test_what_the_actor_consumed_under_pos_filter_injection_and_luffy(warm_tiny_kit, tmp_path):
    trace_dir = tmp_path / "loss_trace"
    run = _run(
        warm_tiny_kit,
        tmp_path,
        "algorithm.sample_filter.mode=pos",
        # Half of the negatives are kept (the original's reserve ratio): on-policy rows with a negative
        # advantage, so the clip bounds have tokens to act on whatever few correct samples the tiny
        # model draws (with pos alone, the kept rows can be almost all injected, off-policy ones).
        "algorithm.sample_filter.keep_ratio=0.5",
        "algorithm.injection.enable=true",
        # Groups with at most half right qualify (one injected sample each), not only all-wrong ones: the warm
        # model gets about half of its samples right, and 16 groups of 4 drew no all-wrong group in one CI run.
        "algorithm.injection.gamma=0.5",
        "algorithm.injection.max_inject=1",
        "algorithm.luffy.enable=true",
        f"algorithm.luffy.gamma={LUFFY_GAMMA}",
        f"actor_rollout_ref.actor.clip_ratio_low={CLIP_LOW}",
        f"actor_rollout_ref.actor.clip_ratio_high={CLIP_HIGH}",
        f"actor_rollout_ref.actor.clip_ratio_c={CLIP_C}",
        # two mini-batches per step: the second one's ratio differs from 1, so the clip bounds matter
        "actor_rollout_ref.actor.ppo_mini_batch_size=4",
        extra_env={"DISSECT_LRM_LOSS_TRACE": str(trace_dir)},
    )
    calls = read_trace(trace_dir)
    assert calls and all(call["loss_mode"] == "luffy" for call in calls)
    # Kept rows are spread over the two mini-batches: no 0/0 loss.
    assert all(math.isfinite(call["loss"]) for call in calls)
    assert any("dissect/filter/empty_mini_batches" in m for m in run.metrics.values())
    mask_rows, advantages_kept = _kept_rows(calls)
    offpolicy_rows = 0
    offline_lengths = _offline_lengths(warm_tiny_kit)
    for call in calls:
        inputs = call["inputs"]
        mask = inputs["response_mask"].bool()
        # Injection: the LUFFY loss received the off-policy mask on exactly the injected tokens, and those
        # rows hold the offline solutions' tokens (their lengths).
        weights = inputs["rollout_is_weights"]
        off_rows = (weights > 0.5).any(dim=-1)
        offpolicy_rows += int(off_rows.sum())
        assert torch.equal(weights[off_rows] > 0.5, mask[off_rows])
        assert not (weights[~off_rows] > 0.5).any()
        assert {int(n) for n in mask[off_rows].sum(dim=-1)} <= offline_lengths
        # LUFFY: the loss the worker computed is the one the configured clip bounds give.
        expected_loss, expected_clipfrac = _expected_luffy_loss(call)
        assert call["loss"] == pytest.approx(expected_loss, rel=5e-4, abs=1e-7)
        assert call["metrics"]["actor/luffy/pg_clipfrac"] == pytest.approx(expected_clipfrac, abs=1e-3)
    # Filter: the actor trained on exactly the kept samples: every correct one plus the reserve draw of
    # incorrect ones; a negative advantage only on kept incorrect rows.
    kept_samples = sum(
        m["dissect/filter/kept_pos_samples"] + m["dissect/filter/kept_neg_samples"]
        for m in run.metrics.values()
    )
    removed = sum(m["dissect/filter/removed_neg_samples"] for m in run.metrics.values())
    assert removed > 0, "the warm tiny model answers some problems wrong: pos mode must remove them"
    assert mask_rows == kept_samples
    kept_neg = sum(m["dissect/filter/kept_neg_samples"] for m in run.metrics.values())
    assert 0 < kept_neg < kept_samples
    assert int((advantages_kept < 0).sum()) <= kept_neg
    assert any((m["dissect/groups/mixed_frac"] > 0) for m in run.metrics.values())
    injected = sum(m["dissect/injection/injected_samples"] for m in run.metrics.values())
    assert injected > 0, "groups with at most half right occur: injection must act"
    assert offpolicy_rows == sum(m["dissect/injection/injected_correct"] for m in run.metrics.values())
    # The check has power: on some mini-batch the swapped bounds would clip other tokens.
    assert any(
        abs(_expected_luffy_loss(call, CLIP_HIGH, CLIP_LOW)[1] - call["metrics"]["actor/luffy/pg_clipfrac"])
        > 0.01
        for call in calls
    )
