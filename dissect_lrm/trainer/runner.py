"""The Ray task runner of our runs: verl's v1 TaskRunner that registers our trainer where it runs.

Our trainer (``dissect_lrm.trainer.trainer``) subclasses verl's v1 trainer, whose module pulls in the
agent loop, TransferQueue and tensordict: about 3 CPU-seconds of imports. Registered from the plugin,
that cost was paid by every Ray process of a run (FSDP workers, rollout servers, storage units...),
though only the task runner looks the trainer up. Ray imports this module where the runner actor lives,
and its ``run`` imports the trainer first, so registration happens in that one process.
"""

from __future__ import annotations

import ray
from verl.trainer.main_ppo import TaskRunnerV1


class DissectTaskRunner(TaskRunnerV1.__ray_actor_class__):
    """verl's ``TaskRunnerV1``, with ``trainer.v1.trainer_mode=dissect_sync`` registered before it runs."""

    def run(self, config):
        from dissect_lrm.trainer import trainer  # noqa: F401  (registers DissectTrainer in this process)

        return super().run(config)


def task_runner_class():
    """The Ray actor class ``run_ppo`` starts (built on call: ``ray.remote`` wants no cluster yet)."""
    return ray.remote(DissectTaskRunner)
