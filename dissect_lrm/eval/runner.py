"""Plan what a store lacks, generate it through a backend, grade with the training reward, append records."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dissect_lrm.eval.backends import Backend, GenerationRequest, GenerationResult, create_backend
from dissect_lrm.eval.benchmarks import Benchmark, EvalProblem
from dissect_lrm.eval.protocols import EvalConfig, Protocol, derive_seed
from dissect_lrm.eval.store import Record, Store, StoreError, make_header
from dissect_lrm.reward.compute_score import compute_scores, is_multiple_choice

CHARS_PER_TOKEN = 3.5  # rough prompt-size estimate when no tokenizer is at hand (dry runs of remote models)


def data_source_for(benchmark: str, problem: EvalProblem) -> str:
    """The data_source the grader routes on: multiple choice by task, never by an accidental name match."""
    if problem.task == "multiple_choice":
        return f"multiple_choice/{benchmark}"
    return "math" if is_multiple_choice(benchmark) else benchmark


def grade(
    benchmark: str, protocol: Protocol, problems: Sequence[EvalProblem], responses: Sequence[str]
) -> list[dict[str, Any]]:
    """Grade with exactly the training reward (`compute_scores`), so eval and training agree on a sample."""
    return compute_scores(
        [data_source_for(benchmark, problem) for problem in problems],
        list(responses),
        [list(problem.answers) for problem in problems],
        [{"task": problem.task, "question": problem.problem} for problem in problems],
        mode=protocol.grader,
        think="required",
    )


@dataclass
class StorePlan:
    """The work of one (benchmark, protocol): which (problem index, run) pairs the store still lacks."""

    benchmark: Benchmark
    protocol: Protocol
    path: Path
    runs: int
    done: int
    missing: list[tuple[int, int]]
    mean_tokens_done: float | None = None
    problem: str | None = None  # why this store cannot be resumed (dry runs report instead of raising)
    prompt_tokens: list[int] = field(default_factory=list)

    @property
    def total(self) -> int:
        return len(self.benchmark) * self.runs


def _header_for(config: EvalConfig, benchmark: Benchmark, protocol: Protocol) -> dict[str, Any]:
    return make_header(config.model_slug, benchmark.name, benchmark.fingerprint, protocol, len(benchmark))


def plan_store(
    config: EvalConfig, benchmark: Benchmark, protocol: Protocol, existing: Store | None
) -> StorePlan:
    runs = protocol.runs_for(benchmark.name)
    path = Store.path_for(config.output_dir, config.model_slug, benchmark.name, protocol.name)
    done_keys = existing.done_keys(config.retry_errors) if existing is not None else set()
    missing = [
        (index, run)
        for index, problem in enumerate(benchmark.problems)
        for run in range(runs)
        if (problem.id, run) not in done_keys
    ]
    tokens = [
        r.num_tokens for r in (existing.records().values() if existing else []) if r.ok and r.num_tokens
    ]
    mean_tokens = sum(tokens) / len(tokens) if tokens else None
    return StorePlan(
        benchmark, protocol, path, runs, len(benchmark) * runs - len(missing), missing, mean_tokens
    )


def plan_eval(config: EvalConfig) -> list[StorePlan]:
    """Read-only plan of every (protocol, benchmark) store: what is done and what is missing."""
    plans = []
    for protocol in config.protocols:
        for benchmark in config.benchmarks:
            path = Store.path_for(config.output_dir, config.model_slug, benchmark.name, protocol.name)
            existing, problem = None, None
            if path.exists():
                existing = Store.read(path)
                try:
                    Store.check_header(path, existing.header, _header_for(config, benchmark, protocol))
                except StoreError as error:
                    problem = str(error)
            plan = plan_store(config, benchmark, protocol, existing)
            plan.problem = problem
            plans.append(plan)
    return plans


def _load_tokenizer(model: str) -> Any:
    try:
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(model)
    except Exception:  # a served model name, no local files: fall back to a character estimate
        return None


def _prompt_tokens(tokenizer: Any, messages: list[dict[str, str]]) -> int:
    if tokenizer is not None and getattr(tokenizer, "chat_template", None):
        text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        return len(tokenizer(text, add_special_tokens=False)["input_ids"])
    return int(sum(len(message["content"]) for message in messages) / CHARS_PER_TOKEN) + 8


def format_plan(config: EvalConfig, plans: Sequence[StorePlan], tokenizer: Any = None) -> str:
    """The --dry-run report: per store, runs done and missing, prompt and output token estimates, a prompt."""
    how = "tokenizer" if tokenizer is not None else f"~{CHARS_PER_TOKEN} chars/token"
    lines = [f"model {config.model} -> {config.output_dir}/{config.model_slug} (backend {config.backend})"]
    total_requests = total_prompt = total_cap = 0
    for protocol in config.protocols:
        sampling = protocol.sampling()
        lines.append(
            f"\nprotocol {protocol.name} [{protocol.hash}]: temperature {sampling['temperature']} top_p "
            f"{sampling['top_p']} max_tokens {protocol.max_tokens} max_model_len {protocol.max_model_len} "
            f"noise {protocol.noise or '-'}{f' x{protocol.noise_shots}' if protocol.noise else ''} "
            f"grader {protocol.grader} seed {protocol.seed}"
        )
        header = f"  {'benchmark':<16}{'problems':>9}{'runs':>6}{'done':>8}{'missing':>9}{'prompt tok':>12}{'max out tok':>13}{'est out tok':>13}"
        lines.append(header)
        for plan in (p for p in plans if p.protocol is protocol):
            per_problem = [
                _prompt_tokens(tokenizer, protocol.messages(problem)) for problem in plan.benchmark.problems
            ]
            prompt_total = sum(per_problem[index] for index, _ in plan.missing)
            caps = [max(0, min(protocol.max_tokens, protocol.max_model_len - per_problem[index])) for index, _ in plan.missing]  # fmt: skip
            estimate = (
                "-" if plan.mean_tokens_done is None else f"{plan.mean_tokens_done * len(plan.missing):,.0f}"
            )
            lines.append(
                f"  {plan.benchmark.name:<16}{len(plan.benchmark):>9}{plan.runs:>6}{plan.done:>8}{len(plan.missing):>9}"
                f"{prompt_total:>12,}{sum(caps):>13,}{estimate:>13}"
            )
            if plan.problem:
                lines.append(f"    ! cannot resume: {plan.problem}")
            total_requests += len(plan.missing)
            total_prompt += prompt_total
            total_cap += sum(caps)
        first = config.benchmarks[0].problems[0]
        text = protocol.user_message(first)
        shown = text if len(text) <= 600 else f"{text[:250]} [... {len(text) - 500} chars ...] {text[-250:]}"
        lines.append(f"  example prompt ({config.benchmarks[0].name}/{first.id}, user turn):\n    {shown!r}")
    lines.append(
        f"\ntotal: {total_requests:,} requests, {total_prompt:,} prompt tokens ({how}), "
        f"at most {total_cap:,} output tokens"
    )
    return "\n".join(lines)


def _make_request(
    config: EvalConfig, protocol: Protocol, benchmark: Benchmark, index: int, run: int
) -> GenerationRequest:
    problem = benchmark.problems[index]
    sampling = protocol.sampling()
    return GenerationRequest(
        messages=tuple(protocol.messages(problem)),
        seed=derive_seed(protocol.seed, benchmark.name, problem.id, run),
        temperature=sampling["temperature"],
        top_p=sampling["top_p"],
        max_tokens=protocol.max_tokens,
        max_model_len=protocol.max_model_len,
    )


def _records(
    benchmark: Benchmark,
    protocol: Protocol,
    pending: list[tuple[int, int, GenerationRequest, GenerationResult]],
) -> list[Record]:
    """Grade the successful results of a batch; failed requests become error records, never wrong answers."""
    graded = [item for item in pending if item[3].error is None]
    grades = grade(
        benchmark.name,
        protocol,
        [benchmark.problems[index] for index, _, _, _ in graded],
        [result.response or "" for _, _, _, result in graded],
    )
    by_key = {(index, run): verdict for (index, run, _, _), verdict in zip(graded, grades)}
    records = []
    now = time.time()
    for index, run, request, result in pending:
        verdict = by_key.get((index, run))
        records.append(
            Record(
                problem_id=benchmark.problems[index].id,
                problem_index=index,
                run=run,
                seed=result.actual_seed if result.actual_seed is not None else request.seed,
                response=result.response,
                extracted=(verdict["pred"] or None) if verdict else None,
                correct=bool(verdict["score"]) if verdict else None,
                format_ok=bool(verdict["format_ok"]) if verdict else None,
                num_tokens=result.num_tokens,
                prompt_tokens=result.prompt_tokens,
                finish_reason=result.finish_reason,
                latency_s=round(result.latency_s, 4),
                error=result.error,
                grade_timed_out=bool(verdict["timed_out"]) if verdict else False,
                created=now,
            )
        )
    return records


def run_store(
    config: EvalConfig,
    benchmark: Benchmark,
    protocol: Protocol,
    get_backend: Callable[[], Backend],
    progress: bool = True,
) -> dict[str, Any]:
    """Fill one store: open (lock, repair, check), generate the missing pairs, grade and append in batches."""
    path = Store.path_for(config.output_dir, config.model_slug, benchmark.name, protocol.name)
    with Store.open(path, _header_for(config, benchmark, protocol)) as store:
        plan = plan_store(config, benchmark, protocol, store)
        stats = {"store": str(path), "benchmark": benchmark.name, "protocol": protocol.name,
                 "generated": 0, "errors": 0, "already_done": plan.done}  # fmt: skip
        if not plan.missing:
            return stats
        backend = get_backend()
        requests = [_make_request(config, protocol, benchmark, index, run) for index, run in plan.missing]
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=plan.total, initial=plan.done, desc=f"{benchmark.name}/{protocol.name}",
                       unit="sample", dynamic_ncols=True)  # fmt: skip
        pending: list[tuple[int, int, GenerationRequest, GenerationResult]] = []
        try:
            for position, result in backend.generate(requests):
                index, run = plan.missing[position]
                pending.append((index, run, requests[position], result))
                if len(pending) >= config.batch_records:
                    stats["errors"] += _flush(store, benchmark, protocol, pending)
                    stats["generated"] += len(pending)
                    pending = []
                if bar is not None:
                    bar.update(1)
                    if stats["errors"]:
                        bar.set_postfix(errors=stats["errors"], refresh=False)
        finally:
            if pending:  # also on Ctrl-C: what was generated is kept
                stats["errors"] += _flush(store, benchmark, protocol, pending)
                stats["generated"] += len(pending)
            if bar is not None:
                bar.close()
    return stats


def _flush(store: Store, benchmark: Benchmark, protocol: Protocol, pending: list) -> int:
    records = _records(benchmark, protocol, pending)
    store.append(records)
    return sum(1 for record in records if not record.ok)


def run_eval(
    config: EvalConfig, backend: Backend | None = None, progress: bool = True
) -> list[dict[str, Any]]:
    """Run every (protocol, benchmark) of `config`; the backend is only built if some store lacks records."""
    holder: dict[str, Backend] = {}
    if backend is not None:
        holder["backend"] = backend

    def get_backend() -> Backend:
        if "backend" not in holder:
            holder["backend"] = create_backend(config.backend, config.model, **config.backend_options)
        return holder["backend"]

    results = []
    try:
        for protocol in config.protocols:
            for benchmark in config.benchmarks:
                results.append(run_store(config, benchmark, protocol, get_backend, progress))
    finally:
        if backend is None and "backend" in holder:
            holder["backend"].close()
    return results
