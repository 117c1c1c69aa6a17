"""Sample filter of §3.1: labels, keep masks, weights, stats, and the filtered-loss identity."""

import pytest
import torch

from dissect_lrm.algos.sample_filter import class_weights, classify_samples, filter_samples, keep_mask

CORRECT = torch.tensor([True, False, True, False])
MASK = torch.tensor([[1, 1, 1, 0], [1, 1, 0, 0], [1, 0, 0, 0], [1, 1, 1, 1]])  # 3, 2, 1, 4 tokens


def test_classify_by_correctness_and_sign():
    assert classify_samples("correctness", correct=CORRECT).tolist() == [1, -1, 1, -1]
    token_adv = torch.tensor([[0.5, 0.5, 0.0], [-1.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    assert classify_samples("advantage_sign", advantages=token_adv).tolist() == [1, -1, 0]
    assert classify_samples("advantage_sign", advantages=torch.tensor([2.0, -0.1, 0.0])).tolist() == [
        1,
        -1,
        0,
    ]


def test_classify_errors():
    with pytest.raises(ValueError, match="needs `correct`"):
        classify_samples("correctness")
    with pytest.raises(ValueError, match="needs `advantages`"):
        classify_samples("advantage_sign")
    with pytest.raises(ValueError, match="unknown sample classification 'reward'"):
        classify_samples("reward", correct=CORRECT)


def test_keep_mask_modes():
    labels = torch.tensor([1, -1, 0, 1], dtype=torch.int8)
    assert keep_mask(labels, "both").tolist() == [True, True, True, True]
    assert keep_mask(labels, "pos").tolist() == [True, False, False, True]
    assert keep_mask(labels, "neg").tolist() == [False, True, False, False]
    assert keep_mask(labels, "pos", keep_ratio=1.0).tolist() == [True] * 4
    with pytest.raises(ValueError, match="unknown sample filter mode 'positive'"):
        keep_mask(labels, "positive")


def test_keep_ratio_is_seeded_and_roughly_right():
    labels = torch.full((4000,), -1, dtype=torch.int8)
    first = keep_mask(labels, "pos", 0.25, torch.Generator().manual_seed(7))
    second = keep_mask(labels, "pos", 0.25, torch.Generator().manual_seed(7))
    other = keep_mask(labels, "pos", 0.25, torch.Generator().manual_seed(8))
    assert torch.equal(first, second)
    assert not torch.equal(first, other)
    assert 0.22 < first.float().mean().item() < 0.28


def test_class_weights():
    labels = torch.tensor([1, -1, 0], dtype=torch.int8)
    assert class_weights(labels, 0.1, 1.0).tolist() == pytest.approx([0.1, 1.0, 1.0])


def test_filter_samples_pos_mode_stats_and_mask():
    result = filter_samples(MASK, mode="pos", correct=CORRECT)
    assert result.keep.tolist() == [True, False, True, False]
    assert result.response_mask.tolist() == [[1, 1, 1, 0], [0, 0, 0, 0], [1, 0, 0, 0], [0, 0, 0, 0]]
    assert result.response_mask.dtype == MASK.dtype
    stats = result.stats
    assert stats["kept_pos_samples"] == 2 and stats["kept_pos_tokens"] == 4
    assert stats["removed_neg_samples"] == 2 and stats["removed_neg_tokens"] == 6
    assert stats["kept_neg_samples"] == 0 and stats["removed_pos_samples"] == 0
    assert stats["kept_sample_frac"] == 0.5
    assert stats["nothing_left"] == 0.0 and not result.empty
    assert result.advantage_weight.tolist() == [1.0] * 4


def test_filter_samples_neg_mode_and_weights():
    result = filter_samples(MASK, mode="neg", correct=CORRECT, pos_weight=0.1, neg_weight=1.0)
    assert result.keep.tolist() == [False, True, False, True]
    assert result.stats["kept_neg_tokens"] == 6 and result.stats["removed_pos_tokens"] == 4
    assert result.advantage_weight.tolist() == pytest.approx([0.1, 1.0, 0.1, 1.0])


def test_filter_samples_flags_an_empty_step():
    result = filter_samples(MASK, mode="pos", correct=torch.zeros(4, dtype=torch.bool))
    assert result.empty
    assert result.stats["nothing_left"] == 1.0
    assert int(result.response_mask.sum()) == 0


def _token_mean(loss, mask):
    return (loss * mask).sum() / mask.sum()


def _seq_mean_token_mean(loss, mask):
    lengths = mask.sum(-1)
    nonempty = lengths > 0
    per_seq = (loss * mask).sum(-1)[nonempty] / lengths[nonempty]
    return per_seq.mean()


@pytest.mark.parametrize("mode", ["pos", "neg"])
@pytest.mark.parametrize("aggregate", [_token_mean, _seq_mean_token_mean])
def test_filtered_loss_equals_loss_with_rows_physically_removed(mode, aggregate):
    generator = torch.Generator().manual_seed(0)
    loss = torch.randn(8, 6, generator=generator, dtype=torch.float64)
    mask = (torch.rand(8, 6, generator=generator) > 0.3).to(torch.float64)
    mask[:, 0] = 1.0
    correct = torch.tensor([True, False, False, True, True, False, True, False])
    result = filter_samples(mask, mode=mode, correct=correct)
    masked = aggregate(loss, result.response_mask)
    removed = aggregate(loss[result.keep], mask[result.keep])
    assert masked.item() == pytest.approx(removed.item(), rel=1e-12)


def test_filter_leaves_input_untouched_by_default_and_inplace_writes_it():
    mask = MASK.clone()
    result = filter_samples(mask, mode="neg", correct=CORRECT, lengths=torch.tensor([3, 2, 1, 4]))
    assert torch.equal(mask, MASK) and result.response_mask is not mask
    assert result.stats["kept_neg_tokens"] == 6
    inplace = filter_samples(mask, mode="neg", correct=CORRECT, inplace=True)
    assert inplace.response_mask is mask
    assert mask.tolist() == [[0, 0, 0, 0], [1, 1, 0, 0], [0, 0, 0, 0], [1, 1, 1, 1]]
