"""GRPO / Dr.GRPO advantage (eq. 1, eq. 8) against hand-computed numbers."""

import math

import numpy as np
import pytest
import torch

from dissect_lrm.algos.advantage import group_mean_std, grpo_advantage, grpo_outcome_advantage


def test_group_mean_std_unbiased_and_singleton_convention():
    scores = torch.tensor([1.0, 0.0, 0.0, 1.0, 2.0])
    group = torch.tensor([0, 0, 0, 0, 1])
    mean, std = group_mean_std(scores, group, 2)
    assert mean.tolist() == [0.5, 0.0]  # singleton group: mean 0 (verl's convention)
    assert std[0].item() == pytest.approx(math.sqrt(1 / 3), rel=1e-6)  # sqrt(4 * 0.25 / 3)
    assert std[1].item() == 1.0  # singleton group: std 1


def test_grpo_advantage_hand_case():
    scores = torch.tensor([1.0, 0.0, 0.0, 1.0, 2.0, 3.0, 3.0])
    group = torch.tensor([0, 0, 0, 0, 1, 2, 2])
    advantage = grpo_advantage(scores, group, 3)
    a = 0.5 / (math.sqrt(1 / 3) + 1e-6)  # = 0.866024...
    expected = [a, -a, -a, a, 2.0 / (1.0 + 1e-6), 0.0, 0.0]
    assert advantage.tolist() == pytest.approx(expected, rel=1e-6)


def test_dr_grpo_advantage_is_centred_only():
    scores = torch.tensor([1.0, 0.0, 0.0, 5.0])
    group = torch.tensor([0, 0, 0, 1])
    advantage = grpo_advantage(scores, group, 2, norm_adv_by_std=False)
    assert advantage.tolist() == pytest.approx([2 / 3, -1 / 3, -1 / 3, 5.0])


def test_grpo_outcome_advantage_broadcasts_over_mask_and_interleaved_groups():
    rewards = torch.tensor([[0.0, 1.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 0.0, 0.0]])
    mask = torch.tensor([[1.0, 1.0, 0.0], [1.0, 1.0, 1.0], [1.0, 1.0, 1.0], [1.0, 0.0, 0.0]])
    index = np.array(["p", "q", "q", "p"], dtype=object)
    advantages, returns = grpo_outcome_advantage(rewards, mask, index, norm_adv_by_std=False)
    # group p: scores (1, 0) -> (0.5, -0.5); group q: scores (0, 1) -> (-0.5, 0.5)
    expected = [[0.5, 0.5, 0.0], [-0.5, -0.5, -0.5], [0.5, 0.5, 0.5], [-0.5, 0.0, 0.0]]
    assert advantages.tolist() == expected
    assert returns is advantages
