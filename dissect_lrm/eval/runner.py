"""Plan what a store lacks, generate it through a backend, grade with the training reward, append records."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dissect_lrm.eval.backends import (
    Backend,
    GenerationRequest,
    GenerationResult,
    create_backend,
    failure_kind,
)
from dissect_lrm.eval.benchmarks import Benchmark
from dissect_lrm.eval.grading import grade
from dissect_lrm.eval.protocols import EvalConfig, Protocol, derive_seed
from dissect_lrm.eval.provenance import model_identity
from dissect_lrm.eval.store import Record, Store, StoreError, make_header

CHARS_PER_TOKEN = 3.5  # rough prompt-size estimate when no tokenizer is at hand (dry runs of remote models)


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
    identity = model_identity(config.model, config.backend, config.backend_options)
    return make_header(
        config.model_slug, benchmark.name, benchmark.fingerprint, protocol, len(benchmark), identity
    )


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
        top_k=protocol.top_k,
        min_p=protocol.min_p,
        stop=protocol.stop,
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
        protocol.grader,
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
    """Fill one store: open (lock, repair, check), generate the missing pairs, grade and append in batches.

    A store this call created is removed again if it fails before any record was written (a backend
    that cannot start leaves no empty store behind).
    """
    path = Store.path_for(config.output_dir, config.model_slug, benchmark.name, protocol.name)
    created = not path.exists()
    made_dirs = [parent for parent in reversed(path.parents) if not parent.exists()]
    store = Store.open(path, _header_for(config, benchmark, protocol))
    try:
        return _fill(config, benchmark, protocol, get_backend, progress, store)
    except BaseException:
        if created and not store.all_records:
            store.close()
            path.unlink(missing_ok=True)
            for directory in reversed(made_dirs):
                if directory.is_dir() and not any(directory.iterdir()):
                    directory.rmdir()
        raise
    finally:
        store.close()


def _fill(
    config: EvalConfig,
    benchmark: Benchmark,
    protocol: Protocol,
    get_backend: Callable[[], Backend],
    progress: bool,
    store: Store,
) -> dict[str, Any]:
    plan = plan_store(config, benchmark, protocol, store)
    stats = {"store": str(store.path), "benchmark": benchmark.name, "protocol": protocol.name,
             "generated": 0, "errors": 0, "deterministic_errors": 0, "already_done": plan.done}  # fmt: skip
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

    def flush() -> None:
        records = _records(benchmark, protocol, pending)
        store.append(records)
        failed = [record for record in records if not record.ok]
        stats["errors"] += len(failed)
        stats["deterministic_errors"] += sum(failure_kind(r.error or "") == "deterministic" for r in failed)
        stats["generated"] += len(pending)
        pending.clear()

    try:
        for position, result in backend.generate(requests):
            index, run = plan.missing[position]
            pending.append((index, run, requests[position], result))
            if len(pending) >= config.batch_records:
                flush()
            if bar is not None:
                bar.update(1)
                if stats["errors"]:
                    bar.set_postfix(errors=stats["errors"], refresh=False)
    finally:
        if pending:  # also on Ctrl-C: what was generated is kept
            flush()
        if bar is not None:
            bar.close()
    return stats


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


def prompt_hash(messages: Sequence[dict[str, str]]) -> str:
    """sha256 of the chat messages sent (the chat template applied to them is hashed in the store header)."""
    return hashlib.sha256(
        json.dumps(list(messages), sort_keys=True, ensure_ascii=False).encode()
    ).hexdigest()[:16]


def write_samples(config: EvalConfig, directory: str | Path | None = None) -> list[Path]:
    """Per-sample details of every store of `config` for error analysis, one JSONL per store.

    Each line: problem id and run, seed, prompt hash and the chat messages, gold answers, response,
    extracted answer, verdict, finish reason, tokens, error. Written to <output-dir>/samples/ by default.
    """
    root = Path(directory) if directory is not None else Path(config.output_dir) / "samples"
    written = []
    for protocol in config.protocols:
        for benchmark in config.benchmarks:
            path = Store.path_for(config.output_dir, config.model_slug, benchmark.name, protocol.name)
            if not path.exists():
                continue
            store = Store.read(path)
            by_id = {problem.id: problem for problem in benchmark.problems}
            target = root / f"{config.model_slug}__{benchmark.name}__{protocol.name}.jsonl"
            target.parent.mkdir(parents=True, exist_ok=True)
            with target.open("w", encoding="utf-8") as handle:
                for record in sorted(store.records().values(), key=lambda r: (r.problem_index, r.run)):
                    problem = by_id.get(record.problem_id)
                    messages = protocol.messages(problem) if problem is not None else None
                    line = {
                        "model": config.model_slug, "benchmark": benchmark.name, "protocol": protocol.name,
                        "problem_id": record.problem_id, "run": record.run, "seed": record.seed,
                        "prompt_sha256": prompt_hash(messages) if messages else None,
                        "chat_template_sha256": store.header.get("chat_template_sha256"),
                        "messages": messages, "gold": list(problem.answers) if problem else None,
                        "response": record.response, "extracted": record.extracted, "correct": record.correct,
                        "finish_reason": record.finish_reason, "num_tokens": record.num_tokens, "error": record.error,
                    }  # fmt: skip
                    handle.write(json.dumps(line, ensure_ascii=False) + "\n")
            written.append(target)
    return written
