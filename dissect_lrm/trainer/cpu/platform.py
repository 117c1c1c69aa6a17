"""A CPU platform for verl's platform registry, so verl's real trainer runs without a GPU.

Selected only explicitly (``VERL_PLATFORM=cpu``, set by ``dissect_lrm.trainer.main`` when
``trainer.device=cpu``); it never wins auto-detection, so installing dissect-lrm on a GPU machine
changes nothing there.

Ray still schedules verl's workers on "GPU" resources (verl's resource pools hard-code
``use_gpu=True``); the CPU preset declares fake GPUs with ``ray_init.num_gpus`` and this platform
maps them to the CPU.
"""

from __future__ import annotations

import contextlib
import functools
import os
import types
from typing import Any

import torch
from verl.plugin.platform import PlatformBase, PlatformRegistry

PLATFORM_NAME = "cpu"


def _zero(*_args: Any, **_kwargs: Any) -> int:
    return 0


def _noop(*_args: Any, **_kwargs: Any) -> None:
    return None


def _make_device_module() -> types.ModuleType:
    """The object verl receives from ``get_torch_device()``: torch.cpu plus the CUDA-style calls verl makes."""
    module = types.ModuleType("dissect_lrm_cpu_device")
    for name in dir(torch.cpu):
        if not name.startswith("__"):
            setattr(module, name, getattr(torch.cpu, name))
    # Memory accounting and cache control have no CPU meaning: report zero, do nothing.
    for name in (
        "memory_reserved",
        "memory_allocated",
        "max_memory_reserved",
        "max_memory_allocated",
    ):
        setattr(module, name, _zero)
    for name in (
        "empty_cache",
        "ipc_collect",
        "set_per_process_memory_fraction",
        "reset_peak_memory_stats",
        "set_device",
        "synchronize",
    ):
        setattr(module, name, _noop)
    module.mem_get_info = lambda *_a, **_k: (0, 0)
    module.get_device_name = lambda *_a, **_k: "cpu"
    module.get_rng_state = lambda *_a, **_k: torch.get_rng_state()
    module.set_rng_state = lambda state, *_a, **_k: torch.set_rng_state(state)
    module.manual_seed = lambda seed: torch.manual_seed(seed)
    module.manual_seed_all = lambda seed: torch.manual_seed(seed)
    module.is_available = lambda: True
    module.device_count = lambda: 1
    module.current_device = lambda: 0
    return module


@PlatformRegistry.register(platform=PLATFORM_NAME)
class CPUPlatform(PlatformBase):
    """verl platform backed by the host CPU and the gloo collective backend."""

    _device_module = _make_device_module()

    @property
    def device_name(self) -> str:
        return "cpu"

    @property
    def vendor_name(self) -> str:
        return "cpu"

    @property
    def device_module(self) -> types.ModuleType:
        return self._device_module

    def is_available(self) -> bool:
        return True

    def is_platform_available(self, use_smi_check: bool = False) -> bool:
        # Never auto-detected: a CPU is always present, so winning detection would hijack GPU hosts.
        return False

    def current_device(self) -> str:  # type: ignore[override]
        # verl uses get_device_id() directly as a torch device (e.g. ``model.to(device=...)`` when
        # loading FSDP2 state dicts); an int would mean cuda:N, so the CPU answers with "cpu".
        return "cpu"

    def device_count(self) -> int:
        return 1

    def set_device(self, device_index: int) -> None:
        return None

    def synchronize(self, device_index: int | None = None) -> None:
        return None

    def manual_seed(self, seed: int) -> None:
        torch.manual_seed(seed)

    def manual_seed_all(self, seed: int) -> None:
        torch.manual_seed(seed)

    def set_allocator_settings(self, settings: str) -> None:
        return None

    def empty_cache(self) -> None:
        return None

    def get_device_capability(self, device_index: int = 0) -> tuple[int | None, int | None]:
        return None, None

    def communication_backend_name(self) -> str:
        return "gloo"

    def visible_devices_envvar(self) -> str:
        return "CUDA_VISIBLE_DEVICES"

    @contextlib.contextmanager
    def nvtx_range(self, msg: str):
        yield

    def profiler_start(self) -> None:
        return None

    def profiler_stop(self) -> None:
        return None

    def ray_resource_name(self) -> str:
        return "GPU"

    def ray_resource_options(self, num_gpus: float) -> dict[str, Any]:
        return {"num_gpus": num_gpus}

    def ray_noset_envvars(self) -> list[str]:
        return ["RAY_EXPERIMENTAL_NOSET_CUDA_VISIBLE_DEVICES"]

    def is_ipc_supported(self) -> bool:
        return False

    def cudart(self) -> Any:
        return None


def collapse_duplicate_gloo_backend(backend: str | None) -> str | None:
    """``"cpu:gloo,cpu:gloo"`` -> ``"gloo"``; any other backend string is returned unchanged."""
    if not backend:
        return backend
    entries = {entry.strip() for entry in backend.split(",") if entry.strip()}
    return "gloo" if entries == {"cpu:gloo"} else backend


def patch_init_process_group_backend() -> None:
    """Unavoidable patch: verl's ``initialize_global_process_group_ray`` builds the backend string
    ``f"cpu:gloo,{device}:{backend}"``, which on the CPU platform reads ``"cpu:gloo,cpu:gloo"`` and
    torch rejects as a duplicate device type. Wrap ``torch.distributed.init_process_group`` once so
    that exact string becomes ``"gloo"``; every other call passes through untouched.
    """
    import torch.distributed as dist

    original = dist.init_process_group
    if getattr(original, "_dissect_lrm_patched", False):
        return

    @functools.wraps(original)
    def init_process_group(*args: Any, **kwargs: Any):
        if "backend" in kwargs:
            kwargs["backend"] = collapse_duplicate_gloo_backend(kwargs["backend"])
        elif args:
            args = (collapse_duplicate_gloo_backend(args[0]), *args[1:])
        return original(*args, **kwargs)

    init_process_group._dissect_lrm_patched = True  # type: ignore[attr-defined]
    dist.init_process_group = init_process_group


def cpu_platform_selected() -> bool:
    return os.environ.get("VERL_PLATFORM", "").strip().lower() == PLATFORM_NAME
