"""Group bookkeeping for GRPO: prompt ids -> dense group indices, and per-group scatter reductions."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

__all__ = [
    "dense_group_index",
    "group_count",
    "group_sum",
    "group_mean",
    "group_accuracy",
    "group_outcome_fractions",
]


def dense_group_index(index: np.ndarray | Sequence | torch.Tensor) -> tuple[torch.Tensor, int]:
    """Map arbitrary group ids (verl's ``uid`` strings, ints) to dense ``0..G-1`` in order of first appearance.

    Args:
        index: ``(bs,)`` group id of each sample (numpy object array of uuids, list, or tensor).

    Returns:
        ``(group, num_groups)`` where ``group`` is a ``(bs,)`` int64 tensor; the first sample of the
        batch belongs to group 0, the first sample of a new prompt opens the next group.
    """
    ids = index.cpu().numpy() if isinstance(index, torch.Tensor) else np.asarray(index)
    if ids.ndim != 1:
        raise ValueError(f"group index must be 1-D, got shape {ids.shape}")
    if ids.size == 0:
        return torch.zeros(0, dtype=torch.long), 0
    _, first, inverse = np.unique(ids, return_index=True, return_inverse=True)
    # np.unique numbers groups in sorted-id order; renumber them by first appearance.
    rank_by_first = np.empty(first.size, dtype=np.int64)
    rank_by_first[np.argsort(first, kind="stable")] = np.arange(first.size)
    return torch.from_numpy(rank_by_first[inverse.reshape(-1)]), int(first.size)


def group_count(group: torch.Tensor, num_groups: int) -> torch.Tensor:
    """``(G,)`` int64 number of samples in each group."""
    return torch.bincount(group, minlength=num_groups)


def group_sum(values: torch.Tensor, group: torch.Tensor, num_groups: int) -> torch.Tensor:
    """``(G,)`` sum of ``values`` ``(bs,)`` over each group (scatter-add, no loop over samples)."""
    out = torch.zeros(num_groups, dtype=values.dtype, device=values.device)
    return out.index_add_(0, group, values)


def group_mean(
    values: torch.Tensor, group: torch.Tensor, num_groups: int, where: torch.Tensor | None = None
) -> torch.Tensor:
    """``(G,)`` mean of ``values`` over each group, restricted to samples with ``where`` True if given.

    Groups with no selected sample get 0 (never NaN), so callers can mask them with their own counts.
    """
    values = values.to(torch.float64 if values.dtype == torch.float64 else torch.float32)
    weight = torch.ones_like(values) if where is None else where.to(values.dtype)
    total = group_sum(values * weight, group, num_groups)
    count = group_sum(weight, group, num_groups)
    return torch.where(count > 0, total / count.clamp(min=1), torch.zeros_like(total))


def group_accuracy(correct: torch.Tensor, group: torch.Tensor, num_groups: int) -> torch.Tensor:
    """``(G,)`` float32 fraction of correct samples per group (``c_g`` in appendix B.4/B.5)."""
    return group_mean(correct.to(torch.float32), group, num_groups)


def group_outcome_fractions(correct: torch.Tensor, group: torch.Tensor, num_groups: int) -> dict[str, float]:
    """Zero-advantage statistics of §4.1 (Fig. 2) on raw correctness.

    A group whose samples are all correct or all wrong has zero GRPO advantage under a binary reward.

    Returns:
        ``{"all_correct": f, "all_wrong": f, "mixed": f}``, fractions of the ``num_groups`` groups
        (all 0.0 for an empty batch).
    """
    if num_groups == 0:
        return {"all_correct": 0.0, "all_wrong": 0.0, "mixed": 0.0}
    count = group_count(group, num_groups)
    n_correct = group_sum(correct.to(torch.int64), group, num_groups)
    all_correct = n_correct == count
    all_wrong = n_correct == 0
    mixed = ~(all_correct | all_wrong)
    return {
        "all_correct": all_correct.float().mean().item(),
        "all_wrong": all_wrong.float().mean().item(),
        "mixed": mixed.float().mean().item(),
    }
