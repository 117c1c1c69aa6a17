"""Composable metrics over one model x benchmark (EvalData) and the summary that runs them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np

from dissect_lrm.eval.planner import plan_runs, problem_variances, recommend_runs
from dissect_lrm.eval.stats.bootstrap import avg_pass_at_1
from dissect_lrm.eval.stats.comparison import paired_comparison
from dissect_lrm.eval.stats.core import (
    PAPER_BIN_EDGES,
    UNCERTAIN_BAND,
    BootstrapLevel,
    _counts,
    _default_powers,
    check_correct,
    to_jsonable,
)
from dissect_lrm.eval.stats.passk import g_pass_at_k, mg_pass_at_k, pass_at_k_curve
from dissect_lrm.eval.stats.stability import accuracy_histogram, greedy_flips, max_gap, token_stats
from dissect_lrm.eval.stats.voting import maj_at_k


@dataclass(frozen=True)
class EvalData:
    """What the metrics read: one model on one benchmark under one protocol.

    correct: (P, R) bool/0-1, NaN only with `mask`; mask: (P, R) bool, True = observed run;
    answers: (P, R) extracted answers (str/None or int labels) for maj@k; tokens: (P, R) output lengths;
    greedy: (P,) or (P, G) greedy-decoding correctness on the same problems.
    """

    correct: Any
    mask: Any = None
    answers: Any = None
    tokens: Any = None
    greedy: Any = None

    def __post_init__(self) -> None:
        values, observed = check_correct(self.correct, self.mask)
        object.__setattr__(self, "correct", values)
        object.__setattr__(self, "mask", observed)
        for name in ("answers", "tokens"):
            array = getattr(self, name)
            if array is not None and np.shape(array) != values.shape:
                raise ValueError(f"{name} shape {np.shape(array)} differs from correct shape {values.shape}")
        if self.greedy is not None and np.shape(self.greedy)[0] != values.shape[0]:
            raise ValueError("greedy must have one row per problem")

    @property
    def num_problems(self) -> int:
        return int(self.correct.shape[0])

    @property
    def num_runs(self) -> int:
        return int(self.correct.shape[1])

    @property
    def counts(self) -> tuple[np.ndarray, np.ndarray]:
        """(num_correct, num_samples) per problem."""
        return _counts(self.correct, self.mask)

    @property
    def accuracy(self) -> np.ndarray:
        num_correct, num_samples = self.counts
        return num_correct / num_samples


@runtime_checkable
class Metric(Protocol):
    """A named statistic: compute(data) returns a flat-ish dict of numbers (JSON-ready after summarize)."""

    name: str

    def compute(self, data: EvalData) -> dict[str, Any]: ...


@dataclass(frozen=True)
class AvgPass1:
    """avg pass@1, std over runs, standard errors and a bootstrap CI."""

    level: BootstrapLevel = "both"
    num_resamples: int = 1000
    confidence: float = 0.95
    seed: int = 0
    name: ClassVar[str] = "avg_pass@1"

    def compute(self, data: EvalData) -> dict[str, Any]:
        return avg_pass_at_1(
            data.correct, data.mask, self.level, self.num_resamples, self.confidence, self.seed
        )


@dataclass(frozen=True)
class PassAtK:
    """Unbiased pass@k for the given ks (default: every k up to the runs of the least-run problem)."""

    ks: tuple[int, ...] | None = None
    name: ClassVar[str] = "pass@k"

    def compute(self, data: EvalData) -> dict[str, Any]:
        return {str(k): v for k, v in pass_at_k_curve(data.correct, data.mask, self.ks).items()}


@dataclass(frozen=True)
class MajAtK:
    """Exact majority-vote accuracy maj@k from answer labels (needs data.answers); uses each problem's runs."""

    ks: tuple[int, ...] | None = None
    name: ClassVar[str] = "maj@k"

    def compute(self, data: EvalData) -> dict[str, Any]:
        if data.answers is None:
            raise ValueError("maj@k needs extracted answers (EvalData.answers)")
        values = maj_at_k(data.answers, data.correct, self.ks, data.mask)
        return {str(k): v for k, v in values.items()}


