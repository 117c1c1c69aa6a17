"""The paper's math as pure functions over tensors and arrays (torch + numpy; never imports verl)."""

from dissect_lrm.algos.advantage import group_mean_std, grpo_advantage, grpo_outcome_advantage
from dissect_lrm.algos.config import (
    AlgosConfig,
    ClassWeights,
    InjectionConfig,
    LuffyConfig,
    RepetitionConfig,
    RLRConfig,
    SampleFilterConfig,
    TruncationMaskConfig,
)
from dissect_lrm.algos.grouping import (
    dense_group_index,
    group_accuracy,
    group_count,
    group_mean,
    group_outcome_fractions,
    group_sum,
)
from dissect_lrm.algos.injection import InjectionPlan, layout_offline_responses, select_injection
from dissect_lrm.algos.length_reward import (
    LengthRewardResult,
    cosine_length_reward,
    overlong_penalty,
    relative_length_bonus,
    shape_length_reward,
)
from dissect_lrm.algos.luffy import luffy_loss_matrix
from dissect_lrm.algos.repetition import ngram_repetition_fraction, repetition_penalty
from dissect_lrm.algos.sample_filter import (
    FilterResult,
    class_weights,
    classify_samples,
    filter_samples,
    keep_mask,
)
from dissect_lrm.algos.schedule import Stage, parse_schedule
from dissect_lrm.algos.truncation import is_truncated, truncated_sample_mask

__all__ = [
    "AlgosConfig",
    "ClassWeights",
    "FilterResult",
    "InjectionConfig",
    "InjectionPlan",
    "LengthRewardResult",
    "LuffyConfig",
    "RLRConfig",
    "RepetitionConfig",
    "SampleFilterConfig",
    "Stage",
    "TruncationMaskConfig",
    "class_weights",
    "classify_samples",
    "cosine_length_reward",
    "dense_group_index",
    "filter_samples",
    "group_accuracy",
    "group_count",
    "group_mean",
    "group_mean_std",
    "group_outcome_fractions",
    "group_sum",
    "grpo_advantage",
    "grpo_outcome_advantage",
    "is_truncated",
    "keep_mask",
    "layout_offline_responses",
    "luffy_loss_matrix",
    "ngram_repetition_fraction",
    "overlong_penalty",
    "parse_schedule",
    "relative_length_bonus",
    "repetition_penalty",
    "select_injection",
    "shape_length_reward",
    "truncated_sample_mask",
]
