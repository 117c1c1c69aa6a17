"""Benchmark: our advantage + sample filter + RLR + injection selection vs verl's own ``grpo`` estimator."""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np
import torch

from dissect_lrm.algos import (
    dense_group_index,
    filter_samples,
    group_outcome_fractions,
    grpo_advantage,
    select_injection,
    shape_length_reward,
)


def make_batch(prompts: int, responses: int, length: int, seed: int) -> dict:
    """A rollout-shaped batch: 0/1 reward on the last valid token, random lengths, interleaved uids."""
    generator = torch.Generator().manual_seed(seed)
    batch = prompts * responses
    lengths = torch.randint(1, length + 1, (batch,), generator=generator)
    response_mask = (torch.arange(length).unsqueeze(0) < lengths.unsqueeze(-1)).to(torch.float32)
    # per-prompt difficulty so that all-correct, all-wrong and mixed groups all occur
    difficulty = torch.rand(prompts, generator=generator).repeat_interleave(responses)
    correct = torch.rand(batch, generator=generator) < difficulty
    token_level_rewards = torch.zeros(batch, length)
    token_level_rewards[torch.arange(batch), lengths - 1] = correct.float()
    uids = np.array([f"uid-{i:06d}" for i in range(prompts)], dtype=object)
    return {
        "token_level_rewards": token_level_rewards,
        "response_mask": response_mask,
        "index": np.repeat(uids, responses),
        "correct": correct,
        "num_offline": torch.randint(0, 5, (prompts,), generator=generator),
    }


def ours(batch: dict, seed: int) -> torch.Tensor:
    """The full per-step pipeline the trainer will run (minus data movement)."""
    response_mask = batch["response_mask"]
    group, num_groups = dense_group_index(batch["index"])
    generator = torch.Generator().manual_seed(seed)
    plan = select_injection(
        batch["correct"], group, num_groups, batch["num_offline"], 0.125, -1, generator=generator
    )
    lengths = response_mask.sum(dim=-1)
    scores = batch["token_level_rewards"].sum(dim=-1)
    shaped = shape_length_reward(
        "relative", scores, batch["correct"], lengths, group, num_groups, response_mask.shape[1]
    )
    advantage = grpo_advantage(shaped.reward, group, num_groups)
    advantages = advantage.unsqueeze(-1) * response_mask
    group_outcome_fractions(batch["correct"], group, num_groups)
    # the trainer replaces the batch's mask, so it filters in place (only removed rows are written)
    result = filter_samples(
        response_mask, mode="neg", correct=batch["correct"], lengths=lengths, inplace=True
    )
    assert plan.rows.numel() >= 0 and result.response_mask.shape == advantages.shape
    return advantages


def verl_grpo(batch: dict) -> torch.Tensor:
    from verl.trainer.ppo.core_algos import compute_grpo_outcome_advantage

    advantages, _ = compute_grpo_outcome_advantage(
        token_level_rewards=batch["token_level_rewards"],
        response_mask=batch["response_mask"],
        index=batch["index"],
    )
    return advantages


def timed(fn: Callable[[], object], repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--prompts", type=int, default=512, help="prompts per step (default 512)")
    parser.add_argument("--responses", type=int, default=16, help="responses per prompt (default 16)")
    parser.add_argument(
        "--length", type=int, default=8192, help="max response length in tokens (default 8192)"
    )
    parser.add_argument("--repeats", type=int, default=5, help="timed repetitions of each side (default 5)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's choice)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    import verl.trainer.ppo.core_algos  # noqa: F401  (import cost outside the timing)

    batch = make_batch(args.prompts, args.responses, args.length, args.seed)
    # RLR, filter and injection off -> both sides must agree exactly on the advantage.
    group, num_groups = dense_group_index(batch["index"])
    reference = verl_grpo(batch)
    plain = (
        grpo_advantage(batch["token_level_rewards"].sum(-1), group, num_groups).unsqueeze(-1)
        * batch["response_mask"]
    )
    print(f"batch {args.prompts} x {args.responses} x {args.length}, torch threads {torch.get_num_threads()}")
    print(
        f"advantage parity with verl grpo (features off): {'bit-identical' if torch.equal(plain, reference) else 'DIFFERS'}"
    )

    # `ours` zeroes removed rows of the mask in place: give it its own copy so verl sees the original.
    ours_batch = dict(batch, response_mask=batch["response_mask"].clone())
    ours(ours_batch, args.seed)  # warm-up
    ours_times, verl_times = [], []
    for _ in range(args.repeats):  # interleave the two so that drift hits both alike
        ours_times += timed(lambda: ours(ours_batch, args.seed), 1)
        verl_times += timed(lambda: verl_grpo(batch), 1)
    ours_median, verl_median = statistics.median(ours_times), statistics.median(verl_times)
    print(
        f"ours (advantage + RLR + filter + injection selection + group stats): median {ours_median * 1e3:9.1f} ms"
    )
    print(
        f"verl compute_grpo_outcome_advantage:                                median {verl_median * 1e3:9.1f} ms"
    )
    print(f"ratio ours / verl = {ours_median / verl_median:.3f}  (< 1 means ours is faster)")


if __name__ == "__main__":
    main()
