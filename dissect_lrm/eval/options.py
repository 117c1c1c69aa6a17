"""Backend and sampling options shared by `eval`, `profile` and `data teacher`: one flag per idea, one builder."""

from __future__ import annotations

import argparse
import os
from typing import Any

from dissect_lrm.cli_options import positive_int, renamed

BACKEND_NAMES: tuple[str, ...] = ("hf", "openai", "vllm")


def add_sampling_arguments(
    parser: argparse.ArgumentParser, defaults: bool = False
) -> argparse._ArgumentGroup:
    """Sampling and prompt options. defaults=False: unset options keep the protocol preset's values."""
    group = parser.add_argument_group("sampling (defaults: the paper's evaluation protocol)")
    group.add_argument("--temperature", type=float, default=0.6 if defaults else None, help="sampling temperature (0 = greedy; paper 0.6)")  # fmt: skip
    group.add_argument("--top-p", type=float, default=0.95 if defaults else None, help="nucleus top-p (paper 0.95)")  # fmt: skip
    group.add_argument("--top-k", type=positive_int, default=None, help="keep the k most likely tokens (default: off)")  # fmt: skip
    group.add_argument("--min-p", type=float, default=None, help="drop tokens below min-p x the top probability (default: off)")  # fmt: skip
    group.add_argument("--stop", action="append", default=None, metavar="TEXT", help="extra stop string (repeatable)")  # fmt: skip
    group.add_argument("--system-prompt", default=None, help="a system turn before the problem (the paper uses none)")  # fmt: skip
    group.add_argument("--max-tokens", type=positive_int, default=32768 if defaults else None, help="output cap in tokens (paper 32768)")  # fmt: skip
    group.add_argument("--max-model-len", type=positive_int, default=32768 if defaults else None, help="context length: the output cap is clamped to it minus the prompt; vllm: the engine's context")  # fmt: skip
    group.add_argument("--grader", choices=("robust", "deepscaler"), default="robust" if defaults else None, help="reward mode (deepscaler = the original grading; default robust)")  # fmt: skip
    renamed(group, "--seed", "--gen-seed", dest="seed", type=int, default=0 if defaults else None, help="base seed; each (problem, run) gets its own seed derived from it")  # fmt: skip
    return group


def add_backend_arguments(parser: argparse.ArgumentParser) -> argparse._ArgumentGroup:
    """Every backend option, under one spelling for every command that generates."""
    backend = parser.add_argument_group("backend and model")
    backend.add_argument("--backend", choices=BACKEND_NAMES, default="hf", help="hf: transformers on CPU; openai: an OpenAI-compatible server; vllm: offline engine on all GPUs")  # fmt: skip
    backend.add_argument("--dtype", default=None, help="weights dtype; hf: float32 (default), vllm: bfloat16 (default); openai: recorded only")  # fmt: skip
    backend.add_argument("--revision", default=None, help="hf/vllm: model revision (branch, tag or commit) of a hub id")  # fmt: skip
    backend.add_argument(
        "--trust-remote-code", action="store_true", help="hf/vllm: allow the model's own code"
    )
    backend.add_argument("--batch-size", type=positive_int, default=16, help="hf: sequences decoded together")
    backend.add_argument("--device", default="cpu", help="hf: torch device")
    backend.add_argument("--threads", type=positive_int, default=None, help="hf: torch CPU threads while decoding (1 is fastest for tiny models)")  # fmt: skip
    backend.add_argument("--base-url", action="append", default=None, help="openai: server URL ending in /v1 (repeat for replicas; round-robin)")  # fmt: skip
    backend.add_argument("--served-model-name", default=None, help="openai: model name sent to the server (default: --model)")  # fmt: skip
    backend.add_argument("--api-key-env", default="OPENAI_API_KEY", help="openai: environment variable holding the API key (optional)")  # fmt: skip
    backend.add_argument("--concurrency", type=positive_int, default=64, help="openai: requests in flight, all servers together")  # fmt: skip
    backend.add_argument("--max-retries", type=int, default=5, help="openai: retries per request (exponential backoff with jitter, Retry-After honoured)")  # fmt: skip
    backend.add_argument("--backoff", type=float, default=1.0, help="openai: first retry delay in seconds (doubles each retry)")  # fmt: skip
    renamed(backend, "--request-timeout-s", "--request-timeout", dest="request_timeout", metavar="S", type=float, default=3600.0, help="openai: seconds per request")  # fmt: skip
    backend.add_argument("--tp", "--tensor-parallel-size", dest="tp", type=positive_int, default=1, help="vllm: tensor-parallel GPUs per replica")  # fmt: skip
    backend.add_argument("--dp", "--data-parallel-size", dest="dp", type=positive_int, default=None, help="vllm: replicas (default: visible GPUs / tp)")  # fmt: skip
    backend.add_argument("--gpus", default=None, help="vllm: comma-separated GPU ids (default: all visible)")
    backend.add_argument("--n-per-prompt", action="store_true", help="vllm: one request with n samples per prompt (faster; seeds per group)")  # fmt: skip
    backend.add_argument(
        "--gpu-memory-utilization", type=float, default=0.9, help="vllm: GPU memory fraction"
    )
    backend.add_argument("--enforce-eager", action="store_true", help="vllm: disable CUDA graphs")
    backend.add_argument("--chunk-size", type=positive_int, default=512, help="vllm: requests per engine call (progress granularity)")  # fmt: skip
    return backend


