"""Hand-computed checks of the group bookkeeping helpers."""

import numpy as np
import pytest
import torch

from dissect_lrm.algos.grouping import (
    dense_group_index,
    group_accuracy,
    group_count,
    group_mean,
    group_outcome_fractions,
    group_sum,
)


def test_dense_group_index_numbers_groups_by_first_appearance():
    group, num_groups = dense_group_index(np.array(["b", "a", "b", "c", "a"], dtype=object))
    assert group.tolist() == [0, 1, 0, 2, 1]
    assert num_groups == 3
    assert group.dtype == torch.int64


def test_dense_group_index_accepts_ints_lists_and_tensors():
    assert dense_group_index([7, 7, 3])[0].tolist() == [0, 0, 1]
    assert dense_group_index(torch.tensor([5, 1, 5]))[0].tolist() == [0, 1, 0]
    empty, n = dense_group_index([])
    assert empty.numel() == 0 and n == 0


def test_dense_group_index_rejects_2d():
    with pytest.raises(ValueError, match="1-D"):
        dense_group_index(np.zeros((2, 2)))


def test_group_reductions():
    group = torch.tensor([0, 0, 1, 1, 1, 2])
    values = torch.tensor([1.0, 3.0, 2.0, 4.0, 9.0, 5.0])
    assert group_count(group, 3).tolist() == [2, 3, 1]
    assert group_sum(values, group, 3).tolist() == [4.0, 15.0, 5.0]
    assert group_mean(values, group, 3).tolist() == [2.0, 5.0, 5.0]
    where = torch.tensor([True, False, False, True, True, False])
    # group 0: only 1.0; group 1: (4 + 9) / 2; group 2: nothing selected -> 0
    assert group_mean(values, group, 3, where=where).tolist() == [1.0, 6.5, 0.0]


def test_group_accuracy_and_outcome_fractions():
    # g0 all correct, g1 all wrong, g2 mixed, g3 single correct
    group = torch.tensor([0, 0, 1, 1, 2, 2, 3])
    correct = torch.tensor([True, True, False, False, True, False, True])
    assert group_accuracy(correct, group, 4).tolist() == [1.0, 0.0, 0.5, 1.0]
    fractions = group_outcome_fractions(correct, group, 4)
    assert fractions == {"all_correct": 0.5, "all_wrong": 0.25, "mixed": 0.25}
    assert group_outcome_fractions(correct[:0], group[:0], 0) == {
        "all_correct": 0.0,
        "all_wrong": 0.0,
        "mixed": 0.0,
    }
