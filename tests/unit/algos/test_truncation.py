"""Truncated-sample predicate (no EOS within the limit) and the advantage mask (docs/original-code.md#truncation-mask)."""

import pytest
import torch

from dissect_lrm.algos.truncation import is_truncated, truncated_sample_mask

RESPONSES = torch.tensor([[5, 6, 2, 0], [5, 6, 7, 8], [5, 6, 7, 2], [0, 0, 0, 0], [2, 0, 2, 0]])
MASK = torch.tensor([[1, 1, 1, 0], [1, 1, 1, 1], [1, 1, 1, 1], [0, 0, 0, 0], [0, 0, 0, 0]])


def test_is_truncated():
    # row 2 ends with EOS on the last slot: complete, not truncated (the original called it truncated)
    # row 4 has EOS ids only under padding: they do not count
    assert is_truncated(RESPONSES, MASK, 2).tolist() == [False, True, False, True, True]
    assert is_truncated(RESPONSES, MASK, [2, 8]).tolist() == [False, False, False, True, True]


def test_truncated_sample_mask():
    truncated = torch.tensor([True, True, False, True])
    correct = torch.tensor([False, True, False, False])
    repetitive = torch.tensor([True, True, True, False])
    assert truncated_sample_mask(truncated, correct).tolist() == [True, False, False, True]
    assert truncated_sample_mask(truncated, correct, repetitive, require_repetition=True).tolist() == [
        True,
        False,
        False,
        False,
    ]
    with pytest.raises(ValueError, match="needs the `repetitive` flags"):
        truncated_sample_mask(truncated, correct, require_repetition=True)
