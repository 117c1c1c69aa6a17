"""The "hf" rollout server: batched token-in/token-out generation, log-probs, weight updates."""

from __future__ import annotations

import asyncio

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from dissect_lrm.trainer.cpu.hf_rollout import HFRolloutServer, generated_log_probs, sampling_arguments


def test_sampling_arguments_cap_and_greedy():
    args = sampling_arguments(
        {"temperature": 0, "top_p": None, "top_k": -1, "max_tokens": 99}, response_length=16
    )
    assert args == {"max_new_tokens": 16, "temperature": 0.0, "top_p": 1.0, "top_k": -1}
    assert sampling_arguments({"temperature": 0.6, "top_p": 0.95}, 8)["max_new_tokens"] == 8


def test_generated_log_probs_hand_case():
    logits = torch.tensor([[[0.0, 0.0], [2.0, 0.0]]])  # (B=1, T=2, V=2)
    tokens = torch.tensor([[1, 0]])
    expected = torch.tensor(
        [[-torch.log(torch.tensor(2.0)), 2.0 - torch.logsumexp(torch.tensor([2.0, 0.0]), 0)]]
    )
    assert torch.allclose(generated_log_probs(logits, tokens, temperature=1.0), expected)
    # temperature scales the logits before the softmax
    halved = generated_log_probs(logits, tokens, temperature=2.0)
    assert torch.allclose(halved[0, 1], 1.0 - torch.logsumexp(torch.tensor([1.0, 0.0]), 0))


@pytest.fixture()
def server(warm_tiny_kit):
    return HFRolloutServer(str(warm_tiny_kit.model_dir), response_length=24, seed=0)


def _prompt_ids(kit, question: str) -> list[int]:
    tok = AutoTokenizer.from_pretrained(kit.model_dir)
    text = tok.apply_chat_template(
        [{"role": "user", "content": question}], tokenize=False, add_generation_prompt=True
    )
    return tok(text, add_special_tokens=False)["input_ids"]


def test_concurrent_requests_are_batched_and_match_the_model(server, warm_tiny_kit):
    prompts = [_prompt_ids(warm_tiny_kit, f"What is {a} + {a}?") for a in range(4)]
    prompts.append(
        _prompt_ids(warm_tiny_kit, "What is 12 - 3? Please answer.")
    )  # a longer prompt: left padding

    async def run():
        return await asyncio.gather(
            *[
                server.generate(f"r{i}", prompt_ids=p, sampling_params={"temperature": 0})
                for i, p in enumerate(prompts)
            ]
        )

    outputs = asyncio.run(run())
    assert server.num_generate_calls == 1
    model = AutoModelForCausalLM.from_pretrained(warm_tiny_kit.model_dir).eval()
    eos = model.generation_config.eos_token_id
    for prompt, output in zip(prompts, outputs, strict=True):
        assert 0 < len(output.token_ids) <= 24
        assert len(output.log_probs) == len(output.token_ids)
        assert eos not in output.token_ids[:-1]  # truncated right after the first EOS
        # Greedy batched output equals unbatched greedy decoding, and the log-probs are the model's.
        ids = torch.tensor([prompt + output.token_ids])
        with torch.no_grad():
            logits = model(ids).logits[0, len(prompt) - 1 : -1]
        recomputed = torch.log_softmax(logits, -1).gather(-1, torch.tensor(output.token_ids)[:, None])[:, 0]
        assert torch.allclose(torch.tensor(output.log_probs), recomputed, atol=1e-4)
        assert output.token_ids[0] == int(logits[0].argmax())


def test_load_weights_changes_generation_and_rejects_foreign_weights(server, warm_tiny_kit, tiny_kit):
    prompt = _prompt_ids(warm_tiny_kit, "What is 2 + 2?")

    def greedy():
        return asyncio.run(
            server.generate("x", prompt_ids=prompt, sampling_params={"temperature": 0})
        ).token_ids

    before = greedy()
    random_model = AutoModelForCausalLM.from_pretrained(tiny_kit.model_dir)
    state = {k: v for k, v in random_model.state_dict().items() if k != "lm_head.weight"}
    result = asyncio.run(server.load_weights(state, global_steps=7))
    assert result == {"loaded": len(state), "global_steps": 7}
    assert greedy() != before
    assert asyncio.run(server.get_state())["global_steps"] == 7
    with pytest.raises(RuntimeError, match="does not match"):
        asyncio.run(server.load_weights({"not.a.weight": torch.zeros(1)}))


def test_text_only(server):
    with pytest.raises(ValueError, match="text only"):
        asyncio.run(server.generate("x", prompt_ids=[1], sampling_params={}, image_data=[object()]))