@dataclass(frozen=True)
class GPassAtK:
    """G-Pass@k_tau for each (k, tau) and mG-Pass@k (defaults as lighteval/OpenCompass: taus .25-1)."""

    ks: tuple[int, ...] | None = None
    taus: tuple[float, ...] = (0.25, 0.5, 0.75, 1.0)
    name: ClassVar[str] = "g-pass@k"

    def compute(self, data: EvalData) -> dict[str, Any]:
        num_correct, num_samples = data.counts
        max_k = int(num_samples.min())
        ks = ([k for k in (4, 8, 16) if k <= max_k] or [max_k]) if self.ks is None else list(self.ks)
        result: dict[str, Any] = {}
        for k in ks:
            for tau in self.taus:
                result[f"k={k},tau={tau:g}"] = float(g_pass_at_k(num_correct, num_samples, k, tau).mean())
            result[f"mG-Pass@{k}"] = float(mg_pass_at_k(num_correct, num_samples, k).mean())
        return result


@dataclass(frozen=True)
class AccuracyHistogram:
    """Per-problem accuracy histogram in the paper's bins and the uncertain ratio."""

    edges: tuple[float, ...] = PAPER_BIN_EDGES
    band: tuple[float, float] = UNCERTAIN_BAND
    include_per_problem: bool = False
    name: ClassVar[str] = "accuracy_histogram"

    def compute(self, data: EvalData) -> dict[str, Any]:
        result = accuracy_histogram(data.accuracy, self.edges, self.band)
        if self.include_per_problem:
            result["per_problem_accuracy"] = data.accuracy.tolist()
        return result


@dataclass(frozen=True)
class MaxGap:
    """Table 7: mean max gap between `trials` trials for each run count that the stored runs allow.

    A missing run (failed request) is filled with its problem's accuracy over the observed runs, so one
    failure does not remove the statistic (see max_gap's mask).
    """

    trials: int = 4
    runs_per_trial: tuple[int, ...] | None = None
    num_draws: int = 1000
    seed: int = 0
    name: ClassVar[str] = "max_gap"

    def compute(self, data: EvalData) -> dict[str, Any]:
        runs_list = self.runs_per_trial
        if runs_list is None:
            runs_list = tuple(r for r in _default_powers(data.num_runs) if r * self.trials <= data.num_runs)
        return {
            str(runs): max_gap(
                data.correct, self.trials, runs, self.num_draws, seed=self.seed, mask=data.mask
            )
            for runs in runs_list
        }


@dataclass(frozen=True)
class GreedyFlips:
    """Greedy-vs-sampled correctness flips (needs data.greedy)."""

    threshold: float = 0.5
    band: tuple[float, float] = UNCERTAIN_BAND
    name: ClassVar[str] = "greedy_flips"

    def compute(self, data: EvalData) -> dict[str, Any]:
        if data.greedy is None:
            raise ValueError("greedy flips need greedy correctness (EvalData.greedy)")
        return greedy_flips(data.accuracy, data.greedy, self.threshold, self.band)


@dataclass(frozen=True)
class TokenStats:
    """Output length statistics, optionally against a baseline model's token counts."""

    baseline_tokens: Any = None
    max_tokens: int | None = None
    name: ClassVar[str] = "tokens"

    def compute(self, data: EvalData) -> dict[str, Any]:
        if data.tokens is None:
            raise ValueError("token statistics need token counts (EvalData.tokens)")
        return token_stats(data.tokens, data.mask, data.correct, self.baseline_tokens, None, self.max_tokens)


