"""Backend logic without heavy libraries: vLLM request grouping (fake vllm module), openai helpers, lazy imports."""

from __future__ import annotations

import subprocess
import sys
import types
from dataclasses import dataclass

import pytest

from dissect_lrm.eval.backends import BACKENDS, create_backend


@dataclass
class FakeParams:
    n: int
    seed: int
    temperature: float
    top_p: float
    max_tokens: int


class FakeTokenizer:
    def apply_chat_template(self, messages, tokenize, add_generation_prompt):
        return "<u>" + messages[0]["content"] + "<a>"

    def __call__(self, text, add_special_tokens):
        return {"input_ids": list(range(len(text)))}


class FakeLLM:
    def __init__(self) -> None:
        self.calls = []

    def get_tokenizer(self):
        return FakeTokenizer()

    def generate(self, prompts, params, use_tqdm):
        self.calls.append((prompts, params))
        outputs = []
        for param in params:
            samples = [
                types.SimpleNamespace(
                    text=f"s{param.seed}-{j}", token_ids=[1] * (j + 1), finish_reason="stop"
                )
                for j in range(param.n)
            ]
            outputs.append(types.SimpleNamespace(outputs=samples))
        return outputs


@pytest.fixture()
def fake_vllm(monkeypatch):
    module = types.ModuleType("vllm")
    module.SamplingParams = FakeParams
    monkeypatch.setitem(sys.modules, "vllm", module)
    from dissect_lrm.eval.backends import vllm as backend

    return backend


def items(prompt_lengths=(5, 5, 5)):
    messages = ({"role": "user", "content": "q"},)
    return [(i, messages, 100 + i, 0.6, 0.95, 50, 1000) for i in range(len(prompt_lengths))]


def test_vllm_one_request_per_run_keeps_each_seed(fake_vllm):
    llm = FakeLLM()
    results = dict(fake_vllm.run_items(llm, items(), n_per_prompt=False))
    [(prompts, params)] = llm.calls
    assert [p.seed for p in params] == [100, 101, 102] and all(p.n == 1 for p in params)
    assert all(p.max_tokens == 50 for p in params)
    assert [results[i].response for i in range(3)] == ["s100-0", "s101-0", "s102-0"]
    assert all(r.actual_seed is None for r in results.values())


def test_vllm_n_per_prompt_groups_and_records_the_group_seed(fake_vllm):
    llm = FakeLLM()
    results = dict(fake_vllm.run_items(llm, items(), n_per_prompt=True))
    [(prompts, params)] = llm.calls
    assert len(params) == 1 and params[0].n == 3 and params[0].seed == 100
    assert [results[i].response for i in range(3)] == ["s100-0", "s100-1", "s100-2"]
    assert [results[i].actual_seed for i in range(3)] == [None, 100, 100]
    assert [results[i].num_tokens for i in range(3)] == [1, 2, 3]


def test_vllm_clamps_the_cap_to_the_context(fake_vllm):
    llm = FakeLLM()
    messages = ({"role": "user", "content": "x" * 20},)  # 26 prompt "tokens" with the fake template
    results = dict(fake_vllm.run_items(llm, [(0, messages, 1, 0.6, 0.95, 100, 40), (1, messages, 2, 0.6, 0.95, 100, 26)], False))  # fmt: skip
    assert llm.calls[0][1][0].max_tokens == 14
    assert results[1].error and "no room" in results[1].error


def test_openai_helpers():
    pytest.importorskip("httpx")
    from dissect_lrm.eval.backends.openai import OpenAIBackend, response_text

    assert response_text({"content": "\\boxed{1}"}) == "\\boxed{1}"
    assert (
        response_text({"content": "\\boxed{1}", "reasoning_content": "think"})
        == "think\n</think>\n\n\\boxed{1}"
    )
    backend = OpenAIBackend("m", base_urls="http://x/v1/", backoff_s=1.0, max_backoff_s=5.0)
    assert backend.base_urls == ["http://x/v1"]
    assert all(0.5 <= backend._delay(0) <= 1.0 for _ in range(20))
    assert all(backend._delay(10) <= 5.0 for _ in range(20))
    from dissect_lrm.eval.backends import GenerationRequest

    messages = ({"role": "user", "content": "q"},)
    capped = backend._payload(GenerationRequest(messages, 7, 0.6, 0.95, 8192, 32768))
    assert capped["max_tokens"] == 8192 and capped["seed"] == 7 and capped["model"] == "m"
    assert "max_tokens" not in backend._payload(GenerationRequest(messages, 7, 0.6, 0.95, 32768, 32768))
    backend.close()


def test_backends_are_lazy():
    assert set(BACKENDS) == {"hf", "openai", "vllm"}
    with pytest.raises(ValueError, match="unknown backend"):
        create_backend("tgi", "m")
    # A fresh interpreter: importing the CLI, runner and report loads no backend library.
    code = (
        "import sys, dissect_lrm.eval.cli, dissect_lrm.eval.runner, dissect_lrm.eval.report; "
        "print(sorted(m for m in ('torch', 'transformers', 'vllm', 'httpx', 'matplotlib') if m in sys.modules))"
    )
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert output.strip() == "[]"


def test_retry_after_is_honoured_and_capped():
    from dissect_lrm.eval.backends.openai import OpenAIBackend, retry_after_seconds

    backend = OpenAIBackend("m", backoff_s=1.0, max_backoff_s=30.0)
    assert retry_after_seconds("7") == 7.0 and retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT") is None
    assert backend._delay(0, retry_after=7.0) == 7.0
    assert backend._delay(0, retry_after=600.0) == 30.0
    assert 0.5 * 4 <= backend._delay(2) <= 4.0  # 1 s x 2^2 with jitter in [0.5, 1]
    backend.close()


def test_hf_sampling_filters_top_k_and_min_p():
    torch = pytest.importorskip("torch")
    from dissect_lrm.eval.backends.hf import sample_token

    logits = torch.log(torch.tensor([0.5, 0.3, 0.2]))

    def draws(**kw):
        return {sample_token(logits, 1.0, 1.0, torch.Generator().manual_seed(s), **kw) for s in range(200)}

    assert draws() == {0, 1, 2}
    assert draws(top_k=1) == {0} and draws(top_k=2) == {0, 1}
    assert draws(min_p=0.5) == {0, 1}  # 0.2 < 0.5 x 0.5 is dropped, 0.3 stays
