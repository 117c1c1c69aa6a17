"""Optional last-resort cascade to math-verify (extra ``math-verify``); its calls run in the deadline pool."""

from __future__ import annotations

import importlib.util
import logging
import os

# Rescues are reported apart (``math_verify_rescued``) because math-verify also accepts near-misses our
# graders reject on purpose: it compares numbers after rounding (1/3 vs 0.3333333, 1/2^99 vs 1/2^98).
CASCADE_ENV = "DISSECT_LRM_REWARD_CASCADE"
_TRUE = ("1", "true", "yes", "on")


def cascade_from_env() -> bool:
    """Whether ``DISSECT_LRM_REWARD_CASCADE`` turns the cascade on (1/true/yes/on)."""
    return os.environ.get(CASCADE_ENV, "").strip().lower() in _TRUE


def math_verify_available() -> bool:
    return importlib.util.find_spec("math_verify") is not None


def require_math_verify() -> None:
    """Fail fast in the caller, not silently in a worker, when the cascade is on without its package."""
    if not math_verify_available():
        raise ImportError(
            "the math-verify cascade is on but `math_verify` is not installed: "
            'pip install -e ".[math-verify]" or turn the cascade off'
        )


def _as_latex(answer: str) -> str:
    # math-verify extracts from text; our answers are bare box contents, so give them math delimiters.
    return answer if "$" in answer else f"${answer}$"


def math_verify_equal(golds: list[str], pred: str) -> bool:
    """math-verify's decision for an extracted answer against the accepted answers.

    Runs in a deadline-pool worker: math-verify's own signal-based timeouts are switched off (they fail
    outside the main thread and would race the pool's kill), the pool's deadline bounds the call.
    """
    from math_verify import parse, verify

    # math-verify warns once per process that its timeouts are off; that is deliberate here.
    logging.getLogger("math_verify").setLevel(logging.ERROR)
    target = parse(_as_latex(pred), parsing_timeout=None)  # type: ignore[arg-type]
    if not target:
        return False
    for gold in golds:
        parsed = parse(_as_latex(gold), parsing_timeout=None)  # type: ignore[arg-type]
        if parsed and verify(parsed, target, timeout_seconds=None):
            return True
    return False
