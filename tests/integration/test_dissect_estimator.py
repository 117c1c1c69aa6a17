"""The registered `dissect_grpo` estimator, dispatched by verl's own compute_advantage."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_module
from verl import DataProto
from verl.trainer.ppo.ray_trainer import compute_advantage

import dissect_lrm.trainer.plugin  # noqa: F401
from dissect_lrm.algos.step import apply_length_reward
from dissect_lrm.trainer.settings import algos_config


def _algorithm(*overrides: str):
    with initialize_config_module(config_module="dissect_lrm.trainer.config", version_base=None):
        config = compose("dissect_trainer", overrides=["data.max_response_length=6", *overrides])
    return config.algorithm


def _batch(seed: int) -> DataProto:
    generator = torch.Generator().manual_seed(seed)
    bs, length = 12, 6
    lengths = torch.randint(1, length + 1, (bs,), generator=generator)
    mask = (torch.arange(length)[None, :] < lengths[:, None]).float()
    scores = torch.randint(0, 2, (bs,), generator=generator).float()
    rewards = torch.zeros(bs, length)
    rewards[torch.arange(bs), lengths - 1] = scores
    uids = np.array([f"u{i // 4}" for i in range(bs)], dtype=object)
    return DataProto.from_dict(
        tensors={"token_level_rewards": rewards, "response_mask": mask}, non_tensors={"uid": uids}
    )


@pytest.mark.parametrize("norm", [True, False])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_features_off_equals_verl_grpo_bit_for_bit(norm, seed):
    algorithm = _algorithm(f"algorithm.norm_adv_by_std_in_grpo={norm}")
    ours = compute_advantage(_batch(seed), "dissect_grpo", norm_adv_by_std_in_grpo=norm, config=algorithm)
    verl = compute_advantage(_batch(seed), "grpo", norm_adv_by_std_in_grpo=norm, config=algorithm)
    assert torch.equal(ours.batch["advantages"], verl.batch["advantages"])


def test_relative_length_reward_shaped_scores_through_verls_compute_advantage():
    # One group of 4: two correct answers of lengths 2 and 4, two wrong ones; alpha 0.5 shapes it. The
    # length reward shapes rm_scores (as the trainer's hook does); verl's compute_advantage then runs
    # our estimator on them.
    mask = torch.tensor([[1, 1, 0, 0], [1, 1, 1, 1], [1, 1, 1, 0], [1, 0, 0, 0]]).float()
    rewards = torch.zeros(4, 4)
    rewards[0, 1], rewards[1, 3] = 1.0, 1.0
    algorithm = _algorithm("algorithm.rlr.enable=true", "algorithm.rlr.alpha=0.5", "algorithm.rlr.lambda=2")
    shaped_scores, stats = apply_length_reward(
        rewards,
        mask,
        torch.tensor([True, True, False, False]),
        ["g"] * 4,
        max_response_length=6,
        settings=algos_config(algorithm).rlr,
    )
    data = DataProto.from_dict(
        tensors={"token_level_rewards": shaped_scores, "response_mask": mask},
        non_tensors={"uid": np.array(["g"] * 4, dtype=object)},
    )
    out = compute_advantage(data, "dissect_grpo", config=algorithm)
    # mean correct length 3: bonus (3-2)/2 = +0.5 for the short one, (3-4)/2 = -0.5 for the long one.
    shaped = torch.tensor([1.5, 0.5, 0.0, 0.0])
    expected = (shaped - shaped.mean()) / (shaped.std() + 1e-6)
    assert torch.allclose(out.batch["advantages"][:, 0], expected)
    assert stats["shaped_group_frac"] == 1.0
    assert stats["mean_bonus"] == pytest.approx(0.0)
