"""Our advantage estimator, registered in verl as ``dissect_grpo``: GRPO / Dr.GRPO over prompt groups.

verl hands a registered estimator ``token_level_rewards``, ``response_mask``, ``index`` (the prompt
uid of every row) and ``config`` (the ``algorithm`` node). The result equals verl's ``grpo`` to the
last bit (``dissect_lrm.algos.advantage``; tested in tests/integration). Length shaping is not done
here: an estimator sees only the summed reward, not the verifier's decision, so the trainer's
``length_reward`` hook shapes ``rm_scores`` from ``acc`` before the advantage is computed.
"""

from __future__ import annotations

from typing import Any

import torch
from verl.trainer.ppo.core_algos import register_adv_est

from dissect_lrm.algos.advantage import grpo_advantage
from dissect_lrm.algos.grouping import dense_group_index

ESTIMATOR_NAME = "dissect_grpo"


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
    """GRPO advantages (eq. 1) of the summed reward over groups of ``index``."""
    if index is None:
        raise ValueError(f"{ESTIMATOR_NAME} needs the prompt uid of every row (verl passes it as 'index')")
    group, num_groups = dense_group_index(index)
    advantages = grpo_advantage(
        token_level_rewards.sum(dim=-1),
        group,
        num_groups,
        norm_adv_by_std=bool(_config_get(config, "norm_adv_by_std_in_grpo", True)),
        epsilon=epsilon,
    )
    advantages = advantages.unsqueeze(-1) * response_mask
    return advantages, advantages
