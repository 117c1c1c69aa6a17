"""LUFFY policy loss (Yan et al., 2025) as used in the paper's Fig. 3: shaped off-policy term, PPO on-policy term."""

from __future__ import annotations

import torch

__all__ = ["luffy_loss_matrix"]


def _masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of ``values`` over ``mask``; exactly 0 when the mask is empty (no epsilon in the denominator)."""
    total = mask.sum()
    return torch.where(total > 0, (values * mask).sum() / total.clamp(min=1), torch.zeros_like(total))


def luffy_loss_matrix(
    old_log_prob: torch.Tensor,
    log_prob: torch.Tensor,
    advantages: torch.Tensor,
    response_mask: torch.Tensor,
    offpolicy_mask: torch.Tensor,
    gamma: float = 0.1,
    clip_ratio_low: float = 0.2,
    clip_ratio_high: float = 0.2,
    on_policy_clip: bool = True,
    clip_ratio_c: float | None = None,
) -> tuple[torch.Tensor, dict[str, float]]:
    """Per-token LUFFY loss; aggregate it with verl's ``agg_loss`` (any ``loss_agg_mode``).

    Off-policy tokens (injected offline solutions): ``l = -A * f(p)`` with ``p = exp(log_prob)`` and the
    policy shaping ``f(p) = p / (p + gamma)``; the behaviour probability is taken as 1, so there is no
    importance ratio and no clip. Its gradient is ``-A * gamma * p / (p + gamma)^2 * grad log p``.

    On-policy tokens: the clipped PPO surrogate ``l = max(-A r, -A clip(r, 1 - eps_low, 1 + eps_high))``
    with ``r = exp(log_prob - old_log_prob)`` (paper eq. 2-3), optionally dual-clipped for ``A < 0`` by
    ``clip_ratio_c``. ``on_policy_clip=False`` gives the original release's unclipped ``-A r`` (docs/original-code.md#luffy-unclipped).

    Args:
        old_log_prob, log_prob, advantages, response_mask: ``(bs, L)``, as in verl's policy losses.
        offpolicy_mask: ``(bs, L)`` per token or ``(bs,)`` per sample, True/1 on off-policy tokens.
        gamma: shaping constant of ``f`` (LUFFY and the paper: 0.1).

    Returns:
        ``(loss_matrix, metrics)``: ``(bs, L)`` per-token loss (not masked, not aggregated) and floats
        ``off_ratio_mean`` (mean ``f(p)`` on off tokens), ``off_pg_loss``, ``on_pg_loss`` (token means),
        ``off_policy_prob``, ``on_policy_prob`` (mean current ``p``), ``offpolicy_token_frac``,
        ``pg_clipfrac`` (on-policy tokens whose clipped branch is active), ``ppo_kl`` (on-policy tokens).
    """
    mask = response_mask.to(log_prob.dtype)
    off = offpolicy_mask.to(log_prob.dtype)
    if off.dim() == 1:
        off = off.unsqueeze(-1).expand_as(log_prob)
    off_mask, on_mask = mask * off, mask * (1.0 - off)

    log_ratio = (log_prob - old_log_prob).clamp(-20.0, 20.0)
    ratio = torch.exp(log_ratio)
    on_loss = -advantages * ratio
    clipped_active = torch.zeros_like(on_loss, dtype=torch.bool)
    if on_policy_clip:
        clipped = -advantages * ratio.clamp(1.0 - clip_ratio_low, 1.0 + clip_ratio_high)
        clipped_active = clipped > on_loss
        on_loss = torch.maximum(on_loss, clipped)
        if clip_ratio_c is not None:
            on_loss = torch.where(advantages < 0, torch.minimum(on_loss, -advantages * clip_ratio_c), on_loss)

    prob = torch.exp(log_prob)
    shaped = prob / (prob + gamma)
    off_loss = -advantages * shaped

    loss = off * off_loss + (1.0 - off) * on_loss
    with torch.no_grad():
        metrics = {
            "off_ratio_mean": _masked_mean(shaped, off_mask).item(),
            "off_pg_loss": _masked_mean(off_loss, off_mask).item(),
            "on_pg_loss": _masked_mean(on_loss, on_mask).item(),
            "off_policy_prob": _masked_mean(prob, off_mask).item(),
            "on_policy_prob": _masked_mean(prob, on_mask).item(),
            "offpolicy_token_frac": _masked_mean(off, mask).item(),
            "pg_clipfrac": _masked_mean(clipped_active.to(mask.dtype), on_mask).item(),
            "ppo_kl": _masked_mean(-log_ratio, on_mask).item(),
        }
    return loss, metrics
