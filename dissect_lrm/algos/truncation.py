"""Truncated-sample predicate and the advantage mask of the original's ``mask_truncated_samples`` (docs/original-code.md#truncation-mask)."""

from __future__ import annotations

from collections.abc import Sequence

import torch

__all__ = ["LENGTH_FINISH_REASONS", "is_truncated", "truncated_sample_mask"]

# Finish reasons with which rollout engines report a response cut at the length limit.
LENGTH_FINISH_REASONS = ("length",)


def is_truncated(
    responses: torch.Tensor,
    response_mask: torch.Tensor,
    eos_token_id: int | Sequence[int],
    finish_reasons: Sequence[str | None] | None = None,
) -> torch.Tensor:
    """A response is truncated iff the rollout says it stopped at the length limit, or, where the
    rollout reports no finish reason, iff none of the EOS ids lies among its valid tokens.

    Unlike the original's "fills the padded width" test, a response whose EOS lands exactly on the last
    slot is complete, not truncated. An empty response (no valid token) counts as truncated.

    Args:
        responses: ``(bs, L)`` response token ids.
        response_mask: ``(bs, L)`` 1 on valid tokens.
        eos_token_id: one id or every EOS id of the generation config (e.g. ``<|im_end|>`` and
            ``<|endoftext|>``): a response ending in any of them is complete.
        finish_reasons: per row the rollout's finish reason (``"length"`` = cut at the limit, ``"stop"``
            = finished) or None where unknown; unknown rows fall back to the EOS test.

    Returns:
        ``(bs,)`` bool.
    """
    eos = torch.as_tensor(eos_token_id, device=responses.device).reshape(-1)
    has_eos = (torch.isin(responses, eos) & response_mask.bool()).any(dim=-1)
    truncated = ~has_eos
    if finish_reasons is not None:
        known = torch.tensor([reason is not None for reason in finish_reasons], device=responses.device)
        by_reason = torch.tensor(
            [reason in LENGTH_FINISH_REASONS for reason in finish_reasons], device=responses.device
        )
        truncated = torch.where(known, by_reason, truncated)
    return truncated


def truncated_sample_mask(
    truncated: torch.Tensor,
    correct: torch.Tensor,
    repetitive: torch.Tensor | None = None,
    require_repetition: bool = False,
) -> torch.Tensor:
    """Samples whose advantage is set to 0 (after group statistics): incorrect *and* truncated.

    With ``require_repetition`` a sample must also be flagged repetitive (the original's code, which its
    comment contradicted, docs/original-code.md#truncation-mask); by default truncation alone suffices (the intent stated in the comment).

    Returns:
        ``(bs,)`` bool, True = zero this sample's advantage (see ``step.apply_truncation_mask``).
    """
    rows = truncated.bool() & ~correct.bool()
    if require_repetition:
        if repetitive is None:
            raise ValueError("truncated_sample_mask(require_repetition=True) needs the `repetitive` flags")
        rows = rows & repetitive.bool()
    return rows
