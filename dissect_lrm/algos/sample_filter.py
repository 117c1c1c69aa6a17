"""Positive/negative sample filter of §3.1 (Tables 1, 2, 6): applied after advantages, as a new response mask."""

from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = [
    "POSITIVE",
    "NEGATIVE",
    "NEUTRAL",
    "FILTER_MODES",
    "FILTER_PRESETS",
    "CLASSIFY_BY",
    "FilterResult",
    "classify_samples",
    "keep_mask",
    "class_weights",
    "w_reinforce_weights",
    "filter_samples",
]

POSITIVE, NEGATIVE, NEUTRAL = 1, -1, 0
FILTER_MODES = ("both", "pos", "neg")
CLASSIFY_BY = ("correctness", "advantage_sign")
# Named settings of the weighted filter ("" = none): each maps to (w+, w-) through a pure function.
FILTER_PRESETS = ("", "w_reinforce")


@dataclass(frozen=True)
class FilterResult:
    """Output of :func:`filter_samples`.

    Attributes:
        keep: ``(bs,)`` bool, samples that stay in the loss.
        response_mask: ``(bs, L)`` the input mask with removed rows zeroed (same dtype): removed samples
            leave the policy-gradient term, KL, entropy and every loss denominator.
        advantage_weight: ``(bs,)`` float32 per-sample multiplier for the advantages (weighted form;
            all ones unless ``pos_weight``/``neg_weight`` differ from 1).
        stats: kept/removed positive/negative samples and tokens, see :func:`filter_samples`.
        empty: True when no sample (or no token) is left: the caller must skip the update explicitly.
    """

    keep: torch.Tensor
    response_mask: torch.Tensor
    advantage_weight: torch.Tensor
    stats: dict[str, float]
    empty: bool


def classify_samples(
    by: str, correct: torch.Tensor | None = None, advantages: torch.Tensor | None = None
) -> torch.Tensor:
    """Label samples ``POSITIVE`` (+1), ``NEGATIVE`` (-1) or ``NEUTRAL`` (0).

    * ``by="correctness"`` (the paper, §3): positive = verified correct, negative = incorrect or
      unverifiable; no sample is neutral, even in all-correct / all-wrong groups whose advantage is 0.
    * ``by="advantage_sign"``: positive = ``A > 0``, negative = ``A < 0``, neutral = ``A == 0``
      (zero-advantage groups). Neutral samples are removed by ``pos`` and ``neg`` modes.

    Args:
        correct: ``(bs,)`` bool, needed for ``correctness``.
        advantages: ``(bs,)`` scalar or ``(bs, L)`` token advantages (the first token is read), needed for
            ``advantage_sign``.

    Returns:
        ``(bs,)`` int8 labels.
    """
    if by == "correctness":
        if correct is None:
            raise ValueError("classify_samples(by='correctness') needs `correct`")
        return torch.where(correct.bool(), POSITIVE, NEGATIVE).to(torch.int8)
    if by == "advantage_sign":
        if advantages is None:
            raise ValueError("classify_samples(by='advantage_sign') needs `advantages`")
        # Token advantages are constant over a row but zeroed on padding: take the row's max |A| with sign.
        scalar = advantages if advantages.dim() == 1 else _row_value(advantages)
        return torch.sign(scalar).to(torch.int8)
    raise ValueError(f"unknown sample classification {by!r}; expected one of {CLASSIFY_BY}")


def _row_value(token_advantages: torch.Tensor) -> torch.Tensor:
    """The (constant) advantage of each row of a masked ``(bs, L)`` outcome-advantage matrix."""
    index = token_advantages.abs().argmax(dim=-1, keepdim=True)
    return token_advantages.gather(-1, index).squeeze(-1)


