"""GRPO / Dr.GRPO outcome advantage (paper eq. 1 and 8), vectorised over groups."""

from __future__ import annotations

import numpy as np
import torch

from dissect_lrm.algos.grouping import dense_group_index, group_count

__all__ = ["group_mean_std", "grpo_advantage", "grpo_outcome_advantage"]


def group_mean_std(
    scores: torch.Tensor, group: torch.Tensor, num_groups: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-group mean and *unbiased* std of ``scores`` ``(bs,)``, exactly as verl's ``grpo`` computes them.

    A group of one sample gets mean 0 and std 1 (verl's convention). For larger groups the members are
    gathered, in batch order, into one ``(G_k, k)`` matrix per distinct group size ``k`` and reduced
    with ``torch.mean`` / ``torch.std`` along the rows: the same reduction over the same values in the
    same order as verl's per-group ``torch.stack``, so the results agree to the last bit (float32, bfloat16).
    The loop runs over distinct group sizes (usually one), never over samples; float64 scores alone are
    reduced per group (see below).

    Returns:
        ``(mean, std)``, each ``(G,)`` in ``scores.dtype``.
    """
    mean = torch.zeros(num_groups, dtype=scores.dtype, device=scores.device)
    std = torch.ones(num_groups, dtype=scores.dtype, device=scores.device)
    count = group_count(group, num_groups)
    order = torch.argsort(group, stable=True)  # members of a group contiguous, batch order kept
    start = torch.cumsum(count, 0) - count
    for size in torch.unique(count).tolist():
        if size <= 1:
            continue
        groups_of_size = torch.nonzero(count == size).squeeze(-1)
        rows = order[start[groups_of_size].unsqueeze(-1) + torch.arange(size, device=group.device)]
        members = scores[rows]
        if members.dtype == torch.float64:
            # float64 1-D torch.std takes another CPU kernel than a row-wise reduction and differs in the
            # last bit; reduce group by group there (float32, verl's reward dtype, stays vectorised).
            mean[groups_of_size] = torch.stack([row.mean() for row in members.unbind(0)])
            std[groups_of_size] = torch.stack([row.std() for row in members.unbind(0)])
        else:
            mean[groups_of_size] = members.mean(dim=-1)
            std[groups_of_size] = members.std(dim=-1)
    return mean, std


def grpo_advantage(
    scores: torch.Tensor,
    group: torch.Tensor,
    num_groups: int,
    norm_adv_by_std: bool = True,
    epsilon: float = 1e-6,
) -> torch.Tensor:
    """Outcome advantage per sample, paper eq. 1 (GRPO) and its Dr.GRPO variant (appendix C.1).

    ``A_i = (r_i - mean_g) / (std_g + epsilon)`` with ``norm_adv_by_std`` (GRPO, unbiased std), else
    ``A_i = r_i - mean_g`` (Dr.GRPO). With injected offline samples in the batch the group statistics run
    over the union of online and offline samples (eq. 8), as in the original release.

    Args:
        scores: ``(bs,)`` sequence-level reward ``r_i``.
        group: ``(bs,)`` dense group index (see :func:`dense_group_index`).
        num_groups: number of groups ``G``.
        norm_adv_by_std: verl's ``algorithm.norm_adv_by_std_in_grpo``.
        epsilon: added to the std (verl's default 1e-6).

    Returns:
        ``(bs,)`` advantage per sample.
    """
    with torch.no_grad():
        mean, std = group_mean_std(scores, group, num_groups)
        centred = scores - mean[group]
        if not norm_adv_by_std:
            return centred
        denominator = std + epsilon
        # verl keeps a singleton group's std as a float32 scalar, so its `1 + epsilon` is rounded to float32
        # even for float64 scores; match it to stay bit-identical.
        singleton_denominator = (torch.tensor(1.0) + epsilon).to(scores.dtype)
        denominator = torch.where(group_count(group, num_groups) == 1, singleton_denominator, denominator)
        return centred / denominator[group]


def grpo_outcome_advantage(
    token_level_rewards: torch.Tensor,
    response_mask: torch.Tensor,
    index: np.ndarray,
    norm_adv_by_std: bool = True,
    epsilon: float = 1e-6,
) -> tuple[torch.Tensor, torch.Tensor]:
    """GRPO advantage in verl's estimator layout: bit-identical to ``compute_grpo_outcome_advantage``.

    ``r_i = sum_t token_level_rewards[i, t]``; the scalar advantage (eq. 1) is broadcast over the
    response tokens and multiplied by ``response_mask``.

    Args:
        token_level_rewards: ``(bs, L)``.
        response_mask: ``(bs, L)``.
        index: ``(bs,)`` group ids (verl's ``uid``).

    Returns:
        ``(advantages, returns)``, both the same ``(bs, L)`` tensor (verl's convention for outcome rewards).
    """
    group, num_groups = dense_group_index(index)
    scores = token_level_rewards.sum(dim=-1)
    advantage = grpo_advantage(scores, group.to(scores.device), num_groups, norm_adv_by_std, epsilon)
    advantages = advantage.unsqueeze(-1) * response_mask
    return advantages, advantages
