"""The LUFFY policy loss, registered in verl as ``luffy``, and its config (a ``PolicyLossConfig`` subclass).

verl passes a registered policy loss exactly seven arguments; the only per-token extra it forwards
is ``rollout_is_weights``. In LUFFY runs our trainer therefore writes the per-token off-policy mask
(1 on injected offline tokens) into that field, and start-up validation refuses LUFFY together with
verl's own rollout importance sampling (``algorithm.rollout_correction.rollout_is``), which would
otherwise claim the same channel.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from verl.trainer.ppo.core_algos import agg_loss, register_policy_loss
from verl.workers.config import PolicyLossConfig

from dissect_lrm.algos.luffy import luffy_loss_matrix

LUFFY_LOSS_MODE = "luffy"


@dataclass
class DissectPolicyLossConfig(PolicyLossConfig):
    """verl's policy-loss config plus LUFFY's knobs (selected with ``policy_loss._target_``).

    Args:
        luffy_gamma: shaping constant of f(p) = p / (p + gamma) on off-policy tokens (LUFFY: 0.1).
        luffy_on_policy_clip: clip on-policy tokens as PPO does (True); False is the original
            release's unclipped ratio.
    """

    luffy_gamma: float = 0.1
    luffy_on_policy_clip: bool = True


def _clip_bounds(config) -> tuple[float, float]:
    low = config.clip_ratio_low if config.clip_ratio_low is not None else config.clip_ratio
    high = config.clip_ratio_high if config.clip_ratio_high is not None else config.clip_ratio
    return float(low), float(high)


@register_policy_loss(LUFFY_LOSS_MODE)
def compute_luffy_policy_loss(
    old_log_prob: torch.Tensor,
    log_prob: torch.Tensor,
    advantages: torch.Tensor,
    response_mask: torch.Tensor,
    loss_agg_mode: str = "token-mean",
    config=None,
    rollout_is_weights: torch.Tensor | None = None,
) -> tuple[torch.Tensor, dict[str, float]]:
    """LUFFY: shaped objective on off-policy tokens, clipped PPO on on-policy tokens, any aggregation."""
    if config is None:
        raise ValueError("the luffy policy loss needs the actor config")
    policy_loss = config.policy_loss
    offpolicy = (
        torch.zeros_like(response_mask, dtype=torch.bool)
        if rollout_is_weights is None
        else rollout_is_weights > 0.5
    )
    low, high = _clip_bounds(config)
    loss_matrix, metrics = luffy_loss_matrix(
        old_log_prob,
        log_prob,
        advantages,
        response_mask,
        offpolicy,
        gamma=float(getattr(policy_loss, "luffy_gamma", 0.1)),
        clip_ratio_low=low,
        clip_ratio_high=high,
        on_policy_clip=bool(getattr(policy_loss, "luffy_on_policy_clip", True)),
        clip_ratio_c=getattr(config, "clip_ratio_c", None),
    )
    loss = agg_loss(loss_matrix, response_mask, loss_agg_mode, **config.global_batch_info)
    return loss, {f"actor/luffy/{key}": float(value) for key, value in metrics.items()}
