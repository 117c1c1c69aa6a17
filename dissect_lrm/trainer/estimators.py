"""Our advantage estimator, registered in verl as ``dissect_grpo``: GRPO / Dr.GRPO plus length rewards.

verl hands a registered estimator ``token_level_rewards``, ``response_mask``, ``index`` (the prompt
uid of every row) and ``config`` (the ``algorithm`` node). With every feature off the result equals
verl's ``grpo`` to the last bit (``dissect_lrm.algos.advantage``; tested in tests/integration).

Correctness is read from the outcome reward: a row is correct when its summed reward is >= 0.5.
Our reward function scores 1 for a verified answer and 0 otherwise (and a repetition penalty only
ever lowers incorrect rows), so this is the verifier's decision; length shaping is decided on it,
never on an already shaped reward.
"""

from __future__ import annotations

from typing import Any

import torch
from verl.trainer.ppo.core_algos import register_adv_est

from dissect_lrm.algos.advantage import grpo_advantage
from dissect_lrm.algos.grouping import dense_group_index
from dissect_lrm.algos.length_reward import shape_length_reward
from dissect_lrm.trainer.settings import algos_config

ESTIMATOR_NAME = "dissect_grpo"
CORRECT_THRESHOLD = 0.5

# Stats of the last estimator call, read by the trainer right after verl's _compute_advantage (the
# estimator runs in the trainer's own process, called from that method; verl has no return channel).
LAST_STATS: dict[str, float] = {}


def _config_get(config: Any, key: str, default: Any) -> Any:
    if config is None:
        return default
    getter = getattr(config, "get", None)
    return getter(key, default) if getter is not None else getattr(config, key, default)


@register_adv_est(ESTIMATOR_NAME)
def compute_dissect_grpo_advantage(
    token_level_rewards: torch.Tensor,
    response_mask: torch.Tensor,
    index: Any = None,
    config: Any = None,
    epsilon: float = 1e-6,
    **_kwargs: Any,
) -> tuple[torch.Tensor, torch.Tensor]:
    """GRPO advantages (eq. 1) over groups of ``index``; optional length reward (eq. 6-7) first."""
    if index is None:
        raise ValueError(f"{ESTIMATOR_NAME} needs the prompt uid of every row (verl passes it as 'index')")
    settings = algos_config(config)
    scores = token_level_rewards.sum(dim=-1)
    group, num_groups = dense_group_index(index)
    LAST_STATS.clear()
    if settings.rlr.enable:
        rlr = settings.rlr
        correct = scores >= CORRECT_THRESHOLD
        lengths = response_mask.sum(dim=-1)
        max_length = int(_config_get(config, "max_response_length", None) or response_mask.shape[-1])
        shaped = shape_length_reward(
            rlr.kind,
            scores,
            correct,
            lengths,
            group,
            num_groups,
            max_length,
            alpha=rlr.alpha,
            lambda_=rlr.lambda_,
            eps_low=rlr.eps_low,
            eps_up=rlr.eps_up,
            cosine_min_value_correct=rlr.cosine_min_value_correct,
            cosine_max_value_correct=rlr.cosine_max_value_correct,
            cosine_min_value_wrong=rlr.cosine_min_value_wrong,
            cosine_max_value_wrong=rlr.cosine_max_value_wrong,
            overlong_buffer_length=rlr.overlong_buffer_length,
            overlong_penalty_factor=rlr.overlong_penalty_factor,
        )
        scores = shaped.reward.to(scores.dtype)
        LAST_STATS.update({f"rlr/{key}": float(value) for key, value in shaped.stats.items()})
    advantages = grpo_advantage(
        scores,
        group,
        num_groups,
        norm_adv_by_std=bool(_config_get(config, "norm_adv_by_std_in_grpo", True)),
        epsilon=epsilon,
    )
    advantages = advantages.unsqueeze(-1) * response_mask
    return advantages, advantages