def backend_options(args: argparse.Namespace) -> dict[str, Any]:
    """Constructor options of the chosen backend, from add_backend_arguments (+ --max-model-len)."""
    model = {"revision": args.revision, "trust_remote_code": args.trust_remote_code}
    max_model_len = getattr(args, "max_model_len", None)
    if args.backend == "hf":
        return {"batch_size": args.batch_size, "device": args.device, "dtype": args.dtype or "float32",
                "num_threads": args.threads, **model}  # fmt: skip
    if args.backend == "openai":
        return {
            "base_urls": args.base_url or ["http://127.0.0.1:8000/v1"],
            "served_model_name": args.served_model_name,
            "api_key": os.environ.get(args.api_key_env) if args.api_key_env else None,
            "concurrency": args.concurrency,
            "max_retries": args.max_retries,
            "backoff_s": args.backoff,
            "timeout_s": args.request_timeout,
            "dtype": args.dtype,  # what the server runs, as far as the user says (recorded in the store)
        }
    return {
        "tensor_parallel_size": args.tp,
        "data_parallel_size": args.dp,
        "gpus": args.gpus,
        "n_per_prompt": args.n_per_prompt,
        "gpu_memory_utilization": args.gpu_memory_utilization,
        "enforce_eager": args.enforce_eager,
        "dtype": args.dtype or "bfloat16",
        "chunk_size": args.chunk_size,
        "max_model_len": max_model_len or 32768,
        **model,
    }


def sampling_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """Protocol fields set by add_sampling_arguments (None = keep the preset's)."""
    return {
        "temperature": args.temperature,
        "top_p": args.top_p,
        "top_k": args.top_k,
        "min_p": args.min_p,
        "stop": tuple(args.stop) if args.stop else None,
        "system_prompt": args.system_prompt,
        "max_tokens": args.max_tokens,
        "max_model_len": args.max_model_len,
        "grader": args.grader,
        "seed": args.seed,
    }


def generation_protocol(args: argparse.Namespace) -> Any:
    """The eval Protocol of commands that generate with the paper's defaults (profile, data teacher)."""
    from dissect_lrm.eval.protocols import Protocol

    protocol = Protocol().with_overrides(**sampling_overrides(args))
    if protocol.temperature == 0:
        protocol = protocol.with_overrides(top_p=1.0)
    return protocol


def add_generation_arguments(parser: argparse.ArgumentParser) -> None:
    """Sampling and backend options of commands that generate (teacher, profile): the eval command's own."""
    add_sampling_arguments(parser, defaults=True)
    add_backend_arguments(parser)
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")
