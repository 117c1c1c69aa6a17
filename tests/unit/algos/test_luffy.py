"""LUFFY loss matrix and its autograd gradient against the formula on a hand case."""

import math

import pytest
import torch

from dissect_lrm.algos.luffy import luffy_loss_matrix


def _case(advantage: float):
    # token 0 off-policy with p = 0.4; token 1 on-policy with p = 0.5, old p = 0.25 -> ratio 2
    log_prob = torch.tensor([[math.log(0.4), math.log(0.5)]], dtype=torch.float64, requires_grad=True)
    old_log_prob = torch.tensor([[math.log(0.4), math.log(0.25)]], dtype=torch.float64)
    advantages = torch.full((1, 2), advantage, dtype=torch.float64)
    mask = torch.ones(1, 2, dtype=torch.float64)
    offpolicy = torch.tensor([[True, False]])
    return old_log_prob, log_prob, advantages, mask, offpolicy


def _token_mean(loss, mask):
    return (loss * mask).sum() / mask.sum()


def test_luffy_clipped_positive_advantage():
    old, logp, adv, mask, off = _case(1.0)
    loss, metrics = luffy_loss_matrix(old, logp, adv, mask, off, gamma=0.1, on_policy_clip=True)
    # off: -A p/(p+g) = -0.4/0.5 = -0.8; on: max(-2, -clip(2, 0.8, 1.2)) = -1.2
    assert loss.flatten().tolist() == pytest.approx([-0.8, -1.2])
    _token_mean(loss, mask).backward()
    # d/dlogp: off -A g p/(p+g)^2 = -0.1*0.4/0.25 = -0.16; on: clipped branch is constant -> 0; /2 tokens
    assert logp.grad.flatten().tolist() == pytest.approx([-0.08, 0.0])
    assert metrics["off_ratio_mean"] == pytest.approx(0.8)
    assert metrics["off_policy_prob"] == pytest.approx(0.4)
    assert metrics["on_policy_prob"] == pytest.approx(0.5)
    assert metrics["off_pg_loss"] == pytest.approx(-0.8)
    assert metrics["on_pg_loss"] == pytest.approx(-1.2)
    assert metrics["pg_clipfrac"] == 1.0
    assert metrics["ppo_kl"] == pytest.approx(-math.log(2))
    assert metrics["offpolicy_token_frac"] == 0.5


def test_luffy_unclipped_is_the_original_variant():
    old, logp, adv, mask, off = _case(1.0)
    loss, metrics = luffy_loss_matrix(old, logp, adv, mask, off, gamma=0.1, on_policy_clip=False)
    assert loss.flatten().tolist() == pytest.approx([-0.8, -2.0])
    _token_mean(loss, mask).backward()
    assert logp.grad.flatten().tolist() == pytest.approx([-0.08, -1.0])  # on: -A r / 2
    assert metrics["pg_clipfrac"] == 0.0


def test_luffy_negative_advantage_and_gamma():
    old, logp, adv, mask, off = _case(-1.0)
    loss, _ = luffy_loss_matrix(old, logp, adv, mask, off, gamma=0.4)
    # off: 0.4/0.8 = 0.5; on: max(2, 1.2) = 2 (unclipped branch, gradient flows)
    assert loss.flatten().tolist() == pytest.approx([0.5, 2.0])
    _token_mean(loss, mask).backward()
    # off: -A g p/(p+g)^2 = 0.4*0.4/0.64 = 0.25 -> /2; on: -A r = 2 -> /2
    assert logp.grad.flatten().tolist() == pytest.approx([0.125, 1.0])


def test_luffy_dual_clip_and_per_sample_mask():
    # ratio 0.5 / 0.1 = 5 on both rows; row 0 on-policy (dual clip), row 1 off-policy by a per-sample mask
    old = torch.full((2, 1), math.log(0.1), dtype=torch.float64)
    logp = torch.full((2, 1), math.log(0.5), dtype=torch.float64)
    adv = torch.full((2, 1), -1.0, dtype=torch.float64)
    mask = torch.ones(2, 1, dtype=torch.float64)
    loss, _ = luffy_loss_matrix(
        old, logp, adv, mask, torch.tensor([False, True]), gamma=0.1, clip_ratio_c=3.0
    )
    assert loss.flatten().tolist() == pytest.approx([3.0, 0.5 / 0.6])  # min(max(5, 1.2), 3); -A p/(p+g)


def test_luffy_metrics_are_zero_without_offpolicy_tokens():
    old, logp, adv, mask, _ = _case(1.0)
    _, metrics = luffy_loss_matrix(old, logp, adv, mask, torch.zeros(1, 2, dtype=torch.bool))
    assert (
        metrics["off_ratio_mean"] == 0.0
        and metrics["off_pg_loss"] == 0.0
        and metrics["offpolicy_token_frac"] == 0.0
    )
