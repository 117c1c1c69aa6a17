"""verl's custom reward function entry (``compute_score``) and the batched API (``compute_scores``).

Environment: ``DISSECT_LRM_REWARD_CASCADE=1`` turns on the math-verify cascade wherever the caller leaves
``cascade_math_verify=None`` (the default; verl's reward loop does): when our grader says "not equal",
math-verify (extra ``math-verify``) is asked in the same deadline pool, ``acc``/``score`` follow its "yes",
and ``math_verify_rescued`` marks those samples so they can be audited. A math-verify timeout leaves the
sample incorrect and sets ``timed_out``. Multiple-choice answers never cascade.
``DISSECT_LRM_REWARD_POOL=0`` grades in-process without deadlines (debugging only);
``DISSECT_LRM_REWARD_TIMEOUT`` (seconds) and ``DISSECT_LRM_REWARD_WORKERS`` size the pool.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any, Literal

from dissect_lrm.reward import cascade, deepscaler, robust
from dissect_lrm.reward.extract import ThinkPolicy, extract_answer
from dissect_lrm.reward.multiple_choice import choice_equal, extract_choice
from dissect_lrm.reward.timeout import DEFAULT_DEADLINE_S, DeadlinePool, Outcome, shared_pool

Mode = Literal["robust", "deepscaler"]
_MODES = ("robust", "deepscaler")
_MC_SOURCES = ("gpqa", "mmlu", "gaokao", "multiple_choice", "multiple-choice", "mcq")
# In-process grading without a pool (no deadline): only for debugging or where processes are forbidden.
_USE_POOL = os.environ.get("DISSECT_LRM_REWARD_POOL", "1") != "0"


def is_multiple_choice(data_source: str, extra_info: dict | None = None) -> bool:
    """Route by data_source (or ``extra_info["task"] == "multiple_choice"``)."""
    if extra_info and extra_info.get("task") == "multiple_choice":
        return True
    source = (data_source or "").lower()
    return any(tag in source for tag in _MC_SOURCES)


def _ground_truth_list(ground_truth: Any) -> list[str]:
    if ground_truth is None:
        raise ValueError("ground_truth is None")
    if hasattr(ground_truth, "tolist"):  # numpy arrays from parquet columns
        ground_truth = ground_truth.tolist()
    items = ground_truth if isinstance(ground_truth, (list, tuple)) else [ground_truth]
    out = []
    for item in items:
        if isinstance(item, float) and item.is_integer():
            item = int(item)  # AMC's 142.0 is the integer 142
        out.append(str(item))
    if not out:
        raise ValueError("ground_truth is empty")
    return out


def _result(
    correct: bool, pred: str | None, format_ok: bool, timed_out: bool = False, rescued: bool = False
) -> dict[str, Any]:
    # Every result has the same keys: verl gathers each key into a per-sample column.
    value = 1.0 if correct or rescued else 0.0
    return {
        "score": value,
        "acc": value,
        "pred": pred or "",
        "format_ok": format_ok,
        "timed_out": timed_out,
        "math_verify_rescued": rescued,
    }


def _full_grade(kind: str, golds: Any, pred: str) -> bool:
    """Worker entry point: the complete (sympy) decision.

    kind "deepscaler-pending": ``golds`` is the sympy work :func:`deepscaler.deepscaler_triage` left.
    """
    if kind == "deepscaler-pending":
        return deepscaler.pending_equal(golds)
    if kind == "deepscaler":
        return deepscaler.deepscaler_equal(golds, pred)
    return robust.robust_equal(golds, pred, allow_sympy=True)


def _quick(mode: str, golds: list[str], pred: str) -> bool | tuple | None:
    # a decision; None (grade it all in a worker); or, in deepscaler mode, only the sympy work left
    if mode == "deepscaler":
        return deepscaler.deepscaler_triage(golds, pred)
    return robust.quick_verdict(golds, pred)


def _extract(mode: str, solution_str: str, think: ThinkPolicy, fallback: bool) -> tuple[str | None, bool]:
    if mode == "deepscaler":
        pred = deepscaler.deepscaler_extract(solution_str)
        return pred, pred is not None
    extraction = extract_answer(solution_str, think=think, fallback=fallback)
    return extraction.answer, extraction.format_ok


def _prepare(
    data_source: str,
    solution_str: str,
    ground_truth: Any,
    extra_info: dict | None,
    mode: str,
    think: ThinkPolicy,
    fallback: bool,
) -> tuple[dict[str, Any] | None, tuple | None]:
    """Either a final result, or the (mode, golds, pred) job that needs a worker."""
    if mode not in _MODES:
        raise ValueError(f"mode must be one of {_MODES}, got {mode!r}")
    if not isinstance(solution_str, str):
        raise TypeError(f"solution_str must be str, got {type(solution_str).__name__}")
    if is_multiple_choice(data_source, extra_info):
        question = (extra_info or {}).get("question") or (extra_info or {}).get("problem")
        golds = _ground_truth_list(ground_truth)
        choice = extract_choice(solution_str, question, think="required" if mode == "deepscaler" else think)
        return _result(any(choice_equal(g, choice) for g in golds), choice, choice is not None), None
    golds = _ground_truth_list(ground_truth)
    pred, format_ok = _extract(mode, solution_str, think, fallback)
    if pred is None:
        return _result(False, None, False), None
    verdict = _quick(mode, golds, pred)
    if isinstance(verdict, bool):
        return _result(verdict, pred, True), None
    if verdict is not None:  # the worker only runs sympy on what is left, not the normalisation again
        return None, ("deepscaler-pending", verdict, pred)
    return None, (mode, golds, pred)


def _finish(job: tuple, outcome: Outcome) -> dict[str, Any]:
    pred = job[2]
    return _result(bool(outcome.ok and outcome.value), pred, True, timed_out=outcome.timed_out)


def _cascade_enabled(cascade_math_verify: bool | None) -> bool:
    enabled = cascade.cascade_from_env() if cascade_math_verify is None else bool(cascade_math_verify)
    if enabled:
        cascade.require_math_verify()
    return enabled


def _cascade_job(
    result: dict[str, Any], ground_truth: Any, data_source: str, extra_info: dict | None
) -> tuple[list[str], str] | None:
    """The math-verify job for a definite "no" on an extracted math answer, else None."""
    if result["score"] or result["timed_out"] or not result["pred"]:
        return None
    if is_multiple_choice(data_source, extra_info):
        return None
    return (_ground_truth_list(ground_truth), result["pred"])


def _apply_cascade(result: dict[str, Any], outcome: Outcome) -> dict[str, Any]:
    rescued = bool(outcome.ok and outcome.value)
    return _result(False, result["pred"], result["format_ok"], timed_out=outcome.timed_out, rescued=rescued)


def _run_in_process(function: Any, jobs: Sequence[tuple]) -> list[Outcome]:
    # The no-pool debugging mode: no deadline, and an exception is an error outcome as in a worker.
    outcomes = []
    for job in jobs:
        try:
            outcomes.append(Outcome(value=function(*job), ok=True))
        except Exception as error:
            outcomes.append(Outcome(error=repr(error)))
    return outcomes


def compute_score(
    data_source: str,
    solution_str: str,
    ground_truth: Any,
    extra_info: dict | None = None,
    mode: Mode = "robust",
    think: ThinkPolicy = "required",
    fallback: bool = False,
    deadline_s: float = DEFAULT_DEADLINE_S,
    pool: DeadlinePool | None = None,
    cascade_math_verify: bool | None = None,
    **kwargs: Any,
) -> dict[str, Any]:
    """Score one response: ``{"score", "acc", "pred", "format_ok", "timed_out", "math_verify_rescued"}``.

    ``score`` and ``acc`` are 1.0 or 0.0. ``cascade_math_verify``: ask math-verify when our grader says
    no (None: the ``DISSECT_LRM_REWARD_CASCADE`` environment variable decides; off by default).
    verl: ``reward.custom_reward_function.path=pkg://dissect_lrm.reward.compute_score``,
    ``name=compute_score``; extra keyword arguments from verl are accepted and ignored.
    """
    use_cascade = _cascade_enabled(cascade_math_verify)
    in_process = not _USE_POOL and pool is None
    result, job = _prepare(data_source, solution_str, ground_truth, extra_info, mode, think, fallback)
    if result is None:
        assert job is not None
        if in_process:
            result = _finish(job, _run_in_process(_full_grade, [job])[0])
        else:
            result = _finish(job, (pool or shared_pool()).call(_full_grade, job, deadline_s))
    rescue = _cascade_job(result, ground_truth, data_source, extra_info) if use_cascade else None
    if rescue is None:
        return result
    if in_process:
        return _apply_cascade(result, _run_in_process(cascade.math_verify_equal, [rescue])[0])
    return _apply_cascade(result, (pool or shared_pool()).call(cascade.math_verify_equal, rescue, deadline_s))


def compute_scores(
    data_sources: Sequence[str],
    solution_strs: Sequence[str],
    ground_truths: Sequence[Any],
    extra_infos: Sequence[dict | None] | None = None,
    mode: Mode = "robust",
    think: ThinkPolicy = "required",
    fallback: bool = False,
    deadline_s: float = DEFAULT_DEADLINE_S,
    pool: DeadlinePool | None = None,
    cascade_math_verify: bool | None = None,
) -> list[dict[str, Any]]:
    """Score a batch: cheap checks in this process, the rest in parallel on the deadline pool.

    With the cascade on, every definite "no" then goes to math-verify, also in parallel on the pool.
    """
    use_cascade = _cascade_enabled(cascade_math_verify)
    in_process = not _USE_POOL and pool is None
    count = len(solution_strs)
    if len(data_sources) != count or len(ground_truths) != count:
        raise ValueError(
            f"batch lengths differ: {len(data_sources)} data_sources, {count} solutions, "
            f"{len(ground_truths)} ground truths"
        )
    infos: Sequence[dict | None] = extra_infos if extra_infos is not None else [None] * count
    if len(infos) != count:
        raise ValueError(f"extra_infos has {len(infos)} items for {count} solutions")
    results: list[dict[str, Any] | None] = [None] * count
    jobs: list[tuple] = []
    job_index: list[int] = []
    for i in range(count):
        result, job = _prepare(
            data_sources[i], solution_strs[i], ground_truths[i], infos[i], mode, think, fallback
        )
        if result is not None:
            results[i] = result
        else:
            jobs.append(job)  # type: ignore[arg-type]
            job_index.append(i)
    if jobs:
        if in_process:
            outcomes = _run_in_process(_full_grade, jobs)
        else:
            outcomes = (pool or shared_pool()).map(_full_grade, jobs, deadline_s)
        for i, job, outcome in zip(job_index, jobs, outcomes):
            results[i] = _finish(job, outcome)
    final = [r for r in results if r is not None]
    if use_cascade:
        rescues = [
            (i, _cascade_job(final[i], ground_truths[i], data_sources[i], infos[i])) for i in range(count)
        ]
        rescues = [(i, job) for i, job in rescues if job is not None]
        if rescues:
            rescue_jobs = [job for _, job in rescues]
            if in_process:
                outcomes = _run_in_process(cascade.math_verify_equal, rescue_jobs)
            else:
                outcomes = (pool or shared_pool()).map(cascade.math_verify_equal, rescue_jobs, deadline_s)
            for (i, _), outcome in zip(rescues, outcomes):
                final[i] = _apply_cascade(final[i], outcome)
    return final
