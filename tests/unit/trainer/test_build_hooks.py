"""Which step hooks a configuration turns on, in the order they act."""

from __future__ import annotations

import pytest

from dissect_lrm.algos.config import AlgosConfig
from dissect_lrm.trainer.hooks import build_hooks


@pytest.mark.parametrize(
    ("mapping", "expected"),
    [
        ({}, ["reward_outcome_metrics"]),
        ({"sample_filter": {"mode": "pos"}}, ["reward_outcome_metrics", "sample_filter"]),
        ({"sample_filter": {"weights": {"pos": 0.1}}}, ["reward_outcome_metrics", "sample_filter"]),
        ({"sample_filter": {"preset": "w_reinforce"}}, ["reward_outcome_metrics", "sample_filter"]),
        (
            {"injection": {"enable": True}, "rlr": {"enable": True}, "truncation_mask": {"enable": True}},
            ["offline_injection", "reward_outcome_metrics", "length_reward", "truncation_mask"],
        ),
    ],
)
def test_build_hooks(mapping, expected):
    assert [hook.name for hook in build_hooks(AlgosConfig.from_mapping(mapping))] == expected