def keep_mask(
    labels: torch.Tensor, mode: str, keep_ratio: float = 0.0, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Which samples stay in the loss (§3.1): ``both`` keeps all, ``pos`` keeps positives, ``neg`` negatives.

    ``keep_ratio`` in [0, 1] keeps each sample of the removed classes with that probability (the
    original's reserve ratio, now drawn from a seeded ``generator``).

    Returns:
        ``(bs,)`` bool.
    """
    if mode == "both":
        return torch.ones_like(labels, dtype=torch.bool)
    if mode not in FILTER_MODES:
        raise ValueError(f"unknown sample filter mode {mode!r}; expected one of {FILTER_MODES}")
    keep = labels == (POSITIVE if mode == "pos" else NEGATIVE)
    if keep_ratio > 0.0:
        draw = torch.rand(labels.shape, generator=generator) < keep_ratio
        keep = keep | draw.to(keep.device)
    return keep


def class_weights(labels: torch.Tensor, pos_weight: float = 1.0, neg_weight: float = 1.0) -> torch.Tensor:
    """Weighted form (NSR / W-REINFORCE): ``(bs,)`` float32 ``w+`` for positives, ``w-`` for negatives, 1 for neutral."""
    weight = torch.ones(labels.shape, dtype=torch.float32, device=labels.device)
    weight = torch.where(labels == POSITIVE, torch.full_like(weight, pos_weight), weight)
    return torch.where(labels == NEGATIVE, torch.full_like(weight, neg_weight), weight)


def w_reinforce_weights(lambda_: float = 0.1) -> tuple[float, float]:
    """W-REINFORCE (Zhu et al., 2025, "The surprising effectiveness of negative reinforcement"):
    ``(w+, w-) = (lambda, 1)``: positive samples' advantages are scaled by ``lambda`` (paper 0.1),
    negative ones kept, so learning leans on pushing down wrong answers."""
    if lambda_ < 0:
        raise ValueError(f"W-REINFORCE lambda must be >= 0, got {lambda_}")
    return float(lambda_), 1.0


def filter_samples(
    response_mask: torch.Tensor,
    mode: str = "both",
    by: str = "correctness",
    correct: torch.Tensor | None = None,
    advantages: torch.Tensor | None = None,
    pos_weight: float = 1.0,
    neg_weight: float = 1.0,
    keep_ratio: float = 0.0,
    generator: torch.Generator | None = None,
    lengths: torch.Tensor | None = None,
    inplace: bool = False,
) -> FilterResult:
    """Remove (or reweight) positive/negative samples *after* the advantages were computed (§3.1).

    The group statistics of the advantage already include every sample; this only decides which rows
    reach the loss. Zeroing a removed row's ``response_mask`` (and ``loss_mask``) takes it out of every
    sum and every token count, so with ``token-mean`` and ``token-sum`` aggregation the loss equals the
    loss of the batch without those rows. With verl's ``seq-mean-*`` modes the per-mini-batch sequence
    count (``global_batch_size``) is a constant that still includes removed rows: the kept rows' gradient
    is then scaled by the kept fraction (a constant normaliser, as in Dr.GRPO), and start-up warns.

    ``lengths`` ``(bs,)`` (valid tokens per row) may be passed when already known, to save a pass over
    the mask. ``inplace=True`` zeroes the removed rows of ``response_mask`` itself (only those rows are
    written: the cheap path for a trainer that replaces the batch's mask anyway); by default the input is
    left untouched and a new mask is returned.

    Returns:
        :class:`FilterResult`; ``stats`` holds ``kept_pos_samples``, ``kept_neg_samples``,
        ``removed_pos_samples``, ``removed_neg_samples``, the same four with ``_tokens``,
        ``kept_neutral_samples``, ``removed_neutral_samples``, ``kept_sample_frac`` and ``nothing_left``.
    """
    labels = classify_samples(by, correct=correct, advantages=advantages).to(response_mask.device)
    keep = keep_mask(labels, mode, keep_ratio, generator)
    removed_rows = torch.nonzero(~keep).squeeze(-1).to(response_mask.device)
    new_mask = response_mask if inplace else response_mask.clone()
    new_mask.index_fill_(0, removed_rows, 0)
    weight = class_weights(labels, pos_weight, neg_weight)

    tokens = (response_mask.sum(dim=-1) if lengths is None else lengths).to(torch.float64)
    stats: dict[str, float] = {}
    for name, value in (("pos", POSITIVE), ("neg", NEGATIVE), ("neutral", NEUTRAL)):
        in_class = labels == value
        for state, selected in (("kept", keep), ("removed", ~keep)):
            rows = in_class & selected
            stats[f"{state}_{name}_samples"] = float(rows.sum().item())
            if name != "neutral":
                stats[f"{state}_{name}_tokens"] = float(tokens[rows].sum().item())
    empty = bool(tokens[keep.to(tokens.device)].sum().item() == 0)
    stats["kept_sample_frac"] = keep.float().mean().item() if keep.numel() else 0.0
    stats["nothing_left"] = float(empty)
    return FilterResult(keep=keep, response_mask=new_mask, advantage_weight=weight, stats=stats, empty=empty)
