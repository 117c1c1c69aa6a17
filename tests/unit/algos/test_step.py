"""The pure per-step feature updates behind the trainer's hooks, on hand-computed batches."""

import pytest
import torch

from dissect_lrm.algos.config import RLRConfig, SampleFilterConfig
from dissect_lrm.algos.step import (
    add_at_last_token,
    apply_length_reward,
    apply_sample_filter,
    apply_truncation_mask,
    offpolicy_token_mask,
    spread_kept_rows,
    verified_correct,
)
from dissect_lrm.algos.truncation import is_truncated

# 4 rows of lengths 3, 2, 1, 4; the last row is verl's balancing padding
MASK = torch.tensor([[1, 1, 1, 0], [1, 1, 0, 0], [1, 0, 0, 0], [1, 1, 1, 1]])
REAL = torch.tensor([True, True, True, False])
ADV = torch.tensor(
    [[0.5, 0.5, 0.5, 0.0], [-1.0, -1.0, 0.0, 0.0], [0.25, 0.0, 0.0, 0.0], [2.0, 2.0, 2.0, 2.0]]
)


def test_verified_correct_reads_acc():
    assert verified_correct([1.0, 0.0, 1]).tolist() == [True, False, True]


def test_pos_filter_zeroes_both_masks_of_removed_real_rows_only():
    loss_mask = torch.tensor([[1, 1, 1, 0], [1, 1, 0, 0], [1, 0, 0, 0], [0, 0, 0, 0]])
    correct = torch.tensor([True, False, True, False])
    update = apply_sample_filter(MASK, loss_mask, ADV, REAL, SampleFilterConfig(mode="pos"), correct=correct)
    assert update.response_mask.tolist() == [[1, 1, 1, 0], [0, 0, 0, 0], [1, 0, 0, 0], [1, 1, 1, 1]]
    assert update.loss_mask.tolist() == [[1, 1, 1, 0], [0, 0, 0, 0], [1, 0, 0, 0], [0, 0, 0, 0]]
    assert torch.equal(update.advantages, ADV)
    assert update.stats["kept_pos_samples"] == 2 and update.stats["removed_neg_samples"] == 1
    assert update.stats["removed_neg_tokens"] == 2 and not update.empty
    assert torch.equal(MASK[1], torch.tensor([1, 1, 0, 0]))  # the input is left as it was


def test_neg_filter_on_an_all_correct_batch_is_empty():
    update = apply_sample_filter(
        MASK, MASK, ADV, REAL, SampleFilterConfig(mode="neg"), correct=torch.tensor([True, True, True, True])
    )
    assert update.empty and int(update.response_mask[REAL].sum()) == 0


def test_weighted_form_scales_the_advantages_of_each_class():
    settings = SampleFilterConfig.from_mapping({"weights": {"pos": 0.1, "neg": 2.0}})
    correct = torch.tensor([True, False, True, True])
    update = apply_sample_filter(MASK, MASK, ADV, REAL, settings, correct=correct)
    expected = ADV.clone()
    expected[0] *= 0.1
    expected[1] *= 2.0
    expected[2] *= 0.1  # the padding row (3) is untouched
    assert torch.allclose(update.advantages, expected)
    assert torch.equal(update.response_mask, MASK)


def test_truncation_mask_zeroes_incorrect_truncated_real_rows():
    truncated = torch.tensor([True, True, False, True])
    correct = torch.tensor([True, False, False, False])
    advantages, stats = apply_truncation_mask(ADV, truncated, correct, REAL)
    # row 0 is truncated but correct; row 1 truncated and wrong; row 3 is padding
    assert advantages[1].tolist() == [0.0] * 4
    assert torch.equal(advantages[[0, 2, 3]], ADV[[0, 2, 3]])
    assert stats == {"masked_samples": 1.0, "truncated_samples": 2.0}


def test_truncation_predicate_knows_every_eos_id_and_the_finish_reason():
    responses = torch.tensor([[5, 7, 0], [5, 8, 0], [5, 5, 5], [5, 5, 5]])
    mask = torch.tensor([[1, 1, 0], [1, 1, 0], [1, 1, 1], [1, 1, 1]])
    # 7 and 8 both end a response (e.g. <|im_end|> and <|endoftext|>)
    assert is_truncated(responses, mask, [7, 8]).tolist() == [False, False, True, True]
    assert is_truncated(responses, mask, 7).tolist() == [False, True, True, True]
    # the rollout's finish reason wins where it is known (row 3 stopped on a stop string, not EOS)
    reasons = ["stop", "length", None, "stop"]
    assert is_truncated(responses, mask, [7, 8], reasons).tolist() == [False, True, True, False]


def test_add_at_last_token():
    values = torch.zeros(3, 3)
    mask = torch.tensor([[1, 1, 0], [0, 0, 0], [1, 1, 1]])
    out = add_at_last_token(values, mask, torch.tensor([1.0, 2.0, 3.0]))
    assert out.tolist() == [[0, 1, 0], [0, 0, 0], [0, 0, 3]]