@dataclass(frozen=True)
class RunPlanner:
    """Predicted CI half-width / expected max gap per run count, and runs recommended for targets."""

    runs_list: tuple[int, ...] = (1, 4, 8, 16, 32, 64, 128)
    trials: int = 4
    target_half_width: float | None = 0.01
    target_max_gap: float | None = 0.01
    confidence: float = 0.95
    band: tuple[float, float] = UNCERTAIN_BAND
    name: ClassVar[str] = "planner"

    def compute(self, data: EvalData) -> dict[str, Any]:
        accuracy = data.accuracy
        observed_runs = data.counts[1]
        variance = problem_variances(accuracy, observed_runs)
        uncertain = (accuracy >= self.band[0]) & (accuracy < self.band[1])
        return {
            "plan": plan_runs(accuracy, self.runs_list, self.trials, self.confidence, observed_runs),
            "recommend": recommend_runs(
                accuracy,
                self.target_half_width,
                self.target_max_gap,
                self.trials,
                self.confidence,
                observed_runs,
            ),
            "targets": {"half_width": self.target_half_width, "max_gap": self.target_max_gap},
            # Why a benchmark is unstable: the share of score variance that the uncertain problems carry.
            "variance_share_uncertain": float(variance[uncertain].sum() / variance.sum())
            if variance.sum()
            else 0.0,
        }


@dataclass(frozen=True)
class PairedComparison:
    """This model minus a baseline model on the same problems (bootstrap CI + permutation p-value)."""

    baseline: EvalData | None = None
    level: BootstrapLevel = "runs"
    num_resamples: int = 1000
    num_permutations: int = 10000
    seed: int = 0
    name: ClassVar[str] = "paired_comparison"

    def compute(self, data: EvalData) -> dict[str, Any]:
        if self.baseline is None:
            raise ValueError("PairedComparison needs baseline=EvalData(...)")
        return paired_comparison(
            data.correct,
            self.baseline.correct,
            data.mask,
            self.baseline.mask,
            self.level,
            self.num_resamples,
            self.num_permutations,
            seed=self.seed,
        )


def default_metrics(
    data: EvalData,
    seed: int = 0,
    num_resamples: int = 1000,
    ks: Sequence[int] | None = None,
    taus: Sequence[float] | None = None,
) -> list[Metric]:
    """Every metric the data supports: the optional ones appear when answers/tokens/greedy are present.

    ks: the k of pass@k, maj@k and G-Pass@k (default: every k / powers of 2 / 4, 8, 16); those above a
    problem's run count are left out. taus: the G-Pass@k thresholds (default 0.25, 0.5, 0.75, 1).
    """
    allowed = None
    if ks is not None:
        allowed = tuple(sorted({int(k) for k in ks if 1 <= int(k) <= int(data.counts[1].min())})) or None
    gpass = GPassAtK(ks=allowed) if taus is None else GPassAtK(ks=allowed, taus=tuple(float(t) for t in taus))
    metrics: list[Metric] = [
        AvgPass1(num_resamples=num_resamples, seed=seed),
        PassAtK(ks=allowed),
        gpass,
        AccuracyHistogram(),
        RunPlanner(),
    ]
    metrics.append(MaxGap(seed=seed))
    if data.answers is not None:
        metrics.append(MajAtK(ks=allowed))
    if data.tokens is not None:
        metrics.append(TokenStats())
    if data.greedy is not None:
        metrics.append(GreedyFlips())
    return metrics


def summarize(data: EvalData, metrics: Sequence[Metric] | None = None) -> dict[str, Any]:
    """Run a list of metrics on one model x benchmark; returns a JSON-serialisable dict keyed by name."""
    chosen = default_metrics(data) if metrics is None else list(metrics)
    names = [metric.name for metric in chosen]
    if len(set(names)) != len(names):
        raise ValueError(f"metric names must be unique in one summary, got {names}")
    report: dict[str, Any] = {
        "num_problems": data.num_problems,
        "num_runs": data.num_runs,
        "complete": data.mask is None,
    }
    for metric in chosen:
        report[metric.name] = metric.compute(data)
    return to_jsonable(report)
