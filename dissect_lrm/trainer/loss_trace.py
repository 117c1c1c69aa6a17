"""Optional record of what verl's policy loss received in the actor worker (``DISSECT_LRM_LOSS_TRACE=<dir>``).

When the variable names a directory, every registered policy loss is wrapped so that each call saves
its inputs (response mask, advantages, ``rollout_is_weights``, old and current log-probs), the clip
bounds and aggregation mode of the actor config, and its output (loss and metrics) to ``<dir>``. This
is how a test sees what the actor actually consumed, not what the trainer meant to send; it is off
unless asked for and costs nothing then.
"""

from __future__ import annotations

import functools
import itertools
import os
from pathlib import Path
from typing import Any

import torch

ENV_VAR = "DISSECT_LRM_LOSS_TRACE"
_counter = itertools.count()


def _plain(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.detach().to("cpu").clone()
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    return value


def _ray_node_id() -> str | None:
    import ray

    return ray.get_runtime_context().get_node_id() if ray.is_initialized() else None


def _wrap(loss_fn, directory: Path, loss_mode: str):
    @functools.wraps(loss_fn)
    def traced(**kwargs):
        loss, metrics = loss_fn(**kwargs)
        config = kwargs.get("config")
        record = {
            "loss_mode": loss_mode,
            "inputs": {
                key: _plain(kwargs.get(key))
                for key in ("old_log_prob", "log_prob", "advantages", "response_mask", "rollout_is_weights")
            },
            "loss_agg_mode": kwargs.get("loss_agg_mode"),
            "clip_ratio": getattr(config, "clip_ratio", None),
            "clip_ratio_low": getattr(config, "clip_ratio_low", None),
            "clip_ratio_high": getattr(config, "clip_ratio_high", None),
            "global_batch_info": _plain(dict(getattr(config, "global_batch_info", {}) or {})),
            "loss": float(loss.detach()),
            # Where the call ran: the trainer rank and, under Ray, the node (multi-node tests).
            "rank": torch.distributed.get_rank() if torch.distributed.is_initialized() else 0,
            "node_id": _ray_node_id(),
            "metrics": _plain(dict(metrics)),
        }
        torch.save(record, directory / f"{os.getpid()}-{next(_counter):06d}.pt")
        return loss, metrics

    traced.dissect_lrm_traced = True
    return traced


def install(directory: str | Path) -> None:
    """Wrap every policy loss registered in verl so far (call after our own registrations)."""
    from verl.trainer.ppo.core_algos import POLICY_LOSS_REGISTRY

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    for name, loss_fn in list(POLICY_LOSS_REGISTRY.items()):
        if not getattr(loss_fn, "dissect_lrm_traced", False):
            POLICY_LOSS_REGISTRY[name] = _wrap(loss_fn, directory, name)


def install_from_env() -> None:
    if os.environ.get(ENV_VAR):
        install(os.environ[ENV_VAR])


def read_trace(directory: str | Path) -> list[dict]:
    """Every recorded policy-loss call, in call order per process (oldest first)."""
    return [torch.load(path, weights_only=False) for path in sorted(Path(directory).glob("*.pt"))]
