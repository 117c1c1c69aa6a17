"""An "hf" rollout backend for verl's v1 (server-based) rollout: HF ``generate()`` behind a Ray actor.

verl 0.9.1 only ships vLLM/SGLang/TRT-LLM replicas, none of which run on a CPU. This backend
implements the same three roles with transformers:

* ``HFRolloutServer`` — a Ray actor serving token-in/token-out ``generate`` with per-token
  log-probs; concurrent requests with equal sampling parameters are micro-batched into one
  left-padded ``generate()`` call; ``load_weights`` receives the trainer's weights after each step.
* ``HFRolloutReplica`` — verl's ``RolloutReplica`` that launches one server actor.
* ``HFServerAdapter`` — the ``BaseRollout`` living in verl's hybrid trainer worker; it pushes the
  FSDP engine's full tensors to the server.

Limits: one replica and one trainer rank (the CPU demo and tests), text only.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

import ray
import torch
from verl.workers.rollout import base as rollout_base
from verl.workers.rollout.base import BaseRollout
from verl.workers.rollout.replica import RolloutReplica, RolloutReplicaRegistry, TokenOutput

logger = logging.getLogger(__name__)

ROLLOUT_NAME = "hf"


def server_actor_name(replica_rank: int, name_suffix: str = "") -> str:
    return f"dissect_lrm_hf_rollout_{replica_rank}{name_suffix}"


def _model_path(model_config: Any) -> str:
    """The local path of the policy model, from a DictConfig or an ``HFModelConfig``."""
    getter = (
        model_config.get
        if hasattr(model_config, "get")
        else lambda key, default=None: getattr(model_config, key, default)
    )
    return getter("local_path", None) or getter("path")


@dataclass
class _Request:
    prompt_ids: list[int]
    max_new_tokens: int
    temperature: float
    top_p: float
    top_k: int
    future: asyncio.Future = field(repr=False)

    @property
    def batch_key(self) -> tuple:
        # Requests can share one generate() call only when they sample identically.
        return (self.max_new_tokens, self.temperature, self.top_p, self.top_k)


def sampling_arguments(sampling_params: dict[str, Any], response_length: int) -> dict[str, Any]:
    """Map verl/vLLM-style sampling params onto our request fields (greedy iff temperature <= 0)."""
    max_tokens = sampling_params.get("max_tokens", sampling_params.get("max_new_tokens")) or response_length
    return {
        "max_new_tokens": max(1, min(int(max_tokens), int(response_length))),
        "temperature": float(sampling_params.get("temperature", 1.0) or 0.0),
        "top_p": float(
            sampling_params.get("top_p", 1.0) if sampling_params.get("top_p") is not None else 1.0
        ),
        "top_k": int(sampling_params.get("top_k", -1) if sampling_params.get("top_k") is not None else -1),
    }


def generated_log_probs(logits: torch.Tensor, tokens: torch.Tensor, temperature: float) -> torch.Tensor:
    """Log-prob of each generated token under the temperature-scaled (untruncated) distribution.

    This is what verl's actor recomputes as ``old_log_probs`` (logits / temperature, no top-p/top-k),
    so rollout and actor probabilities are comparable. ``logits``: (B, T, V); ``tokens``: (B, T).
    """
    scale = temperature if temperature > 0 else 1.0
    log_probs = torch.log_softmax(logits.float() / scale, dim=-1)
    return log_probs.gather(-1, tokens.unsqueeze(-1)).squeeze(-1)


class HFRolloutServer:
    """Serves ``generate`` for verl's agent loop with a transformers model (run as a Ray actor)."""

    def __init__(
        self,
        model_path: str,
        response_length: int,
        seed: int = 42,
        max_batch_size: int = 64,
        trust_remote_code: bool = False,
    ) -> None:
        from transformers import AutoModelForCausalLM

        torch.manual_seed(seed)
        self.model = AutoModelForCausalLM.from_pretrained(
            model_path,
            torch_dtype=torch.float32,
            attn_implementation="sdpa",
            trust_remote_code=trust_remote_code,
        ).eval()
        config = self.model.generation_config
        eos = config.eos_token_id if config.eos_token_id is not None else self.model.config.eos_token_id
        self.eos_token_ids = set(eos if isinstance(eos, list) else [eos])
        pad = config.pad_token_id if config.pad_token_id is not None else self.model.config.pad_token_id
        self.pad_token_id = pad if pad is not None else next(iter(self.eos_token_ids))
        self.response_length = response_length
        self.max_batch_size = max_batch_size
        self.global_steps: int | None = None
        self._pending: list[_Request] = []
        self._lock = asyncio.Lock()
        self.num_generate_calls = 0

    async def generate(
        self,
        request_id: str,
        *,
        prompt_ids: list[int],
        sampling_params: dict[str, Any],
        image_data: Any = None,
        video_data: Any = None,
        **_kwargs: Any,
    ) -> TokenOutput:
        if image_data is not None or video_data is not None:
            raise ValueError("the hf rollout serves text only; got image or video data")
        loop = asyncio.get_running_loop()
        request = _Request(
            prompt_ids=list(prompt_ids),
            future=loop.create_future(),
            **sampling_arguments(sampling_params, self.response_length),
        )
        self._pending.append(request)
        # Let the other requests of this agent-loop wave arrive, then serve them in batches.
        await asyncio.sleep(0)
        async with self._lock:
            while not request.future.done():
                await self._serve_pending()
        return await request.future

    async def _serve_pending(self) -> None:
        if not self._pending:
            return
        key = self._pending[0].batch_key
        batch = [r for r in self._pending if r.batch_key == key][: self.max_batch_size]
        taken = {id(r) for r in batch}
        self._pending = [r for r in self._pending if id(r) not in taken]
        try:
            outputs = await asyncio.to_thread(self._generate_batch, batch)
        except Exception as error:  # every waiting request must learn about the failure
            for request in batch:
                request.future.set_exception(error)
            return
        for request, output in zip(batch, outputs, strict=True):
            request.future.set_result(output)

    @torch.no_grad()
    def _generate_batch(self, batch: list[_Request]) -> list[TokenOutput]:
        self.num_generate_calls += 1
        first = batch[0]
        width = max(len(r.prompt_ids) for r in batch)
        input_ids = torch.full((len(batch), width), self.pad_token_id, dtype=torch.long)
        attention_mask = torch.zeros((len(batch), width), dtype=torch.long)
        for row, request in enumerate(batch):
            input_ids[row, width - len(request.prompt_ids) :] = torch.tensor(request.prompt_ids)
            attention_mask[row, width - len(request.prompt_ids) :] = 1
        do_sample = first.temperature > 0
        sampling = {"do_sample": do_sample}
        if do_sample:
            sampling.update(temperature=first.temperature, top_p=first.top_p, top_k=max(first.top_k, 0))
        else:
            sampling.update(temperature=None, top_p=None, top_k=None)
        out = self.model.generate(
            input_ids=input_ids,
            attention_mask=attention_mask,
            max_new_tokens=first.max_new_tokens,
            eos_token_id=sorted(self.eos_token_ids),
            pad_token_id=self.pad_token_id,
            output_logits=True,
            return_dict_in_generate=True,
            **sampling,
        )
        generated = out.sequences[:, width:]
        logits = torch.stack(out.logits, dim=1)
        log_probs = generated_log_probs(logits, generated, first.temperature)
        results = []
        for row in range(len(batch)):
            tokens = generated[row].tolist()
            end = next((i + 1 for i, t in enumerate(tokens) if t in self.eos_token_ids), len(tokens))
            results.append(
                TokenOutput(
                    token_ids=tokens[:end],
                    log_probs=log_probs[row, :end].tolist(),
                    stop_reason="completed",
                    extra_fields={"global_steps": self.global_steps},
                )
            )
        return results

    async def load_weights(
        self, state_dict: dict[str, torch.Tensor], global_steps: int | None = None
    ) -> dict:
        async with self._lock:
            result = self.model.load_state_dict(state_dict, strict=False)
            self.global_steps = global_steps
        # Tied embeddings appear once in the trainer's state dict; every other key must match.
        missing = [k for k in result.missing_keys if k != "lm_head.weight"]
        if missing or result.unexpected_keys:
            raise RuntimeError(
                f"hf rollout: weight update does not match the served model "
                f"(missing {missing[:5]}, unexpected {result.unexpected_keys[:5]})"
            )
        logger.info("hf rollout: loaded %d tensors at step %s", len(state_dict), global_steps)
        return {"loaded": len(state_dict), "global_steps": global_steps}

    async def get_state(self) -> dict:
        return {"global_steps": self.global_steps, "num_generate_calls": self.num_generate_calls}

    # verl's replica/client calls these around weight syncs; a CPU model has nothing to free.
    async def wake_up(self) -> None:
        return None

    async def sleep(self) -> None:
        return None

    async def abort_all_requests(self, reject_request: bool = False) -> dict:
        return {"aborted_count": 0, "request_ids": []}

    async def abort_request(self, request_id: str) -> dict:
        return {"aborted_count": 0, "request_ids": []}

    async def resume_generation(self) -> None:
        return None

    async def clear_kv_cache(self) -> None:
        return None

    async def release_kv_cache(self) -> None:
        return None

    async def resume_kv_cache(self) -> None:
        return None

    async def start_profile(self, **_kwargs: Any) -> None:
        return None

    async def stop_profile(self) -> None:
        return None


