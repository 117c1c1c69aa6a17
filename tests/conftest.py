"""Shared test fixtures: offline environment, the tiny-model kit, GPU-test skipping."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dissect_lrm.trainer.launcher import OFFLINE_ENV

SHARED_DIR = Path(__file__).resolve().parents[1].parent / "shared"

# Under pytest-xdist the workers share the cores: one math-library thread each, inherited by the trainer
# runs they start, instead of every process spinning up a thread per core and thrashing.
if os.environ.get("PYTEST_XDIST_WORKER"):
    for _name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(_name, "1")

# Tests never touch the network; set before anything imports transformers/datasets/wandb.
for _name, _value in OFFLINE_ENV.items():
    os.environ.setdefault(_name, _value)


def _cuda_available() -> bool:
    try:
        import torch

        return torch.cuda.is_available()
    except Exception:
        return False


# Modules whose tests are independent trainer runs: pytest-xdist may spread them over its workers. Every
# other module runs whole on one worker, so its module/session fixtures (a trained model, a two-node
# cluster, the demo) are built once: see ModuleScheduling below.
SPREAD_MODULES = {"test_scripts_cpu.py", "test_features_cpu.py"}
# Slowest first, so the parallel workers finish together instead of one waiting on a late e2e run.
RUN_ORDER = ("e2e", "integration", "unit")


def _run_rank(item) -> int:
    parts = Path(str(item.path)).parts
    return next((rank for rank, name in enumerate(RUN_ORDER) if name in parts), len(RUN_ORDER))


def scheduling_scope(nodeid: str) -> str:
    """The unit pytest-xdist hands to one worker: a whole module, or one test of a SPREAD_MODULES module."""
    module = nodeid.split("::", 1)[0]
    return nodeid if Path(module).name in SPREAD_MODULES else module


def pytest_xdist_make_scheduler(config, log):
    """Under ``--dist loadscope`` (scripts/test.sh), schedule by :func:`scheduling_scope`.

    Not ``--dist loadgroup`` with ``xdist_group`` marks: pytest-xdist 3.8 writes the group into
    ``item._nodeid``, which pytest 9 no longer reads: the groups were silently lost, and a module split
    over two workers built its module fixtures (a two-node cluster, the demo) twice.
    """
    if config.getvalue("dist") != "loadscope":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class ModuleScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return scheduling_scope(nodeid)

    return ModuleScheduling(config, log)


def pytest_collection_modifyitems(config, items):
    items.sort(key=_run_rank)  # stable: the order within a directory stays as collected
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


def _shared_kit(tmp_path_factory, name: str, **options):
    """Build a tiny kit once per test session, even when pytest-xdist runs several workers.

    Each xdist worker has its own base temp directory under one shared root; the kit is built in that
    root under a file lock by whichever worker asks first, marked complete last, and reused by the rest
    (the warm start costs tens of seconds of CPU, and two of them would compete for the same cores).
    """
    from filelock import FileLock

    from dissect_lrm.tiny import TinyKit, build_tiny_kit

    worker = os.environ.get("PYTEST_XDIST_WORKER")
    root = tmp_path_factory.getbasetemp().parent if worker else tmp_path_factory.getbasetemp()
    kit_dir = root / f"shared_{name}"
    done = kit_dir / "COMPLETE"
    with FileLock(str(root / f"shared_{name}.lock")):
        if not done.is_file():
            build_tiny_kit(kit_dir, **options)
            done.write_text("built\n")
    return TinyKit.at(kit_dir)


@pytest.fixture(scope="session")
def tiny_kit(tmp_path_factory):
    """Tiny random Qwen2 + tokenizer + synthetic parquet, untrained (fast)."""
    return _shared_kit(tmp_path_factory, "tiny_kit")


@pytest.fixture(scope="session")
def warm_tiny_kit(tmp_path_factory):
    """The tiny kit after a short supervised warm start (right format, some answers correct), with an
    offline-solutions column in its training parquet for injection runs."""
    return _shared_kit(tmp_path_factory, "warm_tiny_kit", warm_start_steps=300, offline_solutions=True)
