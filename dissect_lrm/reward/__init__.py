"""Answer extraction, grading and hard time bounds (never imports verl or torch)."""

from dissect_lrm.reward.compute_score import compute_score, compute_scores, is_multiple_choice
from dissect_lrm.reward.deepscaler import deepscaler_equal
from dissect_lrm.reward.extract import Extraction, extract_answer
from dissect_lrm.reward.multiple_choice import extract_choice
from dissect_lrm.reward.robust import robust_equal
from dissect_lrm.reward.timeout import DeadlinePool, shared_pool

__all__ = [
    "DeadlinePool",
    "Extraction",
    "compute_score",
    "compute_scores",
    "deepscaler_equal",
    "extract_answer",
    "extract_choice",
    "is_multiple_choice",
    "robust_equal",
    "shared_pool",
]
