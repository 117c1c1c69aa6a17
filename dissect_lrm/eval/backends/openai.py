"""OpenAI-compatible chat backend (vllm serve, SGLang, ...): bounded concurrency, retries, error records."""

from __future__ import annotations

import queue
import random
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any

import httpx

from dissect_lrm.eval.backends.base import GenerationRequest, GenerationResult

# Worth another try: rate limits, overload, gateway hiccups. Any other 4xx is the request's fault.
RETRY_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})


class RequestFailed(Exception):
    def __init__(self, message: str, retryable: bool, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after  # seconds the server asked us to wait (Retry-After), if it did


def retry_after_seconds(value: str | None) -> float | None:
    """The Retry-After header as seconds (the delta-seconds form; an HTTP date is ignored)."""
    try:
        seconds = float(value) if value is not None else None
    except ValueError:
        return None
    return seconds if seconds is not None and seconds >= 0 else None


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
    max_retries times with exponential backoff (backoff_s * 2^attempt, capped, with jitter; or the
    server's Retry-After) on transport errors, timeouts and RETRY_STATUS; what still fails becomes an
    error result. Hand-written rather than a retry library: the wait must end at once on Ctrl-C.
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
                f"HTTP {reply.status_code}: {text}",
                retryable=reply.status_code in RETRY_STATUS,
                retry_after=retry_after_seconds(reply.headers.get("retry-after")),
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

    def _delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Exponential backoff with jitter (0.5-1x), or the server's Retry-After; both capped."""
        if retry_after is not None:
            return min(self.max_backoff_s, retry_after)
        with self._jitter_lock:
            jitter = self._jitter.uniform(0.5, 1.0)
        return min(self.max_backoff_s, self.backoff_s * 2**attempt) * jitter

    def request(
        self, request: GenerationRequest, index: int, cancel: threading.Event | None = None
    ) -> GenerationResult | None:
        """One request with retries; never raises. None when `cancel` was set while waiting to retry."""
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
                delay = self._delay(attempt, failure.retry_after)
            if cancel is not None and cancel.wait(delay):
                return None
            if cancel is None:
                time.sleep(delay)
            attempt += 1

    def _work(
        self,
        requests: Sequence[GenerationRequest],
        todo: queue.Queue,
        done: queue.Queue,
        cancel: threading.Event,
    ) -> None:
        while not cancel.is_set():
            try:
                index = todo.get_nowait()
            except queue.Empty:
                return
            result = self.request(requests[index], index, cancel)
            if result is None or (cancel.is_set() and result.error is not None):
                return  # interrupted: not an error of the request, it stays missing and is sent next time
            done.put((index, result))

    def generate(self, requests: Sequence[GenerationRequest]) -> Iterator[tuple[int, GenerationResult]]:
        """Results in completion order from `concurrency` daemon threads.

        On Ctrl-C (or when the consumer stops) the workers are told to stop, results that completed but
        were not yet handed out are still yielded, and the in-flight requests are abandoned: their
        threads are daemons and the HTTP client is closed, so neither a hung server nor the request
        timeout can hold the process (a thread pool would wait for every in-flight request).
        """
        todo: queue.Queue = queue.Queue()
        done: queue.Queue = queue.Queue()
        for index in range(len(requests)):
            todo.put(index)
        cancel = threading.Event()
        workers = [
            threading.Thread(
                target=self._work,
                args=(requests, todo, done, cancel),
                daemon=True,
                name=f"openai-eval-{number}",
            )  # fmt: skip
            for number in range(min(self.concurrency, len(requests)))
        ]
        for worker in workers:
            worker.start()
        received = 0
        try:
            while received < len(requests):
                try:
                    item = done.get(timeout=0.2)  # a timed wait, so Ctrl-C is seen at once
                except queue.Empty:
                    if not any(worker.is_alive() for worker in workers) and done.empty():
                        raise RuntimeError(
                            "openai backend: every worker stopped before all results came"
                        ) from None
                    continue
                received += 1
                yield item
        except KeyboardInterrupt:
            cancel.set()
            while True:  # keep what completed: hand it out before the interrupt goes on
                try:
                    item = done.get_nowait()
                except queue.Empty:
                    break
                yield item
            raise
        finally:
            cancel.set()

    def close(self) -> None:
        self.client.close()  # also drops the connections of abandoned in-flight requests
