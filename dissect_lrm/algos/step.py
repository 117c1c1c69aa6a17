"""What each paper feature does to one training batch, as pure functions over padded ``(bs, L)`` tensors.

The trainer's step hooks (``dissect_lrm.trainer.hooks``) only read these tensors from the batch, call a
function here and write the result back; everything that decides a value lives here and is unit-tested.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from dissect_lrm.algos.config import RLRConfig, SampleFilterConfig
from dissect_lrm.algos.grouping import dense_group_index
from dissect_lrm.algos.length_reward import shape_length_reward
from dissect_lrm.algos.sample_filter import filter_samples
from dissect_lrm.algos.truncation import truncated_sample_mask

__all__ = [
    "CORRECT_THRESHOLD",
    "FilterUpdate",
    "verified_correct",
    "apply_sample_filter",
    "apply_truncation_mask",
    "apply_length_reward",
    "offpolicy_token_mask",
    "add_at_last_token",
    "spread_kept_rows",
]

# The verifier's ``acc`` is 0/1; a sample is correct when acc > 0.5 (never read from a summed reward,
# which may carry penalties or an in-reward KL term).
CORRECT_THRESHOLD = 0.5


def verified_correct(acc: np.ndarray | torch.Tensor | Sequence[float]) -> torch.Tensor:
    """``(bs,)`` bool: the verifier's decision, from its per-sample ``acc``."""
    return torch.as_tensor(np.asarray(acc, dtype=np.float64)) > CORRECT_THRESHOLD


@dataclass(frozen=True)
class FilterUpdate:
    """Output of :func:`apply_sample_filter`: the batch's new per-token fields and the step's stats."""

    response_mask: torch.Tensor
    loss_mask: torch.Tensor
    advantages: torch.Tensor
    stats: dict[str, float]
    empty: bool


def apply_sample_filter(
    response_mask: torch.Tensor,
    loss_mask: torch.Tensor,
    advantages: torch.Tensor,
    real: torch.Tensor,
    settings: SampleFilterConfig,
    correct: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
) -> FilterUpdate:
    """The sample filter on a padded batch: removed real rows get ``response_mask`` and ``loss_mask`` 0
    (verl's engine counts ``loss_mask`` tokens for the token-mean denominator and the policy loss reads
    ``response_mask``), kept rows' advantages are multiplied by their class weight. Rows with
    ``real`` False (verl's balancing padding) are left as they are.

    Args:
        response_mask, loss_mask, advantages: ``(bs, L)``.
        real: ``(bs,)`` bool, rows that are real samples.
        correct: ``(bs,)`` bool verifier decisions (needed for ``by=correctness``).
    """
    pos_weight, neg_weight = settings.class_weights()
    result = filter_samples(
        response_mask[real],
        mode=settings.mode,
        by=settings.by,
        correct=None if correct is None else correct[real],
        advantages=advantages[real],
        pos_weight=pos_weight,
        neg_weight=neg_weight,
        keep_ratio=settings.keep_ratio,
        generator=generator,
    )
    new_response_mask = response_mask.clone()
    new_response_mask[real] = result.response_mask
    new_advantages = advantages.clone()
    weight = result.advantage_weight.to(advantages.dtype).unsqueeze(-1)
    new_advantages[real] = advantages[real] * weight
    new_loss_mask = loss_mask * new_response_mask.to(loss_mask.dtype)
    return FilterUpdate(
        response_mask=new_response_mask,
        loss_mask=new_loss_mask,
        advantages=new_advantages,
        stats=result.stats,
        empty=result.empty,
    )


def apply_truncation_mask(
    advantages: torch.Tensor,
    truncated: torch.Tensor,
    correct: torch.Tensor,
    real: torch.Tensor,
    repetitive: torch.Tensor | None = None,
    require_repetition: bool = False,
) -> tuple[torch.Tensor, dict[str, float]]:
    """Zero the advantages of incorrect truncated real rows (after the group statistics were taken).

    Returns:
        ``(advantages, stats)`` with ``masked_samples`` and ``truncated_samples`` (real rows only).
    """
    masked = truncated_sample_mask(truncated, correct, repetitive, require_repetition) & real
    out = advantages.clone()
    out[masked] = 0
    stats = {
        "masked_samples": float(masked.sum()),
        "truncated_samples": float((truncated.bool() & real).sum()),
    }
    return out, stats


