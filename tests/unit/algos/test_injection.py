"""Offline sample injection: row selection (eq. 8, appendix B.5) and the response layout helper."""

import pytest
import torch

from dissect_lrm.algos.injection import fits_response_length, layout_offline_responses, select_injection

# group 0: 0/4 correct, 2 offline   -> 2 rows
# group 1: 1/4 correct (0.25 > 0.125), 4 offline -> none
# group 2: 1/8 correct (= 0.125), 4 offline, cap 3 -> 3 rows, all incorrect under incorrect_first
# group 3: 0/2 correct, no offline  -> none (counted as low accuracy)
GROUP = torch.tensor([0] * 4 + [1] * 4 + [2] * 8 + [3] * 2)
CORRECT = torch.tensor(
    [False] * 4 + [True, False, False, False] + [False] * 5 + [True] + [False] * 2 + [False] * 2
)
NUM_OFFLINE = torch.tensor([2, 4, 4, 0])


def _plan(seed=0, **kwargs):
    args = {
        "gamma": 0.125,
        "max_inject": 3,
        "policy": "incorrect_first",
        "generator": torch.Generator().manual_seed(seed),
    }
    args.update(kwargs)
    return select_injection(CORRECT, GROUP, 4, NUM_OFFLINE, **args)


def test_select_injection_counts_and_rows():
    plan = _plan()
    rows = plan.rows
    assert torch.equal(rows, torch.sort(rows).values)
    assert (GROUP[rows] == 0).sum() == 2 and (GROUP[rows] == 2).sum() == 3 and rows.numel() == 5
    assert not CORRECT[rows].any()  # incorrect_first never needs a correct row here
    assert plan.offpolicy.sum() == 5 and plan.offpolicy[rows].all()
    assert plan.eligible_groups.tolist() == [True, False, True, False]
    assert plan.stats == {
        "low_accuracy_groups": 3.0,
        "injected_groups": 2.0,
        "injected_samples": 5.0,
        "injected_sample_frac": 5 / 18,
    }


def test_offline_solutions_are_distinct_within_a_group_and_in_range():
    for seed in range(20):
        plan = _plan(seed)
        for g in (0, 2):
            used = plan.offline_index[GROUP[plan.rows] == g]
            assert len(set(used.tolist())) == used.numel()
            assert (used < NUM_OFFLINE[g]).all() and (used >= 0).all()


def test_selection_is_seeded():
    first, again, other = _plan(3), _plan(3), _plan(4)
    assert torch.equal(first.rows, again.rows) and torch.equal(first.offline_index, again.offline_index)
    assert not (torch.equal(first.rows, other.rows) and torch.equal(first.offline_index, other.offline_index))


def test_incorrect_first_never_replaces_a_correct_online_sample():
    # one group [wrong, right] with accuracy 0.5 <= gamma 0.5 and 2 offline solutions, no cap: the quota is
    # min(#wrong = 1, #offline = 2) = 1, so only the wrong row is replaced
    plan = select_injection(
        torch.tensor([False, True]), torch.tensor([0, 0]), 1, torch.tensor([2]), gamma=0.5, max_inject=-1
    )
    assert plan.rows.tolist() == [0]
    assert plan.offline_index.tolist()[0] in (0, 1)


@pytest.mark.parametrize(
    ("correct", "num_offline", "max_inject", "expected"),
    [
        # quota = min(max_inject, #wrong, #offline), hand-counted per case
        ([0, 0, 0, 1], 5, -1, 3),  # #wrong 3
        ([0, 0, 0, 1], 2, -1, 2),  # #offline 2
        ([0, 0, 0, 1], 5, 1, 1),  # max_inject 1
        ([0, 0, 0, 0], 5, 3, 3),
        ([1, 1, 0, 0], 5, -1, 2),  # accuracy 0.5 <= gamma 0.5
    ],
)
def test_incorrect_first_quota(correct, num_offline, max_inject, expected):
    correct = torch.tensor(correct, dtype=torch.bool)
    for seed in range(5):
        plan = select_injection(
            correct,
            torch.zeros(4, dtype=torch.long),
            1,
            torch.tensor([num_offline]),
            gamma=0.5,
            max_inject=max_inject,
            generator=torch.Generator().manual_seed(seed),
        )
        assert plan.rows.numel() == expected
        assert not correct[plan.rows].any()


def test_fits_response_length_counts_the_eos_a_finished_response_gets():
    eos = 9
    # limit 3: [1, 2] + EOS = 3 fits; [1, 2, 3] + EOS = 4 does not; [1, 9, 5, 6] is cut after EOS: 2 fits;
    # [1, 2, 3, 9] ends with EOS: 4 does not
    fits = fits_response_length([[1, 2], [1, 2, 3], [1, 9, 5, 6], [1, 2, 3, 9]], 3, eos)
    assert fits.tolist() == [True, False, True, False]


def test_single_offline_solution_goes_to_one_incorrect_row():
    plan = select_injection(
        torch.tensor([True, False, False]),
        torch.tensor([0, 0, 0]),
        1,
        torch.tensor([1]),
        gamma=0.5,
        generator=torch.Generator().manual_seed(1),
    )
    assert plan.rows.numel() == 1 and plan.rows.item() in (1, 2)
    assert plan.offline_index.tolist() == [0]


def test_random_policy_may_replace_correct_rows():
    correct = torch.tensor([True, True, True, True])
    hits = set()
    for seed in range(10):
        plan = select_injection(
            correct,
            torch.zeros(4, dtype=torch.long),
            1,
            torch.tensor([1]),
            gamma=1.0,
            policy="random",
            generator=torch.Generator().manual_seed(seed),
        )
        hits.update(plan.rows.tolist())
    assert len(hits) > 1  # not always the first row


def test_unknown_policy():
    with pytest.raises(ValueError, match="unknown injection policy 'first'"):
        _plan(policy="first")


def test_layout_offline_responses():
    responses, mask = layout_offline_responses(
        [[1, 2], [1, 2, 3, 4, 5, 6], [1, 2, 3, 4, 9], [1, 2, 3, 4], [1, 9, 3], []],
        max_response_length=5,
        eos_token_id=9,
        pad_token_id=0,
    )
    assert responses.tolist() == [
        [1, 2, 9, 0, 0],  # EOS appended
        [1, 2, 3, 4, 5],  # truncated at the limit, kept (no EOS fits)
        [1, 2, 3, 4, 9],  # exactly max length with EOS: kept (the original discarded it)
        [1, 2, 3, 4, 9],  # EOS appended into the last slot
        [1, 9, 0, 0, 0],  # cut after the first EOS
        [9, 0, 0, 0, 0],  # empty response: EOS only
    ]
    assert mask.tolist() == [
        [1, 1, 1, 0, 0],
        [1, 1, 1, 1, 1],
        [1, 1, 1, 1, 1],
        [1, 1, 1, 1, 1],
        [1, 1, 0, 0, 0],
        [1, 0, 0, 0, 0],
    ]
