"""Our hook points run where the trainer's docstring says, inside verl's real ``_step_once``.

verl 0.9.1 has no public hook between the reward and the balancing of a sampled batch, so our
``after_reward`` point runs first thing in ``_balance_batch``. This pins that, in verl's step, it
runs exactly once, after sampling and before balancing, old log-probs and the advantage.
"""

from __future__ import annotations

from types import SimpleNamespace

from omegaconf import OmegaConf
from verl.trainer.ppo.v1.trainer_base import PPOTrainer

from dissect_lrm.trainer.hooks import StepHook
from dissect_lrm.trainer.trainer import DissectTrainer


class Recorder(StepHook):
    def __init__(self, calls: list[str]) -> None:
        self.calls = calls

    def after_reward(self, trainer, batch, metrics):
        self.calls.append("hook.after_reward")
        return batch

    def after_advantage(self, trainer, batch, metrics):
        self.calls.append("hook.after_advantage")
        return batch

    def before_actor_update(self, trainer, batch, metrics):
        self.calls.append("hook.before_actor_update")
        return batch


def test_hook_points_run_in_verls_step_order(monkeypatch):
    calls: list[str] = []
    batch = SimpleNamespace(extra_info={}, tags=[])

    def recorder(name):
        def method(self, batch, metrics, *args, **kwargs):
            calls.append(name)
            return batch

        return method

    for name in ("_balance_batch", "_compute_old_log_prob", "_compute_advantage", "_update_actor"):
        monkeypatch.setattr(PPOTrainer, name, recorder(f"verl.{name}"))

    def sample(**kwargs):
        calls.append("verl.sample")
        return batch, {}

    trainer = object.__new__(DissectTrainer)
    trainer.hooks = [Recorder(calls)]
    trainer.skip_actor_update = False
    trainer.global_steps = 1
    trainer.use_reference_policy = False
    trainer.use_critic = False
    trainer.curr_step_profile = False
    trainer.replay_buffer = SimpleNamespace(sample=sample)
    trainer.reward_loop_manager = SimpleNamespace(reward_loop_worker_handles=["remote reward loop"])
    trainer.checkpoint_manager = SimpleNamespace(sleep_replicas=lambda: None)
    trainer.config = OmegaConf.create(
        {"actor_rollout_ref": {"rollout": {"temperature": 1.0}}, "trainer": {"critic_warmup": 0}}
    )
    trainer._step_once({}, {}, 8)
    assert calls == [
        "verl.sample",
        "hook.after_reward",
        "verl._balance_batch",
        "verl._compute_old_log_prob",
        "verl._compute_advantage",
        "hook.after_advantage",
        "hook.before_actor_update",
        "verl._update_actor",
    ]