class HFRolloutReplica(RolloutReplica):
    """One ``HFRolloutServer`` actor per replica; there is no HTTP server, only the actor handle."""

    def rollout_worker_use_gpu(self) -> bool:
        return False

    async def launch_servers(self) -> None:
        name = server_actor_name(self.replica_rank, self.name_suffix)
        server = (
            ray.remote(HFRolloutServer)
            .options(name=name, num_cpus=0, max_concurrency=self.max_concurrency)
            .remote(
                model_path=_model_path(self.model_config),
                response_length=self.config.response_length,
                seed=self.config.seed,
                trust_remote_code=bool(getattr(self.model_config, "trust_remote_code", False)),
            )
        )
        await server.get_state.remote()  # surfaces model-loading errors here, at start-up
        self.servers = [server]
        self._server_handle = server
        self._server_address = f"ray-actor://{name}"


class HFServerAdapter(BaseRollout):
    """Lives in verl's hybrid trainer worker; forwards weight updates to the replica's server actor."""

    def __init__(self, config, model_config, device_mesh, replica_rank: int = -1, **_kwargs: Any) -> None:
        super().__init__(config, model_config, device_mesh)
        # Trainer ranks map onto replicas as verl lays them out: consecutive blocks of one replica's
        # world size (tp x dp x pp). With several replicas (e.g. one per node), each block's first rank
        # feeds its own replica; otherwise replicas past the first would keep the initial weights.
        rank = torch.distributed.get_rank() if torch.distributed.is_initialized() else 0
        replica_world = max(
            1,
            int(config.tensor_model_parallel_size)
            * int(getattr(config, "data_parallel_size", 1) or 1)
            * int(getattr(config, "pipeline_model_parallel_size", 1) or 1),
        )
        self.replica_rank = rank // replica_world if replica_rank < 0 else replica_rank
        self.is_replica_leader = rank % replica_world == 0
        self._server = None

    def _server_handle(self):
        if self._server is None:
            self._server = ray.get_actor(server_actor_name(self.replica_rank))
        return self._server

    async def resume(self, tags: list[str]) -> None:
        return None

    async def release(self) -> None:
        return None

    async def update_weights(self, weights, wire_format: str = "named_tensors", **kwargs: Any) -> None:
        if wire_format != "named_tensors":
            raise NotImplementedError(f"hf rollout receives full named tensors only, not {wire_format!r}")
        state_dict = {}
        for name, tensor in weights:
            full = tensor.full_tensor() if hasattr(tensor, "full_tensor") else tensor
            state_dict[name] = full.detach().to("cpu", torch.float32).clone()
        if self.is_replica_leader:
            await self._server_handle().load_weights.remote(
                state_dict, global_steps=kwargs.get("global_steps")
            )


def register() -> None:
    """Make ``actor_rollout_ref.rollout.name=hf`` resolvable by verl's rollout and replica registries."""
    # verl has no public call for adapters: its registry is this module-level dict of class paths.
    rollout_base._ROLLOUT_REGISTRY[(ROLLOUT_NAME, "async")] = f"{__name__}.HFServerAdapter"
    RolloutReplicaRegistry.register(ROLLOUT_NAME, lambda: HFRolloutReplica)


# Self-registering on import (like verl's decorators): this module may be imported first by Ray
# unpickling HFRolloutServer, in which case `import verl` re-enters the plugin while this module is
# only partly initialised; the plugin therefore only imports it and never calls into it.
register()
