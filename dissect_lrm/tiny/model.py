"""A random-init tiny Qwen2-family causal LM (the architecture family of the paper's models)."""

from __future__ import annotations

from pathlib import Path

# vLLM's CPU attention serves head sizes of 32 and up (16 fails with "Unsupported CPU attention
# configuration"), so the heads are 64 wide, as in the paper's Qwen2 models: hidden 128 = 2 heads x 64.
HEAD_DIM = 64


def build_model(
    out_dir: str | Path, tokenizer, *, hidden_size: int = 128, num_layers: int = 2, seed: int = 0
):
    """Save a tiny ``Qwen2ForCausalLM`` with random weights next to ``tokenizer`` in ``out_dir``.

    ``hidden_size`` must be a multiple of ``HEAD_DIM`` (the number of heads is derived from it).
    """
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    if hidden_size % HEAD_DIM:
        raise ValueError(f"hidden_size must be a multiple of {HEAD_DIM} (the head size), got {hidden_size}")
    heads = hidden_size // HEAD_DIM
    config = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=hidden_size * 2,
        num_hidden_layers=num_layers,
        num_attention_heads=heads,
        num_key_value_heads=heads,
        head_dim=HEAD_DIM,
        max_position_embeddings=1024,
        tie_word_embeddings=True,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=None,
        torch_dtype="float32",
    )
    torch.manual_seed(seed)
    model = Qwen2ForCausalLM(config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.bos_token_id = None
    out_dir = Path(out_dir)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return model
