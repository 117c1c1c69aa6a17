"""Generation backends (hf, openai, vllm), each imported only when chosen so heavy libraries stay optional."""

from __future__ import annotations

import importlib
from typing import Any

from dissect_lrm.eval.backends.base import Backend, GenerationRequest, GenerationResult, failure_kind

BACKENDS: dict[str, str] = {
    "hf": "dissect_lrm.eval.backends.hf:HFBackend",
    "openai": "dissect_lrm.eval.backends.openai:OpenAIBackend",
    "vllm": "dissect_lrm.eval.backends.vllm:VLLMBackend",
}


def create_backend(name: str, model: str, **options: Any) -> Backend:
    """Instantiate a backend by name; its module (and torch/vllm/httpx) is imported here, not before."""
    if name not in BACKENDS:
        raise ValueError(f"unknown backend {name!r}; choose from {', '.join(BACKENDS)}")
    module_name, class_name = BACKENDS[name].split(":")
    backend_class = getattr(importlib.import_module(module_name), class_name)
    return backend_class(model, **options)


__all__ = ["BACKENDS", "Backend", "GenerationRequest", "GenerationResult", "create_backend", "failure_kind"]
