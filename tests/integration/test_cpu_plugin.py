"""Our registrations resolve through verl's own registries, and the CPU platform answers like a device."""

from __future__ import annotations

import subprocess
import sys

import torch

import dissect_lrm.trainer.plugin  # noqa: F401  (registers platform, rollout, losses, as in every Ray process)
from dissect_lrm.trainer.cpu.platform import CPUPlatform, collapse_duplicate_gloo_backend


def test_rollout_trainer_and_platform_are_registered():
    from verl.plugin.platform import PlatformRegistry
    from verl.trainer.ppo.v1 import get_trainer_cls
    from verl.workers.rollout.base import get_rollout_class
    from verl.workers.rollout.replica import get_rollout_replica_class

    from dissect_lrm.trainer.cpu.hf_rollout import HFRolloutReplica, HFServerAdapter
    from dissect_lrm.trainer.trainer import TRAINER_MODE, DissectTrainer

    assert get_trainer_cls(TRAINER_MODE) is DissectTrainer
    assert get_rollout_class("hf", "async") is HFServerAdapter
    assert get_rollout_replica_class("hf") is HFRolloutReplica
    assert PlatformRegistry.get("cpu") is CPUPlatform


def test_the_trainer_is_registered_by_the_task_runner_not_the_plugin():
    """Every Ray process imports the plugin; only the task runner needs the (costly) trainer module."""
    code = (
        "import sys\n"
        "import dissect_lrm.trainer.plugin\n"
        "assert 'dissect_lrm.trainer.trainer' not in sys.modules, 'the plugin imported the trainer'\n"
        "from verl.trainer.main_ppo import TaskRunnerV1\n"
        "from verl.trainer.ppo.v1 import get_trainer_cls\n"
        "from dissect_lrm.trainer.runner import DissectTaskRunner\n"
        "seen = []\n"
        "TaskRunnerV1.__ray_actor_class__.run = lambda self, config: seen.append(get_trainer_cls('dissect_sync'))\n"
        "DissectTaskRunner().run(None)\n"
        "print(seen[0].__module__, seen[0].__name__)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split()[-2:] == ["dissect_lrm.trainer.trainer", "DissectTrainer"]


def test_cpu_platform_is_never_auto_detected_and_maps_to_the_cpu():
    platform = CPUPlatform()
    assert not platform.is_platform_available(use_smi_check=True)
    assert platform.device_name == "cpu"
    assert platform.communication_backend_name() == "gloo"
    # verl uses current_device() as a torch device: it must be a valid CPU device spec.
    assert torch.zeros(1).to(platform.current_device()).device.type == "cpu"
    assert platform.ray_resource_options(1) == {"num_gpus": 1}
    module = platform.device_module
    assert module.is_available() and module.device_count() == 1
    assert module.mem_get_info() == (0, 0) and module.memory_allocated() == 0
    state = module.get_rng_state()
    first = torch.rand(3)
    module.set_rng_state(state)
    assert torch.equal(first, torch.rand(3))


def test_only_the_duplicate_gloo_backend_string_is_rewritten():
    assert collapse_duplicate_gloo_backend("cpu:gloo,cpu:gloo") == "gloo"
    assert collapse_duplicate_gloo_backend("cpu:gloo") == "gloo"
    assert collapse_duplicate_gloo_backend("cpu:gloo,cuda:nccl") == "cpu:gloo,cuda:nccl"
    assert collapse_duplicate_gloo_backend("nccl") == "nccl"
    assert collapse_duplicate_gloo_backend(None) is None
