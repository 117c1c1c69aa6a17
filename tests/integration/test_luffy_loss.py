"""The registered LUFFY loss, called through verl's registry and config classes like the actor does."""

from __future__ import annotations

import pytest
import torch
from omegaconf import OmegaConf
from verl.trainer.ppo.core_algos import agg_loss, get_policy_loss_fn
from verl.utils.config import omega_conf_to_dataclass

import dissect_lrm.trainer.plugin  # noqa: F401
from dissect_lrm.algos.luffy import luffy_loss_matrix
from dissect_lrm.trainer.losses import LUFFY_LOSS_MODE, DissectPolicyLossConfig


def _actor_config(gamma: float, clip: bool, **actor):
    """The actor config as the worker builds it: the policy_loss node becomes our dataclass via _target_."""
    from verl.workers.config import ActorConfig

    node = OmegaConf.create(
        {
            "_target_": "dissect_lrm.trainer.losses.DissectPolicyLossConfig",
            "loss_mode": LUFFY_LOSS_MODE,
            "luffy_gamma": gamma,
            "luffy_on_policy_clip": clip,
        }
    )
    policy_loss = omega_conf_to_dataclass(node)
    assert isinstance(policy_loss, DissectPolicyLossConfig) and policy_loss.luffy_gamma == gamma
    return ActorConfig(
        strategy="fsdp", rollout_n=2, ppo_micro_batch_size_per_gpu=2, policy_loss=policy_loss, **actor
    )


@pytest.mark.parametrize("mode", ["token-mean", "seq-mean-token-sum", "seq-mean-token-mean"])
def test_luffy_loss_through_verl_matches_the_formula(mode):
    torch.manual_seed(0)
    old, new = torch.randn(4, 5) - 1, torch.randn(4, 5) - 1
    advantages = torch.randn(4, 1).expand(4, 5).clone()
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [1, 0, 0, 0, 0], [1, 1, 1, 1, 0]])
    offpolicy = torch.zeros(4, 5)
    offpolicy[1] = 1.0  # row 1 is an injected offline sample
    config = _actor_config(gamma=0.3, clip=True)
    loss_fn = get_policy_loss_fn(LUFFY_LOSS_MODE)
    loss, metrics = loss_fn(
        old, new, advantages, mask, loss_agg_mode=mode, config=config, rollout_is_weights=offpolicy
    )
    matrix, _ = luffy_loss_matrix(
        old, new, advantages, mask, offpolicy.bool(), gamma=0.3, clip_ratio_c=config.clip_ratio_c
    )
    assert torch.allclose(loss, agg_loss(matrix, mask, mode))
    # Off-policy row by hand: -A * p / (p + gamma), p = exp(new)
    p = new[1].exp()
    expected_row = -advantages[1] * p / (p + 0.3)
    assert torch.allclose(matrix[1], expected_row)
    assert metrics["actor/luffy/offpolicy_token_frac"] == pytest.approx(5 / 13)  # 5 of the 13 valid tokens


def test_without_offpolicy_tokens_luffy_is_clipped_ppo():
    torch.manual_seed(1)
    old, new = torch.randn(3, 4), torch.randn(3, 4)
    advantages = torch.randn(3, 4)
    mask = torch.ones(3, 4)
    config = _actor_config(gamma=0.1, clip=True)
    luffy, _ = get_policy_loss_fn(LUFFY_LOSS_MODE)(old, new, advantages, mask, "token-mean", config, None)
    vanilla, _ = get_policy_loss_fn("vanilla")(old, new, advantages, mask, "token-mean", config, None)
    assert torch.allclose(luffy, vanilla, atol=1e-6)


def test_luffy_clips_on_policy_tokens_with_the_configured_asymmetric_bounds():
    # clip_ratio_low 0.1, clip_ratio_high 0.3 (verl's keys on the actor config). Two on-policy tokens:
    #   A = +1, r = 1.2: inside [0.9, 1.3] -> loss -1.2 (swapped bounds [0.7, 1.1] would clip it to -1.1)
    #   A = -2, r = 0.8: below 0.9 -> clipped: max(1.6, 1.8) = 1.8 (swapped: 0.8 stays, loss 1.6)
    config = _actor_config(gamma=0.1, clip=True, clip_ratio_low=0.1, clip_ratio_high=0.3)
    old = torch.zeros(1, 2)
    new = torch.log(torch.tensor([[1.2, 0.8]]))
    advantages = torch.tensor([[1.0, -2.0]])
    mask = torch.ones(1, 2)
    loss_fn = get_policy_loss_fn(LUFFY_LOSS_MODE)
    loss, metrics = loss_fn(
        old,
        new,
        advantages,
        mask,
        loss_agg_mode="token-sum",
        config=config,
        rollout_is_weights=torch.zeros(1, 2),
    )
    assert loss.item() == pytest.approx(-1.2 + 1.8, abs=1e-6)
    assert metrics["actor/luffy/pg_clipfrac"] == pytest.approx(0.5)  # the A < 0 token only
