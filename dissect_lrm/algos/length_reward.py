"""Length-based reward shaping: relative length reward (paper eq. 6-7), cosine length reward, DAPO overlong penalty."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from dissect_lrm.algos.grouping import group_accuracy, group_mean, group_sum

__all__ = [
    "LengthRewardResult",
    "relative_length_bonus",
    "cosine_length_reward",
    "overlong_penalty",
    "shape_length_reward",
    "length_reward_stats",
]


@dataclass(frozen=True)
class LengthRewardResult:
    """Output of :func:`shape_length_reward`.

    Attributes:
        reward: ``(bs,)`` shaped reward, to be used as the sequence score of the advantage.
        bonus: ``(bs,)`` ``reward - base_reward`` (0 where no shaping applied).
        shaped: ``(bs,)`` bool, True for samples the shaping applied to.
        stats: per-step metrics, see :func:`length_reward_stats`.
    """

    reward: torch.Tensor
    bonus: torch.Tensor
    shaped: torch.Tensor
    stats: dict[str, float]


def relative_length_bonus(
    correct: torch.Tensor,
    lengths: torch.Tensor,
    group: torch.Tensor,
    num_groups: int,
    alpha: float = 0.75,
    lambda_: float = 500.0,
    eps_low: float = -0.5,
    eps_up: float = 1.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Relative length reward (RLR), paper eq. 6: ``clip((mean_g - |o_i|) / lambda, eps_low, eps_up)``.

    Applies to the correct samples of groups whose accuracy is ``>= alpha``; ``mean_g`` is the mean length
    of the correct samples of group ``g``. Everything else gets 0.

    Sign: eq. 6 as printed reads ``(|o_i| - mean) / lambda``, which would reward *longer* answers and
    contradicts the paper's own text ("assigns higher scores for shorter responses") and Table 3 (RLR
    shortens outputs). The original release, which produced the paper's numbers, computes
    ``(mean - |o_i|) / lambda`` (docs/original-code.md#relative-length-reward). We follow the code: shorter is rewarded.
    Since ``eps_low > -1`` a correct answer always outscores an incorrect one (eq. 7).

    Args:
        correct: ``(bs,)`` bool, raw verifier correctness (never an already shaped reward).
        lengths: ``(bs,)`` response length in tokens (valid tokens, EOS included).
        group, num_groups: dense group index.
        alpha: accuracy threshold (paper 0.75).
        lambda_: length scale (paper 500).
        eps_low, eps_up: clip bounds (paper -0.5, 1).

    Returns:
        ``(bonus, shaped)``: ``(bs,)`` float32 bonus and ``(bs,)`` bool mask of samples it applied to.
    """
    correct = correct.bool()
    accuracy = group_accuracy(correct, group, num_groups)
    shaped = correct & (accuracy[group] >= alpha)
    mean_correct_length = group_mean(lengths.float(), group, num_groups, where=correct)
    raw = (mean_correct_length[group] - lengths.float()) / lambda_
    bonus = torch.where(shaped, raw.clamp(eps_low, eps_up), torch.zeros_like(raw))
    return bonus, shaped


def cosine_length_reward(
    correct: torch.Tensor,
    lengths: torch.Tensor,
    max_length: int,
    min_value_correct: float = 0.5,
    max_value_correct: float = 1.0,
    min_value_wrong: float = -1.0,
    max_value_wrong: float = -0.5,
) -> torch.Tensor:
    """Cosine length reward (Yeo et al., 2025, "Demystifying long CoT"), a per-sample replacement reward.

    With progress ``t = min(|o_i|, max_length) / max_length`` and ``c = (1 + cos(pi t)) / 2``:
    correct answers get ``min_value_correct + (max_value_correct - min_value_correct) * c`` (short -> high),
    wrong answers get ``max_value_wrong + (min_value_wrong - max_value_wrong) * c`` (short -> most negative,
    so a wrong answer is penalised less the longer it thought).

    Returns:
        ``(bs,)`` float32 reward (it replaces the verifier's 0/1 score rather than adding to it).
    """
    progress = lengths.float().clamp(max=max_length) / max_length
    c = 0.5 * (1.0 + torch.cos(math.pi * progress))
    reward_correct = min_value_correct + (max_value_correct - min_value_correct) * c
    reward_wrong = max_value_wrong + (min_value_wrong - max_value_wrong) * c
    return torch.where(correct.bool(), reward_correct, reward_wrong)


