"""The demo's verdict logic, comparisons and table, on numbers whose outcome is worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from dissect_lrm.demo_report import (
    DIRECTION_ONLY,
    INCONCLUSIVE,
    NOT_REPRODUCED,
    REPRODUCED,
    Comparison,
    combine,
    directional_verdict,
    equivalence_verdict,
    format_table,
    judge_claims,
    paired_bootstrap,
    report_markdown,
    window_comparison,
)


@pytest.mark.parametrize(
    ("comparison", "expected"),
    [
        (Comparison(0.12, 0.05, 0.19, p=0.001), REPRODUCED),
        (Comparison(0.05, -0.01, 0.11, p=0.09), DIRECTION_ONLY),
        (Comparison(0.05, 0.001, 0.11, p=0.049), REPRODUCED),  # alpha 0.05: just significant
        (Comparison(-0.02, -0.08, 0.04, p=0.5), NOT_REPRODUCED),
        (Comparison(0.0, -0.01, 0.01, p=1.0), NOT_REPRODUCED),  # no difference is not "higher"
        (Comparison(0.3, 0.1, 0.5), REPRODUCED),  # no p-value: the CI decides
        (Comparison(0.3, -0.1, 0.7), DIRECTION_ONLY),
    ],
)
def test_directional_verdict(comparison, expected):
    assert directional_verdict(comparison) == expected


@pytest.mark.parametrize(
    ("low", "high", "expected"),
    [
        (-0.06, 0.09, REPRODUCED),  # inside +-0.10
        (-0.10, 0.10, REPRODUCED),  # the margin itself counts as inside
        (-0.12, 0.16, INCONCLUSIVE),  # straddles the margin
        (-0.30, -0.11, NOT_REPRODUCED),  # wholly below -0.10
        (0.11, 0.25, NOT_REPRODUCED),  # wholly above +0.10
    ],
)
def test_equivalence_verdict(low, high, expected):
    assert equivalence_verdict(Comparison((low + high) / 2, low, high)) == expected


def test_combine_takes_the_weakest_part():
    assert combine([REPRODUCED, REPRODUCED]) == REPRODUCED
    assert combine([REPRODUCED, DIRECTION_ONLY]) == DIRECTION_ONLY
    assert combine([DIRECTION_ONLY, NOT_REPRODUCED]) == NOT_REPRODUCED
    assert combine([INCONCLUSIVE, DIRECTION_ONLY]) == INCONCLUSIVE


def test_window_comparison_hand_case():
    # Last 3 of A: 1, 2, 3 (mean 2, variance 1); B constant 0: SE = sqrt(1/3), CI = 2 +- 1.96 * 0.57735.
    result = window_comparison([9.0, 1.0, 2.0, 3.0], [5.0, 0.0, 0.0, 0.0], window=3)
    assert result.diff == pytest.approx(2.0)
    assert result.low == pytest.approx(2 - 1.96 * math.sqrt(1 / 3))
    assert result.high == pytest.approx(2 + 1.96 * math.sqrt(1 / 3))
    assert result.p is None


def test_paired_bootstrap_of_a_constant_shift_has_a_point_interval():
    before = np.array([0.0, 0.5, 1.0, 0.25])
    result = paired_bootstrap(before + 0.25, before)
    assert (result.diff, result.low, result.high) == pytest.approx((0.25, 0.25, 0.25))


def test_paired_bootstrap_interval_brackets_the_mean():
    a, b = np.array([1.0, 0.0, 1.0, 1.0, 0.0, 1.0]), np.zeros(6)
    result = paired_bootstrap(a, b)
    assert result.diff == pytest.approx(4 / 6)
    assert 0 < result.low < 4 / 6 < result.high <= 1


def _row(name, pass1, train, vs=None):
    return {
        "name": name,
        "heldout_pass1": pass1,
        "heldout_ci": (pass1 - 0.05, pass1 + 0.05),
        "pass_at_k": {1: pass1, 2: 0.5, 4: 0.625, 8: 0.75},
        "train_pass1": train,
        "vs_before": vs,
    }


def test_table_rows_hand_formatted():
    rows = [_row("before", 0.3, 0.4), _row("GRPO both", 0.45, 0.6, Comparison(0.15, 0.1, 0.2, p=0.00002))]
    lines = format_table(rows, large_k=8).splitlines()
    assert lines[0] == (
        "| model | held-out avg pass@1 | 95% CI | pass@1 | pass@2 | pass@4 | pass@8 | train-split pass@1 "
        "| vs before (held-out, paired) |"
    )
    assert lines[1] == "|---|---|---|---|---|---|---|---|---|"
    assert lines[2] == "| before | 0.300 | [0.250, 0.350] | 0.300 | 0.500 | 0.625 | 0.750 | 0.400 | - |"
    assert lines[3] == (
        "| GRPO both | 0.450 | [0.400, 0.500] | 0.450 | 0.500 | 0.625 | 0.750 | 0.600 | +15.0 pts, p=<1e-4 |"
    )


def _claims(gain, gain_p):
    pass1 = {
        ("both", "before"): Comparison(gain, gain - 0.04, gain + 0.04, p=gain_p),
        ("neg", "both"): Comparison(-0.01, -0.05, 0.03, p=0.6),
        ("pos", "before"): Comparison(0.08, 0.03, 0.13, p=0.002),
        ("pos@train", "before@train"): Comparison(0.2, 0.15, 0.25, p=1e-6),
    }
    passk = {("neg", "pos"): Comparison(0.06, 0.01, 0.11), ("before", "pos"): Comparison(0.02, -0.02, 0.06)}
    entropy = {("neg", "pos"): Comparison(0.1, 0.05, 0.15), ("both", "pos"): Comparison(0.05, -0.01, 0.11)}
    return judge_claims(pass1, passk, entropy, large_k=8)


def test_judge_claims_hand_case():
    claims = _claims(0.12, 0.001)
    assert [c.verdict for c in claims] == [
        REPRODUCED,  # +12 pts >= 10, p = 0.001 < 0.01
        REPRODUCED,  # pos fits the training split: +20 pts, p = 1e-6
        REPRODUCED,  # neg - both CI [-0.05, 0.03] within +-0.10
        DIRECTION_ONLY,  # entropy: neg above pos (CI > 0) but both - pos CI includes 0
        REPRODUCED,  # pass@8 neg - pos CI [0.01, 0.11] above 0
        DIRECTION_ONLY,  # pos sharpens pass@1 (p = 0.002) but narrows pass@8 only in direction
    ]
    assert "both - before: +12.0 pts [+8.0, +16.0], p=0.0010" in claims[0].evidence
    assert "pass@8" in claims[4].name


@pytest.mark.parametrize(("gain", "p", "expected"), [(0.08, 0.001, DIRECTION_ONLY), (0.15, 0.02, DIRECTION_ONLY), (-0.01, 0.7, NOT_REPRODUCED)])  # fmt: skip
def test_target_needs_both_the_gain_and_the_p_value(gain, p, expected):
    assert _claims(gain, p)[0].verdict == expected


def test_report_holds_table_verdicts_and_figure_link():
    claims = _claims(0.12, 0.001)
    text = report_markdown("| table |", claims, "demo_posneg.png", "header line")
    assert "| table |" in text and "header line" in text
    assert "![" in text and "(demo_posneg.png)" in text
    assert sum(line.startswith("- **") for line in text.splitlines()) == len(claims)
