"""transformers backend for CPU and tests: batched decoding with one random generator per (problem, run)."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from typing import Any

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from dissect_lrm.eval.backends.base import GenerationRequest, GenerationResult


def sample_token(
    logits: torch.Tensor,
    temperature: float,
    top_p: float,
    generator: torch.Generator,
    top_k: int | None = None,
    min_p: float | None = None,
) -> int:
    """Next token of one row: argmax at temperature 0, else sampling with this row's generator.

    Filters apply in vLLM's order: top-k, then min-p (drop tokens below min_p x the top probability),
    then nucleus top-p on what is left.
    """
    if temperature == 0.0:
        return int(torch.argmax(logits))
    probs = torch.softmax(logits.double() / temperature, dim=-1)
    if top_k is not None and top_k < probs.numel():
        threshold = torch.topk(probs, top_k).values[-1]
        probs = torch.where(probs >= threshold, probs, torch.zeros_like(probs))
        probs = probs / probs.sum()
    if min_p:
        probs = torch.where(probs >= min_p * probs.max(), probs, torch.zeros_like(probs))
        probs = probs / probs.sum()
    if top_p < 1.0:
        sorted_probs, order = torch.sort(probs, descending=True)
        # Keep the smallest prefix whose mass reaches top_p (the first token always stays).
        keep = (torch.cumsum(sorted_probs, dim=-1) - sorted_probs) < top_p
        filtered = torch.zeros_like(probs)
        filtered[order[keep]] = sorted_probs[keep]
        probs = filtered / filtered.sum()
    return int(torch.multinomial(probs, 1, generator=generator))


class HFBackend:
    """`transformers` generation on CPU (or one device), batched, seeded per request.

    `generate` of transformers shares one random stream across the batch, so a sample would depend on
    its batch neighbours and a resumed run would not reproduce. This backend runs its own decoding loop
    (KV cache, left padding) and draws each row's token from a generator seeded with that row's seed.
    """

    name = "hf"

    def __init__(
        self,
        model: str,
        batch_size: int = 16,
        device: str = "cpu",
        dtype: str = "float32",
        num_threads: int | None = None,
        revision: str | None = None,
        trust_remote_code: bool = False,
        **_: Any,
    ) -> None:
        loading = {"revision": revision, "trust_remote_code": trust_remote_code}
        self.tokenizer = AutoTokenizer.from_pretrained(model, **loading)
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.model = AutoModelForCausalLM.from_pretrained(model, dtype=getattr(torch, dtype), **loading).to(
            device
        )
        self.model.eval()
        self.device = device
        self.batch_size = max(1, int(batch_size))
        self.eos_ids = self._eos_ids()
        # Small models decode faster on one CPU thread: intra-op threads cost more than they save.
        self.num_threads = num_threads

    def _eos_ids(self) -> set[int]:
        ids = {self.tokenizer.eos_token_id}
        configured = getattr(self.model.generation_config, "eos_token_id", None)
        if isinstance(configured, int):
            ids.add(configured)
        elif configured:
            ids.update(configured)
        return {i for i in ids if i is not None}

    def _prompt_ids(self, messages: Sequence[dict[str, str]]) -> list[int]:
        text = self.tokenizer.apply_chat_template(list(messages), tokenize=False, add_generation_prompt=True)
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    @torch.no_grad()
    def _decode_batch(self, batch: Sequence[GenerationRequest]) -> list[GenerationResult]:
        started = time.perf_counter()
        prompts = [self._prompt_ids(request.messages) for request in batch]
        limits = [min(r.max_tokens, r.max_model_len - len(p)) for r, p in zip(batch, prompts)]
        results: list[GenerationResult | None] = [None] * len(batch)
        active = [i for i, limit in enumerate(limits) if limit >= 1]
        for i in set(range(len(batch))) - set(active):
            results[i] = GenerationResult.failure(
                f"prompt of {len(prompts[i])} tokens leaves no room under max_model_len={batch[i].max_model_len}",
                0.0,
            )
        if active:
            rows = [prompts[i] for i in active]
            width = max(len(row) for row in rows)
            pad = self.tokenizer.pad_token_id
            input_ids = torch.tensor([[pad] * (width - len(row)) + row for row in rows], device=self.device)
            mask = torch.tensor(
                [[0] * (width - len(row)) + [1] * len(row) for row in rows], device=self.device
            )
            generators = [torch.Generator().manual_seed(batch[i].seed) for i in active]
            outputs: list[list[int]] = [[] for _ in active]
            finished = [False] * len(active)
            finish_reason = ["length"] * len(active)
            positions = (mask.cumsum(-1) - 1).clamp(min=0)
            cache = None
            step_ids = input_ids
            for _ in range(max(limits[i] for i in active)):
                out = self.model(
                    input_ids=step_ids,
                    attention_mask=mask,
                    position_ids=positions,
                    past_key_values=cache,
                    use_cache=True,
                )
                cache = out.past_key_values
                logits = out.logits[:, -1, :].float().cpu()
                next_ids = []
                for row, i in enumerate(active):
                    if finished[row]:
                        next_ids.append(pad)
                        continue
                    request = batch[i]
                    token = sample_token(logits[row], request.temperature, request.top_p, generators[row],
                                         request.top_k, request.min_p)  # fmt: skip
                    outputs[row].append(token)
                    if token in self.eos_ids or self._hits_stop(outputs[row], request.stop):
                        finished[row], finish_reason[row] = True, "stop"
                    elif len(outputs[row]) >= limits[i]:
                        finished[row] = True
                    next_ids.append(token)
                if all(finished):
                    break
                step_ids = torch.tensor(next_ids, device=self.device).unsqueeze(1)
                mask = torch.cat([mask, torch.ones_like(step_ids)], dim=1)
                positions = positions[:, -1:] + 1
            elapsed = time.perf_counter() - started
            for row, i in enumerate(active):
                tokens = [t for t in outputs[row] if t not in self.eos_ids]
                results[i] = GenerationResult(
                    response=self.tokenizer.decode(tokens, skip_special_tokens=True),
                    num_tokens=len(outputs[row]),
                    prompt_tokens=len(prompts[i]),
                    finish_reason=finish_reason[row],
                    latency_s=elapsed,
                )
        return [result for result in results if result is not None]

    def _hits_stop(self, tokens: list[int], stop: Sequence[str]) -> bool:
        """Does the text end with a stop string? Only the tail is decoded (a stop string is short)."""
        if not stop:
            return False
        tail = self.tokenizer.decode(tokens[-(max(len(s) for s in stop) + 4) :], skip_special_tokens=True)
        return any(tail.endswith(s) for s in stop)

    def _decode_with_threads(self, batch: Sequence[GenerationRequest]) -> list[GenerationResult]:
        if not self.num_threads:
            return self._decode_batch(batch)
        previous = torch.get_num_threads()
        torch.set_num_threads(self.num_threads)
        try:
            return self._decode_batch(batch)
        finally:
            torch.set_num_threads(previous)

    def generate(self, requests: Sequence[GenerationRequest]) -> Iterator[tuple[int, GenerationResult]]:
        for start in range(0, len(requests), self.batch_size):
            batch = requests[start : start + self.batch_size]
            try:
                results = self._decode_with_threads(batch)
            except Exception as error:  # an OOM or a tokenizer failure is recorded, not graded as wrong
                results = [GenerationResult.failure(f"{type(error).__name__}: {error}", 0.0) for _ in batch]
            for offset, result in enumerate(results):
                yield start + offset, result

    def close(self) -> None:
        self.model = None  # type: ignore[assignment]
