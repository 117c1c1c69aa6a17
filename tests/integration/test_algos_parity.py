"""Parity of dissect_lrm.algos with verl 0.9.1: GRPO advantage bit for bit, losses through verl's agg_loss."""

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from dissect_lrm.algos.advantage import grpo_outcome_advantage
from dissect_lrm.algos.luffy import luffy_loss_matrix
from dissect_lrm.algos.sample_filter import filter_samples

core_algos = pytest.importorskip("verl.trainer.ppo.core_algos")


def _random_batch(seed: int, dtype=torch.float32):
    rng = np.random.default_rng(seed)
    num_prompts = int(rng.integers(1, 40))
    sizes = rng.integers(1, 17, size=num_prompts)  # includes singleton groups
    uids = np.array([f"uid-{p}-{rng.integers(1 << 30)}" for p in range(num_prompts)], dtype=object)
    index = np.repeat(uids, sizes)
    rng.shuffle(index)  # groups interleaved in the batch
    batch, length = index.shape[0], int(rng.integers(1, 24))
    generator = torch.Generator().manual_seed(seed)
    lengths = torch.randint(0, length + 1, (batch,), generator=generator)
    mask = (torch.arange(length).unsqueeze(0) < lengths.unsqueeze(-1)).to(dtype)
    if seed % 2:  # binary outcome rewards on the last valid token (the paper's setting)
        scores = torch.randint(0, 2, (batch,), generator=generator).to(dtype)
        rewards = torch.zeros(batch, length, dtype=dtype)
        last = (lengths - 1).clamp(min=0)
        rewards[torch.arange(batch), last] = scores
    else:  # dense continuous rewards (KL-in-reward, RLR bonuses)
        rewards = torch.randn(batch, length, generator=generator, dtype=dtype) * mask
    return rewards, mask, index


@pytest.mark.parametrize("norm_adv_by_std", [True, False])
@pytest.mark.parametrize("seed", range(25))
def test_grpo_advantage_bit_identical_to_verl(seed, norm_adv_by_std):
    rewards, mask, index = _random_batch(seed)
    expected, _ = core_algos.compute_grpo_outcome_advantage(
        token_level_rewards=rewards.clone(),
        response_mask=mask,
        index=index,
        norm_adv_by_std_in_grpo=norm_adv_by_std,
    )
    ours, returns = grpo_outcome_advantage(rewards.clone(), mask, index, norm_adv_by_std=norm_adv_by_std)
    assert torch.equal(ours, expected)
    assert torch.equal(returns, expected)


@pytest.mark.parametrize("norm_adv_by_std", [True, False])
@pytest.mark.parametrize("seed", range(6))
def test_grpo_advantage_bit_identical_float64(seed, norm_adv_by_std):
    rewards, mask, index = _random_batch(seed, dtype=torch.float64)
    expected, _ = core_algos.compute_grpo_outcome_advantage(
        rewards.clone(), mask, index, norm_adv_by_std_in_grpo=norm_adv_by_std
    )
    assert torch.equal(grpo_outcome_advantage(rewards.clone(), mask, index, norm_adv_by_std)[0], expected)


AGG_MODES = [
    "token-mean",
    "token-sum",
    "seq-mean-token-sum",
    "seq-mean-token-mean",
    "seq-mean-token-sum-norm",
]


@pytest.mark.parametrize("loss_agg_mode", AGG_MODES)
@pytest.mark.parametrize("mode", ["pos", "neg"])
def test_filtered_loss_equals_physically_removed_rows_under_agg_loss(loss_agg_mode, mode):
    generator = torch.Generator().manual_seed(1)
    loss = torch.randn(16, 10, generator=generator, dtype=torch.float64)
    mask = (torch.rand(16, 10, generator=generator) > 0.4).to(torch.float64)
    mask[:, 0] = 1.0
    correct = torch.rand(16, generator=generator) > 0.5
    result = filter_samples(mask, mode=mode, correct=correct)
    factor = {"loss_scale_factor": 10} if loss_agg_mode == "seq-mean-token-sum-norm" else {}
    zeroed = core_algos.agg_loss(loss, result.response_mask, loss_agg_mode, **factor)
    removed = core_algos.agg_loss(loss[result.keep], mask[result.keep], loss_agg_mode, **factor)
    assert zeroed.item() == pytest.approx(removed.item(), rel=1e-12)


def _actor_config():
    return OmegaConf.create(
        {
            "clip_ratio": 0.2,
            "clip_ratio_low": 0.2,
            "clip_ratio_high": 0.28,
            "clip_ratio_c": 3.0,
            "global_batch_info": {},
        }
    )


@pytest.mark.parametrize("loss_agg_mode", AGG_MODES)
def test_luffy_without_offpolicy_tokens_matches_verl_vanilla(loss_agg_mode):
    generator = torch.Generator().manual_seed(2)
    old = -torch.rand(6, 9, generator=generator, dtype=torch.float64) * 3
    new = old + torch.randn(6, 9, generator=generator, dtype=torch.float64) * 0.3
    advantages = torch.randn(6, 1, generator=generator, dtype=torch.float64).expand(6, 9).contiguous()
    mask = (torch.rand(6, 9, generator=generator) > 0.2).to(torch.float64)
    expected, _ = core_algos.compute_policy_loss_vanilla(
        old, new, advantages, mask, loss_agg_mode=loss_agg_mode, config=_actor_config()
    )
    matrix, _ = luffy_loss_matrix(
        old,
        new,
        advantages,
        mask,
        torch.zeros(6, dtype=torch.bool),
        clip_ratio_low=0.2,
        clip_ratio_high=0.28,
        clip_ratio_c=3.0,
    )
    ours = core_algos.agg_loss(matrix, mask, loss_agg_mode)
    assert ours.item() == pytest.approx(expected.item(), rel=1e-12)
