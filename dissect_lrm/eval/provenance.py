"""What produced a store or a report: model identity (path, revision, content hash, chat template), versions."""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import platform
import subprocess
from functools import lru_cache
from pathlib import Path
from typing import Any

# Backend options that decide what a record holds (part of a store's identity). The others (servers,
# concurrency, retries, batch size, GPUs, chunking) only change how fast the same records come.
IDENTITY_OPTIONS: tuple[str, ...] = (
    "dtype", "revision", "trust_remote_code", "max_model_len", "n_per_prompt", "served_model_name", "device",
)  # fmt: skip
# Packages whose version can change a generated or graded record, per backend.
BACKEND_PACKAGES: dict[str, tuple[str, ...]] = {
    "hf": ("torch", "transformers"),
    "vllm": ("vllm", "torch", "transformers"),
    "openai": (),  # the server's stack is not visible from here: its model and options are recorded instead
}
GRADER_PACKAGES: tuple[str, ...] = ("dissect-lrm", "sympy")
_SMALL_FILE = 1 << 20  # files up to 1 MiB (configs, tokenizers) are hashed whole
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".gguf")


class ModelNotFound(FileNotFoundError):
    """A local model that is neither a directory nor in the Hugging Face cache."""


def package_version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def package_versions(backend: str) -> dict[str, str | None]:
    names = GRADER_PACKAGES + BACKEND_PACKAGES.get(backend, ())
    return {name: package_version(name) for name in names}


@lru_cache(maxsize=16)
def model_fingerprint(model: str) -> str | None:
    """sha256 over a local model directory: small files whole, weights by size and first/last MiB.

    Reading every byte of a 60 GB checkpoint would take minutes; a changed weight file almost always
    changes its size or its head/tail, and configs and tokenizers are hashed whole. None for hub ids.
    """
    root = Path(model)
    if not root.is_dir():
        return None
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file() and ".cache" not in p.parts):
        size = path.stat().st_size
        digest.update(f"{path.relative_to(root)}\0{size}\0".encode())
        with path.open("rb") as handle:
            if size <= _SMALL_FILE or not path.name.endswith(_WEIGHT_SUFFIXES):
                digest.update(handle.read(_SMALL_FILE) if size > _SMALL_FILE else handle.read())
            else:
                digest.update(handle.read(_SMALL_FILE))
                handle.seek(size - _SMALL_FILE)
                digest.update(handle.read(_SMALL_FILE))
    return digest.hexdigest()[:16]


def chat_template_hash(model: str) -> str | None:
    """sha256 of the chat template a local model ships (tokenizer_config.json or chat_template.jinja)."""
    root = Path(model)
    texts = []
    config = root / "tokenizer_config.json"
    if config.is_file():
        try:
            template = json.loads(config.read_text(encoding="utf-8")).get("chat_template")
        except ValueError:
            template = None
        if template:
            texts.append(json.dumps(template, sort_keys=True))
    for name in ("chat_template.jinja", "chat_template.json"):
        if (root / name).is_file():
            texts.append((root / name).read_text(encoding="utf-8"))
    if not texts:
        return None
    return hashlib.sha256("\n".join(texts).encode()).hexdigest()[:16]


def check_model(model: str, backend: str, revision: str | None = None) -> None:
    """Refuse a local-backend model that cannot be loaded, before anything is written.

    hf and vllm load the weights here: the model must be a directory or a hub id already in the
    Hugging Face cache (nothing is downloaded at run time). openai only sends the name to a server.
    """
    if backend == "openai":
        return
    path = Path(model)
    if path.is_dir():
        return
    if path.exists():
        raise ModelNotFound(f"model {model!r} is a file; expected a model directory or a hub id")
    looks_like_hub_id = model.count("/") == 1 and not model.startswith((".", "/", "~"))
    if looks_like_hub_id:
        try:
            from huggingface_hub import try_to_load_from_cache

            if isinstance(try_to_load_from_cache(model, "config.json", revision=revision), str):
                return
        except Exception:  # an odd id: report it as missing below
            pass
    raise ModelNotFound(
        f"model {model!r} not found: not a directory and not in the Hugging Face cache "
        f"(the {backend} backend loads the weights locally)"
    )


def model_identity(model: str, backend: str, options: dict[str, Any]) -> dict[str, Any]:
    """The part of a store header that says which model and backend produced the records."""
    return {
        "backend": backend,
        "model_path": model,
        "model_revision": options.get("revision"),
        "model_fingerprint": model_fingerprint(model),
        "chat_template_sha256": chat_template_hash(model),
        "generation": {key: options.get(key) for key in IDENTITY_OPTIONS},
        "versions": package_versions(backend),
    }


@lru_cache(maxsize=1)
def git_commit() -> str | None:
    """The commit of the dissect-lrm checkout in use (None when installed from a wheel)."""
    try:
        result = subprocess.run(
            ["git", "-C", str(Path(__file__).resolve().parent), "rev-parse", "HEAD"],
            capture_output=True, text=True, timeout=10, check=False,
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip() or None if result.returncode == 0 else None


def run_environment() -> dict[str, Any]:
    """Versions of the toolchain that computed a report."""
    names = ("dissect-lrm", "numpy", "sympy", "torch", "transformers", "vllm")
    return {"python": platform.python_version(), "git_commit": git_commit(),
            "versions": {name: package_version(name) for name in names}}  # fmt: skip
