"""The backend contract: requests in, results out as they complete; failures are results, not exceptions."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable


@dataclass(frozen=True)
class GenerationRequest:
    """One sample to generate: chat messages, sampling settings and the seed of this (problem, run)."""

    messages: tuple[dict[str, str], ...]
    seed: int
    temperature: float
    top_p: float
    max_tokens: int  # output cap; backends that count prompt tokens clamp it to max_model_len - prompt
    max_model_len: int
    top_k: int | None = None
    min_p: float | None = None
    stop: tuple[str, ...] = ()


@dataclass(frozen=True)
class GenerationResult:
    """What came back. error is set (and response None) when the request failed after its retries."""

    response: str | None
    num_tokens: int | None
    prompt_tokens: int | None
    finish_reason: str | None  # "stop", "length" or the server's value; None on error
    latency_s: float
    error: str | None = None
    # The engine seed actually used, when it is not the request's own (vLLM n-sample groups share one).
    actual_seed: int | None = None

    @classmethod
    def failure(cls, error: str, latency_s: float) -> GenerationResult:
        return cls(None, None, None, None, latency_s, error)


@runtime_checkable
class Backend(Protocol):
    """generate() yields (index into requests, result) in completion order, exactly once per request."""

    name: str

    def generate(self, requests: Sequence[GenerationRequest]) -> Iterator[tuple[int, GenerationResult]]: ...

    def close(self) -> None: ...


# Failures that a retry reproduces: the request itself is refused (a prompt longer than the context,
# a bad parameter). Rate limits and overload (408/409/425/429) are transient like 5xx and timeouts.
_DETERMINISTIC = re.compile(
    r"HTTP 4(?!08|09|25|29)\d\d|context length|maximum context|too long|longer than the context",
    re.IGNORECASE,
)


def failure_kind(error: str) -> str:
    """'deterministic' (the same request fails again: prompt too long, 4xx) or 'transient' (worth a retry)."""
    return "deterministic" if _DETERMINISTIC.search(error or "") else "transient"
