"""rollout.name=vllm start-up checks: one message naming cause and fix, before Ray starts."""

from __future__ import annotations

import json

import pytest
from omegaconf import OmegaConf

from dissect_lrm.trainer import main
from dissect_lrm.trainer.cpu.vllm_rollout import cpu_startup_problem, kv_cache_tokens

TINY = {
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "num_key_value_heads": 2,
    "hidden_size": 128,
    "head_dim": 64,
}
HEADS = (32, 64, 128)


def config(tmp_path, model: dict, *, name="vllm", device="cpu", max_model_len=None, dtype="float32"):
    (tmp_path / "config.json").write_text(json.dumps(model))
    return OmegaConf.create(
        {
            "trainer": {"device": device},
            "data": {"max_prompt_length": 64, "max_response_length": 24},
            "actor_rollout_ref": {
                "model": {"path": str(tmp_path)},
                "rollout": {"name": name, "dtype": dtype, "max_model_len": max_model_len},
            },
        }
    )


def test_kv_cache_tokens_by_hand():
    # keys + values, 2 layers, 2 KV heads of 64 floats of 4 bytes: 2048 bytes per token; 1 GiB / 2048.
    assert kv_cache_tokens(TINY, "float32", 1) == 2**30 // 2048 == 524_288
    assert kv_cache_tokens(TINY, "bfloat16", 2) == 2 * 2**30 // 1024
    gqa = {**TINY, "num_key_value_heads": 1}
    assert kv_cache_tokens(gqa, "float32", 1) == 2 * kv_cache_tokens(TINY, "float32", 1)


def test_head_size_check_uses_head_dim_or_hidden_over_heads():
    assert cpu_startup_problem(TINY, dtype="float32", max_model_len=1024, head_sizes=HEADS) is None
    no_head_dim = {k: v for k, v in TINY.items() if k != "head_dim"} | {"hidden_size": 32}  # 32 / 2 = 16
    problem = cpu_startup_problem(no_head_dim, dtype="float32", max_model_len=1024, head_sizes=HEADS)
    assert problem and "head size 16" in problem and "rollout.name=hf" in problem


def test_kv_cache_boundary(monkeypatch):
    monkeypatch.setenv("VLLM_CPU_KVCACHE_SPACE", "1")
    fits = cpu_startup_problem(TINY, dtype="float32", max_model_len=524_288, head_sizes=HEADS)
    too_long = cpu_startup_problem(TINY, dtype="float32", max_model_len=524_289, head_sizes=HEADS)
    assert fits is None
    assert too_long and "524288 tokens" in too_long and "VLLM_CPU_KVCACHE_SPACE" in too_long
    monkeypatch.setenv("VLLM_CPU_KVCACHE_SPACE", "2")
    assert cpu_startup_problem(TINY, dtype="float32", max_model_len=524_289, head_sizes=HEADS) is None


def test_check_vllm_rollout_messages(tmp_path, monkeypatch):
    monkeypatch.setenv("VLLM_CPU_KVCACHE_SPACE", "1")
    main.check_vllm_rollout(config(tmp_path, TINY))  # fits
    main.check_vllm_rollout(config(tmp_path, {**TINY, "head_dim": 16}, name="hf"))  # not vllm: unchecked
    main.check_vllm_rollout(
        config(tmp_path, {**TINY, "head_dim": 16}, device="cuda")
    )  # GPU: vLLM's own checks
    with pytest.raises(main.ConfigurationError, match="head size 16"):
        main.check_vllm_rollout(config(tmp_path, {**TINY, "head_dim": 16}))
    with pytest.raises(main.ConfigurationError, match="fewer than max_model_len=600000"):
        main.check_vllm_rollout(config(tmp_path, TINY, max_model_len=600_000))
    real_find_spec = main.importlib.util.find_spec
    monkeypatch.setattr(main.importlib.util, "find_spec", lambda name: None if name == "vllm" else real_find_spec(name))  # fmt: skip
    with pytest.raises(main.ConfigurationError, match="needs vLLM, which is not installed.*setup_env.sh"):
        main.check_vllm_rollout(config(tmp_path, TINY))
