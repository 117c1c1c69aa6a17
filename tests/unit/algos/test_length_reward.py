"""Relative length reward (eq. 6-7), cosine and overlong rewards against hand-computed numbers."""

import pytest
import torch

from dissect_lrm.algos.length_reward import (
    cosine_length_reward,
    overlong_penalty,
    relative_length_bonus,
    shape_length_reward,
)

# group 0: 4/4 correct, lengths 100 300 500 1100, mean 500
# group 1: 2/4 correct (0.5 < alpha 0.75): untouched
# group 2: 3/4 correct (= alpha): correct lengths 200 400 600, mean 400; the wrong one untouched
GROUP = torch.tensor([0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2])
CORRECT = torch.tensor([True, True, True, True, True, True, False, False, True, True, True, False])
LENGTHS = torch.tensor([100, 300, 500, 1100, 100, 900, 50, 50, 200, 400, 600, 3000])


def test_relative_length_bonus_paper_values_shorter_is_rewarded():
    bonus, shaped = relative_length_bonus(
        CORRECT, LENGTHS, GROUP, 3, alpha=0.75, lambda_=500, eps_low=-0.5, eps_up=1
    )
    # (500 - L) / 500 = 0.8, 0.4, 0, -1.2 -> clipped at -0.5; group 2: (400 - L) / 500 = 0.4, 0, -0.4
    expected = [0.8, 0.4, 0.0, -0.5, 0, 0, 0, 0, 0.4, 0.0, -0.4, 0.0]
    assert bonus.tolist() == pytest.approx(expected, abs=1e-6)
    assert shaped.tolist() == [True] * 4 + [False] * 4 + [True, True, True, False]


def test_relative_length_bonus_upper_clip():
    bonus, _ = relative_length_bonus(
        torch.tensor([True, True]), torch.tensor([0, 2000]), torch.tensor([0, 0]), 1, lambda_=500, eps_up=1.0
    )
    assert bonus.tolist() == pytest.approx([1.0, -0.5])  # (1000 - 0) / 500 = 2 -> 1; -2 -> -0.5


def test_shape_relative_adds_to_raw_reward_and_reports_stats():
    base = CORRECT.float()
    result = shape_length_reward("relative", base, CORRECT, LENGTHS, GROUP, 3, max_length=4096)
    assert result.reward.tolist() == pytest.approx(
        [1.8, 1.4, 1.0, 0.5, 1, 1, 0, 0, 1.4, 1.0, 0.6, 0.0], abs=1e-6
    )
    stats = result.stats
    assert stats["shaped_group_frac"] == pytest.approx(2 / 3)
    assert stats["shaped_sample_frac"] == pytest.approx(7 / 12)
    assert stats["mean_bonus"] == pytest.approx((0.8 + 0.4 + 0 - 0.5 + 0.4 + 0 - 0.4) / 7)
    # correct lengths: 100 300 500 1100 100 900 200 400 600 -> 4200 / 9; incorrect: 50 50 3000
    assert stats["mean_correct_length"] == pytest.approx(4200 / 9)
    assert stats["mean_incorrect_length"] == pytest.approx(3100 / 3)


def test_shape_relative_decides_on_raw_correctness_not_on_the_reward():
    # A reward that was already shaped (e.g. 1.3) must not change who is shaped: `correct` decides.
    base = torch.tensor([1.3, 0.0])
    result = shape_length_reward(
        "relative",
        base,
        torch.tensor([True, False]),
        torch.tensor([100, 200]),
        torch.tensor([0, 0]),
        1,
        4096,
        alpha=0.5,
    )
    assert result.bonus.tolist() == [0.0, 0.0]  # the only correct sample is at its group's mean length


def test_cosine_length_reward():
    lengths = torch.tensor([0, 50, 100, 200])
    assert cosine_length_reward(torch.ones(4, dtype=torch.bool), lengths, 100).tolist() == pytest.approx(
        [1.0, 0.75, 0.5, 0.5], abs=1e-6
    )
    assert cosine_length_reward(torch.zeros(4, dtype=torch.bool), lengths, 100).tolist() == pytest.approx(
        [-1.0, -0.75, -0.5, -0.5], abs=1e-6
    )


def test_overlong_penalty():
    lengths = torch.tensor([10, 80, 90, 100, 120])
    assert overlong_penalty(lengths, 100, 20).tolist() == pytest.approx([0, 0, -0.5, -1, -1])
    assert overlong_penalty(lengths, 100, 20, penalty_factor=2.0).tolist() == pytest.approx(
        [0, 0, -1, -2, -2]
    )


def test_shape_cosine_and_overlong_through_one_interface():
    correct = torch.tensor([True, False])
    lengths = torch.tensor([0, 100])
    group = torch.tensor([0, 0])
    cosine = shape_length_reward("cosine", correct.float(), correct, lengths, group, 1, max_length=100)
    assert cosine.reward.tolist() == pytest.approx([1.0, -0.5])
    assert cosine.bonus.tolist() == pytest.approx([0.0, -0.5])
    over = shape_length_reward(
        "overlong", correct.float(), correct, lengths, group, 1, max_length=100, overlong_buffer_length=50
    )
    assert over.reward.tolist() == pytest.approx([1.0, -1.0])
    assert over.shaped.tolist() == [False, True]


def test_unknown_kind():
    with pytest.raises(ValueError, match="unknown length reward kind 'linear'"):
        shape_length_reward(
            "linear", torch.zeros(1), torch.zeros(1), torch.zeros(1), torch.zeros(1, dtype=torch.long), 1, 10
        )
