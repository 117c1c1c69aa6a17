"""Multi-run evaluation: backends, resumable store, statistics and reports (never imports trainer)."""

# Light re-exports only: backends (torch, vllm, httpx) and matplotlib load when used, not here.
from dissect_lrm.eval.benchmarks import (
    Benchmark,
    BenchmarkError,
    EvalProblem,
    load_benchmark,
    resolve_benchmark,
)
from dissect_lrm.eval.protocols import PAPER_RUNS, PRESETS, EvalConfig, Protocol, noise_prefix
from dissect_lrm.eval.store import Record, Store, StoreError

__all__ = [
    "PAPER_RUNS",
    "PRESETS",
    "Benchmark",
    "BenchmarkError",
    "EvalConfig",
    "EvalProblem",
    "Protocol",
    "Record",
    "Store",
    "StoreError",
    "load_benchmark",
    "noise_prefix",
    "resolve_benchmark",
]
