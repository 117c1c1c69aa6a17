"""Shared test fixtures: offline environment, the tiny-model kit, GPU-test skipping."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dissect_lrm.trainer.launcher import OFFLINE_ENV

SHARED_DIR = Path(__file__).resolve().parents[1].parent / "shared"

# Tests never touch the network; set before anything imports transformers/datasets/wandb.
for _name, _value in OFFLINE_ENV.items():
    os.environ.setdefault(_name, _value)


def _cuda_available() -> bool:
    try:
        import torch

        return torch.cuda.is_available()
    except Exception:
        return False


def pytest_collection_modifyitems(config, items):
    if _cuda_available():
        return
    skip_gpu = pytest.mark.skip(reason="needs a CUDA GPU (vLLM / flash-attn); none on this machine")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip_gpu)


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """../shared next to the repository (real benchmark and training data); skip when absent."""
    if not SHARED_DIR.is_dir():
        pytest.skip(f"real data not found: {SHARED_DIR} is absent (it sits next to the repository in CI)")
    return SHARED_DIR


@pytest.fixture(scope="session")
def tiny_kit(tmp_path_factory):
    """Tiny random Qwen2 + tokenizer + synthetic parquet, untrained (fast)."""
    from dissect_lrm.tiny import build_tiny_kit

    return build_tiny_kit(tmp_path_factory.mktemp("tiny_kit"))


@pytest.fixture(scope="session")
def warm_tiny_kit(tmp_path_factory):
    """The tiny kit after a short supervised warm start (right format, some answers correct), with an
    offline-solutions column in its training parquet for injection runs."""
    from dissect_lrm.tiny import build_tiny_kit

    return build_tiny_kit(
        tmp_path_factory.mktemp("warm_tiny_kit"), warm_start_steps=300, offline_solutions=True
    )