def test_relative_length_reward_decides_on_acc_not_on_the_summed_reward():
    # One group of 4. Row 0 is verified correct but its reward sums to 0.4 (e.g. an in-reward penalty):
    # it is still a correct sample. Correct lengths 2 and 4: mean 3, lambda 2 -> bonus +0.5 and -0.5.
    mask = torch.tensor([[1, 1, 0, 0], [1, 1, 1, 1], [1, 1, 1, 0], [1, 0, 0, 0]])
    rm_scores = torch.zeros(4, 4)
    rm_scores[0, 1], rm_scores[1, 3] = 0.4, 1.0
    settings = RLRConfig(enable=True, alpha=0.5, lambda_=2.0)
    correct = torch.tensor([True, True, False, False])
    shaped, stats = apply_length_reward(rm_scores, mask, correct, ["g"] * 4, 8, settings)
    expected = rm_scores.clone()
    expected[0, 1] += 0.5
    expected[1, 3] -= 0.5
    assert torch.allclose(shaped, expected)
    assert stats["shaped_group_frac"] == 1.0


@pytest.mark.parametrize("width", [4, 6, 8])
def test_cosine_reward_measures_length_against_the_configured_limit_not_the_padded_width(width):
    # length 4 of a limit of 8: t = 0.5, c = 0.5 -> correct 0.5 + 0.5 * 0.5 = 0.75, wrong -0.5 - 0.5 * 0.5 = -0.75
    mask = torch.zeros(2, width, dtype=torch.long)
    mask[:, :4] = 1
    rm_scores = torch.zeros(2, width)
    rm_scores[0, 3] = 1.0
    settings = RLRConfig(enable=True, kind="cosine")
    shaped, _ = apply_length_reward(rm_scores, mask, torch.tensor([True, False]), ["a", "b"], 8, settings)
    assert shaped.sum(dim=-1).tolist() == pytest.approx([0.75, -0.75])


def test_overlong_penalty_measures_length_against_the_configured_limit():
    # limit 8, buffer 4: length 6 is 2 tokens into the buffer -> -0.5; length 4 -> 0
    mask = torch.tensor([[1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 0, 0]])
    settings = RLRConfig(enable=True, kind="overlong", overlong_buffer_length=4)
    shaped, _ = apply_length_reward(
        torch.zeros(2, 6), mask, torch.tensor([True, True]), ["a", "a"], 8, settings
    )
    assert shaped.sum(dim=-1).tolist() == pytest.approx([-0.5, 0.0])


def test_offpolicy_token_mask():
    out = offpolicy_token_mask(MASK, torch.tensor([False, True, False, True]))
    assert out.dtype == torch.float32
    assert out.tolist() == [[0, 0, 0, 0], [1, 1, 0, 0], [0, 0, 0, 0], [1, 1, 1, 1]]


def test_spread_kept_rows_leaves_no_mini_batch_without_a_kept_row():
    # one rank, 8 rows, mini-batches of 4: kept rows 0, 1, 2 would all sit in the first mini-batch
    kept = torch.tensor([True, True, True, False, False, False, False, False])
    order, empty = spread_kept_rows(kept, num_chunks=1, mini_batch_rows=4)
    assert sorted(order.tolist()) == list(range(8))
    assert order.tolist() == [0, 2, 3, 4, 1, 5, 6, 7]
    assert kept[order[:4]].any() and kept[order[4:]].any() and empty == 0


def test_spread_kept_rows_stays_inside_each_rank_and_counts_unavoidable_empties():
    # two ranks of 4 rows, mini-batches of 2 per rank: rank 0 holds the only kept row
    kept = torch.tensor([False, False, False, True, False, False, False, False])
    order, empty = spread_kept_rows(kept, num_chunks=2, mini_batch_rows=2)
    assert sorted(order[:4].tolist()) == [0, 1, 2, 3] and sorted(order[4:].tolist()) == [4, 5, 6, 7]
    assert order[0].item() == 3
    assert empty == 1  # the second mini-batch has no kept row on any rank


def test_w_reinforce_preset_weights_positives_by_lambda_and_negatives_by_one():
    settings = SampleFilterConfig.from_mapping({"preset": "w_reinforce", "w_reinforce_lambda": 0.25})
    settings.validate()
    correct = torch.tensor([True, False, True, True])
    update = apply_sample_filter(MASK, MASK, ADV, REAL, settings, correct=correct)
    # rows 0 and 2 are positive (x 0.25), row 1 negative (x 1), row 3 is padding (untouched)
    expected = torch.stack([ADV[0] * 0.25, ADV[1], ADV[2] * 0.25, ADV[3]])
    assert torch.allclose(update.advantages, expected)
    assert torch.equal(update.response_mask, MASK)


@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        ({"preset": "w_reinforce", "weights": {"pos": 0.5}}, "leave weights at 1/1"),
        ({"preset": "w_reinforce", "mode": "neg"}, "needs mode=both"),
        ({"preset": "nsr"}, "unknown value 'nsr'"),
        ({"preset": "w_reinforce", "w_reinforce_lambda": -1}, "w_reinforce_lambda: must be a number >= 0"),
    ],
)
def test_w_reinforce_preset_refuses_conflicting_settings(mapping, message):
    with pytest.raises(ValueError, match=message):
        SampleFilterConfig.from_mapping(mapping).validate()


def test_preset_class_weights():
    from dissect_lrm.algos.config import AlgosConfig
    from dissect_lrm.algos.sample_filter import w_reinforce_weights

    assert w_reinforce_weights(0.1) == (0.1, 1.0)
    settings = AlgosConfig.from_mapping({"sample_filter": {"preset": "w_reinforce"}})
    assert settings.sample_filter.class_weights() == (0.1, 1.0)
    assert AlgosConfig().sample_filter.class_weights() == (1.0, 1.0)
