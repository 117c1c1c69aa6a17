"""Statistics of multi-run evaluations: pass@k, CIs, uncertain problems, max gaps, voting, paired tests.

Conventions: the core input is a correctness matrix of shape (num_problems, num_runs); scores are
fractions in [0, 1] (reports multiply by 100); every random procedure takes a `seed` and uses its own
`numpy.random.Generator`, so results are reproducible. Missing runs are only accepted through an explicit
`mask` (True = observed); NaN without a mask is refused, so a failed request never counts as wrong.

Modules by concern: core (input checks), passk (pass@k, G-Pass@k), bootstrap (avg pass@1 intervals),
voting (maj@k), stability (histogram, max gap, flips, lengths), comparison (paired), metrics (classes).
"""

from dissect_lrm.eval.stats.bootstrap import avg_pass_at_1, bootstrap_ci
from dissect_lrm.eval.stats.comparison import paired_comparison
from dissect_lrm.eval.stats.core import (
    PAPER_BIN_EDGES,
    UNCERTAIN_BAND,
    BootstrapLevel,
    check_correct,
    per_problem_accuracy,
    run_scores,
    to_jsonable,
)
from dissect_lrm.eval.stats.metrics import (
    AccuracyHistogram,
    AvgPass1,
    EvalData,
    GPassAtK,
    GreedyFlips,
    MajAtK,
    MaxGap,
    Metric,
    PairedComparison,
    PassAtK,
    RunPlanner,
    TokenStats,
    default_metrics,
    summarize,
)
from dissect_lrm.eval.stats.passk import g_pass_at_k, mg_pass_at_k, pass_at_k, pass_at_k_curve
from dissect_lrm.eval.stats.stability import (
    accuracy_histogram,
    correctness_flips,
    greedy_flips,
    max_gap,
    token_stats,
)
from dissect_lrm.eval.stats.voting import encode_answers, maj_at_k

__all__ = [
    "PAPER_BIN_EDGES", "UNCERTAIN_BAND", "AccuracyHistogram", "AvgPass1", "BootstrapLevel", "EvalData",
    "GPassAtK", "GreedyFlips", "MajAtK", "MaxGap", "Metric", "PairedComparison", "PassAtK", "RunPlanner",
    "TokenStats", "accuracy_histogram", "avg_pass_at_1", "bootstrap_ci", "check_correct",
    "correctness_flips", "default_metrics", "encode_answers", "g_pass_at_k", "greedy_flips", "maj_at_k",
    "max_gap", "mg_pass_at_k", "paired_comparison", "pass_at_k", "pass_at_k_curve", "per_problem_accuracy",
    "run_scores", "summarize", "to_jsonable", "token_stats",
]  # fmt: skip