def add_at_last_token(
    token_values: torch.Tensor, response_mask: torch.Tensor, delta: torch.Tensor
) -> torch.Tensor:
    """``token_values`` with ``delta`` ``(bs,)`` added on each row's last valid token (outcome rewards
    live there); rows with no valid token are unchanged."""
    out = token_values.clone()
    lengths = response_mask.sum(dim=-1).long()
    rows = torch.nonzero(lengths > 0).squeeze(-1)
    out[rows, lengths[rows] - 1] += delta[rows].to(out.dtype)
    return out


def apply_length_reward(
    rm_scores: torch.Tensor,
    response_mask: torch.Tensor,
    correct: torch.Tensor,
    uids: Sequence | np.ndarray,
    max_response_length: int,
    settings: RLRConfig,
) -> tuple[torch.Tensor, dict[str, float]]:
    """Length shaping of the outcome reward (eq. 6-7; cosine; DAPO overlong) on a padded batch.

    The shaping is decided on the verifier's ``correct`` and on each group of ``uids``; the bonus is added
    to the row's last-token reward, so any advantage estimator over the reward sees it. The cosine and
    overlong rewards measure length against ``max_response_length`` (the configured limit), never
    against the padded width of this batch.

    Returns:
        ``(rm_scores, stats)``; stats are :func:`~dissect_lrm.algos.length_reward.length_reward_stats`.
    """
    group, num_groups = dense_group_index(uids)
    scores = rm_scores.sum(dim=-1)
    shaped = shape_length_reward(
        settings.kind,
        scores,
        correct.bool(),
        response_mask.sum(dim=-1),
        group,
        num_groups,
        int(max_response_length),
        alpha=settings.alpha,
        lambda_=settings.lambda_,
        eps_low=settings.eps_low,
        eps_up=settings.eps_up,
        cosine_min_value_correct=settings.cosine_min_value_correct,
        cosine_max_value_correct=settings.cosine_max_value_correct,
        cosine_min_value_wrong=settings.cosine_min_value_wrong,
        cosine_max_value_wrong=settings.cosine_max_value_wrong,
        overlong_buffer_length=settings.overlong_buffer_length,
        overlong_penalty_factor=settings.overlong_penalty_factor,
    )
    return add_at_last_token(rm_scores, response_mask, shaped.bonus), dict(shaped.stats)


def offpolicy_token_mask(response_mask: torch.Tensor, offpolicy_rows: torch.Tensor) -> torch.Tensor:
    """``(bs, L)`` float32: 1 on the valid tokens of off-policy (injected) rows, 0 elsewhere."""
    return (response_mask.bool() & offpolicy_rows.bool().unsqueeze(-1)).to(torch.float32)


def spread_kept_rows(kept: torch.Tensor, num_chunks: int, mini_batch_rows: int) -> tuple[torch.Tensor, int]:
    """Reorder rows so that no update mini-batch is left without a kept token where that can be avoided.

    verl splits the batch into ``num_chunks`` contiguous chunks (one per data-parallel rank) and each
    chunk, unshuffled, into mini-batches of ``mini_batch_rows`` rows; a mini-batch whose rows are all
    removed has no token to average over (a 0/0 loss). Inside each chunk (so each rank keeps its rows
    and its token balance) the kept rows are dealt round-robin over the chunk's mini-batches.

    Args:
        kept: ``(bs,)`` bool, rows with at least one token in the loss.

    Returns:
        ``(order, empty)``: a permutation of the rows (new position -> old row) and the number of
        mini-batches still without a kept row on every rank (fewer kept rows than mini-batches).
    """
    batch_size = kept.numel()
    chunk = batch_size // num_chunks
    mini_batches = max(chunk // mini_batch_rows, 1)
    order, most_kept = [], 0
    for start in range(0, batch_size, chunk):
        rows = torch.arange(start, start + chunk)
        kept_rows, other_rows = rows[kept[rows]], rows[~kept[rows]]
        most_kept = max(most_kept, min(kept_rows.numel(), mini_batches))
        # mini-batch j: kept rows j, j + M, j + 2M, ..., then other rows up to its size
        slots = [kept_rows[j::mini_batches].tolist() for j in range(mini_batches)]
        others = iter(other_rows.tolist())
        for slot in slots:
            slot.extend(next(others) for _ in range(mini_batch_rows - len(slot)))
            order.extend(slot)
        order.extend(others)  # rows past the last full mini-batch, if any
    return torch.tensor(order, dtype=torch.long), mini_batches - most_kept
