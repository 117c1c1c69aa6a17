"""A quick supervised warm start of the tiny model on the synthetic task (seconds on a CPU).

Plays the role of the SFT-distilled starting point of the paper's runs: after a few hundred steps
the model answers in the right format and solves some, not all, problems, so GRPO groups have
non-zero advantages.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from dissect_lrm.tiny.task import BOXED_INSTRUCTION, ArithProblem


def _encode(tokenizer, problem: ArithProblem) -> tuple[list[int], int]:
    messages = [{"role": "user", "content": problem.question + BOXED_INSTRUCTION}]
    prompt = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    response_ids = tokenizer(problem.solution, add_special_tokens=False)["input_ids"] + [
        tokenizer.eos_token_id
    ]
    return prompt_ids + response_ids, len(prompt_ids)


def warm_start(
    model_dir: str | Path,
    problems: list[ArithProblem],
    *,
    steps: int = 300,
    batch_size: int = 32,
    lr: float = 3e-3,
    seed: int = 0,
    decay: bool = False,
    on_step: Callable[[int, float], object] | None = None,
) -> list[float]:
    """Train the model in ``model_dir`` on the problems' worked solutions (loss on response tokens
    only) and save it back in place. Returns the loss of every step; ``on_step(step, loss)`` is called
    after each one (a progress bar). ``decay=True`` warms the learning rate up over the first 30 steps
    and decays it linearly to 0 at the last one: a steadier end point than a constant rate, which
    spikes on this tiny model."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(seed)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    model.train()
    encoded = [_encode(tokenizer, p) for p in problems]
    width = max(len(ids) for ids, _ in encoded)
    input_ids = torch.full((len(encoded), width), tokenizer.pad_token_id, dtype=torch.long)
    labels = torch.full((len(encoded), width), -100, dtype=torch.long)
    attention = torch.zeros((len(encoded), width), dtype=torch.long)
    for row, (ids, prompt_len) in enumerate(encoded):
        input_ids[row, : len(ids)] = torch.tensor(ids)
        attention[row, : len(ids)] = 1
        labels[row, prompt_len : len(ids)] = torch.tensor(ids[prompt_len:])
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr)
    schedule = None
    if decay:
        schedule = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda step: min(1.0, (step + 1) / 30) * max(0.0, 1.0 - step / steps)
        )
    generator = torch.Generator().manual_seed(seed)
    losses = []
    for step in range(1, steps + 1):
        rows = torch.randint(0, len(encoded), (batch_size,), generator=generator)
        loss = model(input_ids=input_ids[rows], attention_mask=attention[rows], labels=labels[rows]).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if schedule is not None:
            schedule.step()
        losses.append(loss.item())
        if on_step is not None:
            on_step(step, losses[-1])
    model.eval()
    model.save_pretrained(model_dir)
    return losses