def overlong_penalty(
    lengths: torch.Tensor, max_length: int, buffer_length: int, penalty_factor: float = 1.0
) -> torch.Tensor:
    """DAPO soft overlong punishment (Yu et al., 2025, eq. 13), added to every sample's reward.

    0 up to ``max_length - buffer_length`` tokens, then falls linearly to ``-penalty_factor`` at
    ``max_length``: ``penalty = -penalty_factor * clip((|o_i| - (max_length - buffer_length)) / buffer_length, 0, 1)``.

    Returns:
        ``(bs,)`` float32 penalty (<= 0).
    """
    excess = (lengths.float() - (max_length - buffer_length)) / buffer_length
    return -penalty_factor * excess.clamp(0.0, 1.0)


def length_reward_stats(
    correct: torch.Tensor,
    lengths: torch.Tensor,
    bonus: torch.Tensor,
    shaped: torch.Tensor,
    group: torch.Tensor,
    num_groups: int,
) -> dict[str, float]:
    """Per-step metrics: ``shaped_group_frac`` (groups with >= 1 shaped sample), ``shaped_sample_frac``,
    ``mean_bonus`` (over shaped samples, 0 if none), ``mean_correct_length``, ``mean_incorrect_length``
    (0 when there is no such sample)."""
    correct = correct.bool()
    lengths = lengths.float()

    def masked_mean(values: torch.Tensor, where: torch.Tensor) -> float:
        return values[where].mean().item() if bool(where.any()) else 0.0

    shaped_groups = group_sum(shaped.to(torch.int64), group, num_groups) > 0
    return {
        "shaped_group_frac": shaped_groups.float().mean().item() if num_groups else 0.0,
        "shaped_sample_frac": shaped.float().mean().item() if shaped.numel() else 0.0,
        "mean_bonus": masked_mean(bonus, shaped),
        "mean_correct_length": masked_mean(lengths, correct),
        "mean_incorrect_length": masked_mean(lengths, ~correct),
    }


def shape_length_reward(
    kind: str,
    base_reward: torch.Tensor,
    correct: torch.Tensor,
    lengths: torch.Tensor,
    group: torch.Tensor,
    num_groups: int,
    max_length: int,
    alpha: float = 0.75,
    lambda_: float = 500.0,
    eps_low: float = -0.5,
    eps_up: float = 1.0,
    cosine_min_value_correct: float = 0.5,
    cosine_max_value_correct: float = 1.0,
    cosine_min_value_wrong: float = -1.0,
    cosine_max_value_wrong: float = -0.5,
    overlong_buffer_length: int = 4096,
    overlong_penalty_factor: float = 1.0,
) -> LengthRewardResult:
    """One interface for the three length rewards; ``kind`` is ``relative`` | ``cosine`` | ``overlong``.

    * ``relative``: eq. 7, ``R = R_verification + R_relative_length`` (see :func:`relative_length_bonus`).
    * ``cosine``: ``R = cosine_length_reward(...)`` for every sample (replaces the verifier score).
    * ``overlong``: ``R = R_verification + overlong_penalty(...)`` for every sample.

    Args:
        base_reward: ``(bs,)`` verifier reward (e.g. 0/1).
        correct: ``(bs,)`` bool raw correctness; the shaping is decided on this, never on a shaped reward.
        lengths: ``(bs,)`` response lengths in tokens.
        max_length: maximum response length (cosine horizon, overlong limit).

    Returns:
        :class:`LengthRewardResult` with the shaped reward, the bonus, the shaped-sample mask and stats.
    """
    base_reward = base_reward.float()
    if kind == "relative":
        bonus, shaped = relative_length_bonus(
            correct, lengths, group, num_groups, alpha, lambda_, eps_low, eps_up
        )
    elif kind == "cosine":
        reward = cosine_length_reward(
            correct,
            lengths,
            max_length,
            cosine_min_value_correct,
            cosine_max_value_correct,
            cosine_min_value_wrong,
            cosine_max_value_wrong,
        )
        bonus, shaped = reward - base_reward, torch.ones_like(base_reward, dtype=torch.bool)
    elif kind == "overlong":
        bonus = overlong_penalty(lengths, max_length, overlong_buffer_length, overlong_penalty_factor)
        shaped = bonus != 0
    else:
        raise ValueError(f"unknown length reward kind {kind!r}; expected relative|cosine|overlong")
    stats = length_reward_stats(correct, lengths, bonus, shaped, group, num_groups)
    return LengthRewardResult(reward=base_reward + bonus, bonus=bonus, shaped=shaped, stats=stats)
