"""The CPU demo's numbers turned into words: comparisons, Table-1 verdicts, the table and REPORT.md (pure)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

MODES = ("both", "neg", "pos")
BEFORE = "before"
SPLITS = ("heldout", "train")

# Verdict words (one per outcome of a claim's test).
REPRODUCED = "reproduced"
DIRECTION_ONLY = "same direction, not significant"
NOT_REPRODUCED = "not reproduced"
INCONCLUSIVE = "inconclusive"

TARGET_GAIN = 0.10  # the demo's goal: GRPO (both) adds >= 10 points of held-out avg pass@1 ...
TARGET_P = 0.01  # ... with a paired test at p < 0.01
EQUIVALENCE_MARGIN = 0.10  # "neg-only ~ both": the difference's 95% CI lies within +-10 points


@dataclass(frozen=True)
class Comparison:
    """A minus B: the difference, its 95% CI and (when a test gives one) its p-value."""

    diff: float
    low: float
    high: float
    p: float | None = None
    test: str = ""

    def describe(self, scale: float = 100.0, unit: str = " pts", digits: int = 1) -> str:
        d, lo, hi = self.diff * scale, self.low * scale, self.high * scale
        text = f"{d:+.{digits}f}{unit} [{lo:+.{digits}f}, {hi:+.{digits}f}]"
        if self.p is not None:
            text += f", p={format_p(self.p)}"
        return text + (f" ({self.test})" if self.test else "")


def format_p(p: float) -> str:
    return "<1e-4" if p < 1e-4 else f"{p:.4f}" if p < 0.01 else f"{p:.3f}"


def directional_verdict(comparison: Comparison, alpha: float = 0.05) -> str:
    """A claim "A > B": reproduced when the difference is positive and significant (p < alpha, or the
    95% CI above 0 when there is no p-value), same direction only when positive but not significant."""
    if comparison.diff <= 0:
        return NOT_REPRODUCED
    significant = comparison.p < alpha if comparison.p is not None else comparison.low > 0
    return REPRODUCED if significant else DIRECTION_ONLY


def equivalence_verdict(comparison: Comparison, margin: float = EQUIVALENCE_MARGIN) -> str:
    """A claim "A ~ B": reproduced when the 95% CI of A - B lies within +-margin, not reproduced when
    it lies wholly outside, inconclusive otherwise (the CI straddles the margin)."""
    if -margin <= comparison.low and comparison.high <= margin:
        return REPRODUCED
    if comparison.low > margin or comparison.high < -margin:
        return NOT_REPRODUCED
    return INCONCLUSIVE


def combine(verdicts: Sequence[str]) -> str:
    """Several parts of one claim: the weakest part decides."""
    for word in (NOT_REPRODUCED, INCONCLUSIVE, DIRECTION_ONLY):
        if word in verdicts:
            return word
    return REPRODUCED


def paired_bootstrap(
    values_a: np.ndarray, values_b: np.ndarray, num_resamples: int = 2000, seed: int = 0
) -> Comparison:
    """mean(A - B) over problems with a 95% percentile CI from resampling problems (jointly for A, B)."""
    differences = np.asarray(values_a, dtype=float) - np.asarray(values_b, dtype=float)
    rng = np.random.default_rng(seed)
    rows = rng.integers(0, differences.size, size=(num_resamples, differences.size))
    means = differences[rows].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return Comparison(float(differences.mean()), float(low), float(high), None, "paired problem bootstrap")


def window_comparison(series_a: Sequence[float], series_b: Sequence[float], window: int = 5) -> Comparison:
    """Mean of the last ``window`` steps of A minus that of B, with a normal 95% CI from the
    step-to-step spread inside each window (steps treated as independent draws)."""
    a = np.asarray(list(series_a)[-window:], dtype=float)
    b = np.asarray(list(series_b)[-window:], dtype=float)
    if a.size < 2 or b.size < 2:
        return Comparison(float(a.mean() - b.mean()), -math.inf, math.inf, None, "too few steps for a CI")
    se = math.sqrt(a.var(ddof=1) / a.size + b.var(ddof=1) / b.size)
    diff = float(a.mean() - b.mean())
    return Comparison(diff, diff - 1.96 * se, diff + 1.96 * se, None, f"last {a.size} steps, normal CI")


@dataclass(frozen=True)
class Claim:
    name: str
    verdict: str
    evidence: str


def judge_claims(
    pass1: dict[tuple[str, str], Comparison],
    passk_large: dict[tuple[str, str], Comparison],
    entropy: dict[tuple[str, str], Comparison],
    large_k: int,
) -> list[Claim]:
    """The demo's target and the paper's Table-1 claims (§4.1), each with the test behind its verdict.

    pass1[(a, b)]: held-out avg pass@1 of a minus b, except pass1[("pos", "before", "train")]-style keys
    are given as ("pos@train", "before@train"); passk_large[(a, b)]: held-out pass@k at the largest k;
    entropy[(a, b)]: policy entropy over the last training steps.
    """
    gain = pass1[("both", BEFORE)]
    target = (
        REPRODUCED
        if gain.diff >= TARGET_GAIN and gain.p is not None and gain.p < TARGET_P
        else (DIRECTION_ONLY if gain.diff > 0 else NOT_REPRODUCED)
    )
    fit = pass1[("pos@train", "before@train")]
    neg_both = pass1[("neg", "both")]
    ent_neg, ent_both = entropy[("neg", "pos")], entropy[("both", "pos")]
    keep_k = passk_large[("neg", "pos")]
    sharpen, narrow = pass1[("pos", BEFORE)], passk_large[(BEFORE, "pos")]
    return [
        Claim(
            f"GRPO (both) raises held-out avg pass@1 by >= {TARGET_GAIN * 100:.0f} pts, p < {TARGET_P}",
            target,
            f"both - before: {gain.describe()}",
        ),
        Claim(
            "positive-only samples fit the training data (training-split pass@1 rises)",
            directional_verdict(fit),
            f"pos - before on the training split: {fit.describe()}",
        ),
        Claim(
            "negative-only reaches about the performance of both",
            equivalence_verdict(neg_both),
            f"neg - both: {neg_both.describe()}; equivalent if the CI is within "
            f"+-{EQUIVALENCE_MARGIN * 100:.0f} pts",
        ),
        Claim(
            "negative samples keep the policy's entropy (neg and both above pos)",
            combine([directional_verdict(ent_neg), directional_verdict(ent_both)]),
            f"neg - pos: {ent_neg.describe(1.0, '', 3)}; both - pos: {ent_both.describe(1.0, '', 3)}",
        ),
        Claim(
            f"negative samples keep pass@{large_k} (neg above pos)",
            directional_verdict(keep_k),
            f"pass@{large_k} neg - pos: {keep_k.describe()}",
        ),
        Claim(
            f"positive-only sharpens pass@1 and narrows pass@{large_k} (vs before)",
            combine([directional_verdict(sharpen), directional_verdict(narrow)]),
            f"pass@1 pos - before: {sharpen.describe()}; pass@{large_k} before - pos: {narrow.describe()}",
        ),
    ]


def format_table(rows: Sequence[dict], large_k: int) -> str:
    """One row per model: held-out avg pass@1 with CI, held-out pass@k, training-split pass@1, and
    the paired test against the warm start (on the held-out split).

    Each row: name, heldout_pass1, heldout_ci (low, high), pass_at_k {k: value} (held-out),
    train_pass1, vs_before (Comparison or None).
    """
    ks = sorted({1, 2, large_k // 2, large_k} - {0})
    header = (
        "| model | held-out avg pass@1 | 95% CI | "
        + " | ".join(f"pass@{k}" for k in ks)
        + " | train-split pass@1 | vs before (held-out, paired) |"
    )
    lines = [header, "|" + "---|" * (5 + len(ks))]
    for row in rows:
        low, high = row["heldout_ci"]
        vs = row["vs_before"]
        cells = [
            row["name"],
            f"{row['heldout_pass1']:.3f}",
            f"[{low:.3f}, {high:.3f}]",
            *(f"{row['pass_at_k'][k]:.3f}" for k in ks),
            f"{row['train_pass1']:.3f}",
            "-" if vs is None else f"{vs.diff * 100:+.1f} pts, p={format_p(vs.p)}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def format_claims(claims: Sequence[Claim]) -> list[str]:
    return [f"- **{claim.verdict}**: {claim.name}. {claim.evidence}" for claim in claims]


def report_markdown(table: str, claims: Sequence[Claim], figure_name: str, header: str) -> str:
    return "\n".join(
        [
            "# Demo: the paper's positive/negative sample ablation in miniature",
            "",
            header,
            "",
            "## Results",
            "",
            table,
            "",
            "## Table-1 claims (paper §4.1), as measured here",
            "",
            *format_claims(claims),
            "",
            "## Figure",
            "",
            f"![per-step curves, pass@k and accuracy per mode]({figure_name})",
            "",
        ]
    )
