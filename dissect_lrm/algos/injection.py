"""Offline sample injection (paper §4.3, eq. 8, appendix B.5): which rows to replace, and the response layout."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from dissect_lrm.algos.grouping import group_accuracy, group_count, group_sum

__all__ = [
    "INJECTION_POLICIES",
    "InjectionPlan",
    "select_injection",
    "layout_offline_responses",
    "offline_response_ids",
    "fits_response_length",
]

INJECTION_POLICIES = ("random", "incorrect_first")


@dataclass(frozen=True)
class InjectionPlan:
    """Output of :func:`select_injection`.

    Attributes:
        rows: ``(k,)`` int64 batch rows to overwrite, sorted ascending.
        offline_index: ``(k,)`` int64 index into the row's group list of offline solutions.
        offpolicy: ``(bs,)`` bool, True at ``rows`` (the per-sample off-policy mask).
        eligible_groups: ``(G,)`` bool, groups with accuracy <= gamma and at least one offline solution.
        stats: ``low_accuracy_groups`` (accuracy <= gamma, same ``<=`` as the injection, docs/original-code.md#injection-details),
            ``injected_groups``, ``injected_samples``, ``injected_sample_frac``.
    """

    rows: torch.Tensor
    offline_index: torch.Tensor
    offpolicy: torch.Tensor
    eligible_groups: torch.Tensor
    stats: dict[str, float]


def select_injection(
    correct: torch.Tensor,
    group: torch.Tensor,
    num_groups: int,
    num_offline: torch.Tensor,
    gamma: float = 0.125,
    max_inject: int = -1,
    policy: str = "incorrect_first",
    generator: torch.Generator | None = None,
) -> InjectionPlan:
    """Choose the online samples replaced by offline solutions in hard groups (eq. 8, appendix B.5).

    A group qualifies when its accuracy is ``<= gamma`` (always including all-wrong groups) and it has
    offline solutions. Each solution is used at most once per step, drawn in a random order (the original
    always took the first ``k`` in list order, docs/original-code.md#injection-details). Rows to replace:

    * ``incorrect_first``: ``k_g = min(max_inject, #incorrect_g, #offline_g)`` incorrect samples, in random
      order; a correct online sample is never replaced (as the original release ran).
    * ``random``: ``k_g = min(max_inject, |g|, #offline_g)`` uniformly random samples of the group (the
      paper's wording, §4.3).

    No cap when ``max_inject <= 0``.

    Everything is one sort over the batch; there is no loop over samples or groups.

    Args:
        correct: ``(bs,)`` bool raw correctness of the online samples.
        group, num_groups: dense group index.
        num_offline: ``(G,)`` number of verified offline solutions available per group.
        gamma: accuracy threshold (paper 0.125).
        max_inject: per-group cap ``k``; ``<= 0`` means no cap.
        policy: ``incorrect_first`` | ``random``.
        generator: seeded ``torch.Generator`` (CPU) for reproducible draws.

    Returns:
        :class:`InjectionPlan`.
    """
    if policy not in INJECTION_POLICIES:
        raise ValueError(f"unknown injection policy {policy!r}; expected one of {INJECTION_POLICIES}")
    device = group.device
    num_offline = num_offline.to(device=device, dtype=torch.int64)
    batch_size = group.shape[0]
    count = group_count(group, num_groups)
    low_accuracy = group_accuracy(correct, group, num_groups) <= gamma
    eligible = low_accuracy & (num_offline > 0)
    replaceable = count
    if policy == "incorrect_first":
        replaceable = group_sum((~correct.bool()).to(torch.int64).to(device), group, num_groups)
    quota = torch.minimum(num_offline, replaceable)
    if max_inject > 0:
        quota = quota.clamp(max=max_inject)
    quota = torch.where(eligible, quota, torch.zeros_like(quota))

    # Rank the rows of each group by a random key; incorrect rows sort before correct ones.
    key = torch.rand(batch_size, generator=generator, dtype=torch.float64).to(device)
    if policy == "incorrect_first":
        key = key + correct.to(device=device, dtype=torch.float64)
    order = torch.argsort(group.to(torch.float64) * 4.0 + key)  # groups contiguous, key order inside
    start = torch.cumsum(count, 0) - count
    rank = torch.empty_like(group)
    rank[order] = torch.arange(batch_size, device=device) - start[group[order]]
    chosen = rank < quota[group]
    rows = torch.nonzero(chosen).squeeze(-1)

    # A random permutation of each group's offline solutions: the r-th chosen row gets the r-th of it.
    width = int(num_offline.max().item()) if num_groups else 0
    offline_key = torch.rand(num_groups, max(width, 1), generator=generator, dtype=torch.float64).to(device)
    slot = torch.arange(max(width, 1), device=device)
    offline_key = offline_key.masked_fill(slot.unsqueeze(0) >= num_offline.unsqueeze(-1), float("inf"))
    permutation = torch.argsort(offline_key, dim=-1)
    offline_index = permutation[group[rows], rank[rows]]

    injected_groups = (quota > 0).sum().item()
    stats = {
        "low_accuracy_groups": float(low_accuracy.sum().item()),
        "injected_groups": float(injected_groups),
        "injected_samples": float(rows.numel()),
        "injected_sample_frac": rows.numel() / batch_size if batch_size else 0.0,
    }
    return InjectionPlan(
        rows=rows, offline_index=offline_index, offpolicy=chosen, eligible_groups=eligible, stats=stats
    )


def layout_offline_responses(
    token_ids: Sequence[Sequence[int]], max_response_length: int, eos_token_id: int, pad_token_id: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Lay tokenised offline responses out like rollout responses: right-padded ids and a response mask.

    Each response is cut after its first EOS (a rollout stops there), else truncated to
    ``max_response_length``. A response that does not end with EOS and is shorter than the limit gets
    one EOS appended, as a finished rollout sample would have (so the response mask never relies on
    ``pad == eos``, docs/original-code.md#injection-details). A response that reaches ``max_response_length`` without EOS is kept as a
    truncated sample, exactly like a rollout cut at the limit; it is not discarded (docs/original-code.md#injection-details).

    Returns:
        ``(responses, response_mask)``, ``(n, max_response_length)`` int64 each; the mask is 1 on the
        response tokens (EOS included) and 0 on padding.
    """
    n = len(token_ids)
    responses = torch.full((n, max_response_length), pad_token_id, dtype=torch.int64)
    response_mask = torch.zeros((n, max_response_length), dtype=torch.int64)
    for row, ids in enumerate(token_ids):  # ragged lists of a few offline samples: tokens, not tensor math
        ids = list(ids)
        if eos_token_id in ids:
            ids = ids[: ids.index(eos_token_id) + 1]
        elif len(ids) < max_response_length:
            ids = [*ids, eos_token_id]
        ids = ids[:max_response_length]
        responses[row, : len(ids)] = torch.tensor(ids, dtype=torch.int64)
        response_mask[row, : len(ids)] = 1
    return responses, response_mask


def offline_response_ids(ids: Sequence[int], eos_token_id: int) -> list[int]:
    """An offline solution's response ids as a finished rollout would hold them: cut after the first EOS,
    one EOS appended when there is none (the length check and the layout share this rule)."""
    ids = list(ids)
    if eos_token_id in ids:
        return ids[: ids.index(eos_token_id) + 1]
    return [*ids, eos_token_id]


def fits_response_length(
    token_ids: Sequence[Sequence[int]], max_response_length: int, eos_token_id: int
) -> torch.Tensor:
    """``(n,)`` bool: offline solutions whose finished response (EOS included) fits ``max_response_length``.

    A solution that does not fit would be cut, re-scored as wrong and injected as an off-policy
    *negative*; callers drop it before selection.
    """
    lengths = [len(offline_response_ids(ids, eos_token_id)) for ids in token_ids]
    return torch.tensor([length <= max_response_length for length in lengths], dtype=torch.bool)
