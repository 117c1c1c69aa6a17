"""OpenAI-compatible chat backend (vllm serve, SGLang, ...): bounded concurrency, retries, error records."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any

import httpx

from dissect_lrm.eval.backends.base import GenerationRequest, GenerationResult

# Worth another try: rate limits, overload, gateway hiccups. Any other 4xx is the request's fault.
RETRY_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})


class RequestFailed(Exception):
    def __init__(self, message: str, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


def response_text(message: dict[str, Any]) -> str:
    """The answer text; a server-side reasoning parser's split is undone so graders see `... </think> ...`."""
    content = message.get("content") or ""
    reasoning = message.get("reasoning_content") or message.get("reasoning")
    if reasoning:
        return f"{reasoning}\n</think>\n\n{content}"
    return content


class OpenAIBackend:
    """POST /v1/chat/completions on one or more servers (round-robin over `base_urls`).

    concurrency bounds the requests in flight (all servers together); a request is retried up to
    max_retries times with exponential backoff (backoff_s * 2^attempt, capped, with jitter) on
    transport errors, timeouts and RETRY_STATUS; what still fails becomes an error result.
    The per-request `seed` is sent, so servers that honour it (vLLM) reproduce a (problem, run).
    """

    name = "openai"

    def __init__(
        self,
        model: str,
        base_urls: Sequence[str] | str = ("http://127.0.0.1:8000/v1",),
        served_model_name: str | None = None,
        api_key: str | None = None,
        concurrency: int = 64,
        max_retries: int = 5,
        backoff_s: float = 1.0,
        max_backoff_s: float = 60.0,
        timeout_s: float = 3600.0,
        extra_body: dict[str, Any] | None = None,
        **_: Any,
    ) -> None:
        urls = [base_urls] if isinstance(base_urls, str) else list(base_urls)
        if not urls:
            raise ValueError("openai backend needs at least one base URL")
        self.base_urls = [url.rstrip("/") for url in urls]
        self.model = served_model_name or model
        self.concurrency = max(1, int(concurrency))
        self.max_retries = max(0, int(max_retries))
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.extra_body = dict(extra_body or {})
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        limits = httpx.Limits(max_connections=self.concurrency, max_keepalive_connections=self.concurrency)
        self.client = httpx.Client(
            timeout=httpx.Timeout(timeout_s, connect=30.0), headers=headers, limits=limits
        )
        self._jitter = random.Random(0)
        self._jitter_lock = threading.Lock()

    def _payload(self, request: GenerationRequest) -> dict[str, Any]:
        payload = {
            "model": self.model,
            "messages": list(request.messages),
            "temperature": request.temperature,
            "top_p": request.top_p,
            "seed": request.seed,
            "n": 1,
        }
        # A cap as large as the context cannot fit next to any prompt (vLLM answers 400), so it is left
        # out and the server applies max_model_len - prompt tokens, as the original scripts did.
        if request.max_tokens < request.max_model_len:
            payload["max_tokens"] = request.max_tokens
        # vLLM/SGLang accept top_k and min_p as extra sampling parameters; unset ones are not sent.
        for key in ("top_k", "min_p"):
            if getattr(request, key) is not None:
                payload[key] = getattr(request, key)
        if request.stop:
            payload["stop"] = list(request.stop)
        return {**payload, **self.extra_body}

    def _post_once(self, url: str, payload: dict[str, Any]) -> GenerationResult:
        started = time.perf_counter()
        try:
            reply = self.client.post(f"{url}/chat/completions", json=payload)
        except httpx.HTTPError as error:  # connection refused, reset, timeout
            raise RequestFailed(f"{type(error).__name__}: {error}", retryable=True) from None
        if reply.status_code != 200:
            text = reply.text[:500]
            raise RequestFailed(
                f"HTTP {reply.status_code}: {text}", retryable=reply.status_code in RETRY_STATUS
            )
        try:
            body = reply.json()
            choice = body["choices"][0]
            usage = body.get("usage") or {}
            return GenerationResult(
                response=response_text(choice["message"]),
                num_tokens=usage.get("completion_tokens"),
                prompt_tokens=usage.get("prompt_tokens"),
                finish_reason=choice.get("finish_reason"),
                latency_s=time.perf_counter() - started,
            )
        except (ValueError, KeyError, IndexError, TypeError) as error:
            raise RequestFailed(
                f"malformed response ({error!r}): {reply.text[:300]}", retryable=True
            ) from None

    def _delay(self, attempt: int) -> float:
        with self._jitter_lock:
            jitter = self._jitter.uniform(0.5, 1.0)
        return min(self.max_backoff_s, self.backoff_s * 2**attempt) * jitter

    def request(self, request: GenerationRequest, index: int) -> GenerationResult:
        """One request with retries; never raises."""
        payload = self._payload(request)
        started = time.perf_counter()
        attempt = 0
        while True:
            url = self.base_urls[(index + attempt) % len(self.base_urls)]  # a retry tries the next server
            try:
                return self._post_once(url, payload)
            except RequestFailed as failure:
                if not failure.retryable or attempt >= self.max_retries:
                    tries = attempt + 1
                    return GenerationResult.failure(
                        f"{failure} (after {tries} attempt{'s' if tries > 1 else ''})",
                        time.perf_counter() - started,
                    )
            time.sleep(self._delay(attempt))
            attempt += 1

    def generate(self, requests: Sequence[GenerationRequest]) -> Iterator[tuple[int, GenerationResult]]:
        executor = ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="openai-eval")
        pending: dict[Future, int] = {}
        next_index = 0
        try:
            # Submit lazily, at most 2x concurrency ahead, so a huge eval does not queue 200k futures.
            while next_index < len(requests) or pending:
                while next_index < len(requests) and len(pending) < 2 * self.concurrency:
                    future = executor.submit(self.request, requests[next_index], next_index)
                    pending[future] = next_index
                    next_index += 1
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    yield pending.pop(future), future.result()
        finally:
            executor.shutdown(wait=True, cancel_futures=True)

    def close(self) -> None:
        self.client.close()
