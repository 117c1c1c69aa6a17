"""Our v1 trainer: verl's sync trainer plus hook points where the paper's features act on a step.

The step order is verl's (``PPOTrainer._step_once``): sample finished rollouts (rewards already
computed by the reward loop) -> balance -> old/ref log-probs -> advantage -> actor update. We add
four hook points, each a list of ``StepHook`` objects built from the config:

* ``after_reward``         — before balancing; rows are real samples only (offline injection).
* ``after_advantage``      — advantages are final (sample filter: zero ``response_mask``).
* ``before_actor_update``  — last look at the batch before the optimizer step.
* ``step_metrics``         — after verl's own step metrics, to add ``dissect/*`` metrics.

Hooks move data between TransferQueue and ``dissect_lrm.algos``; the math lives there.
"""

from __future__ import annotations

import logging

import numpy as np
import torch
import transfer_queue as tq
from transfer_queue import KVBatchMeta
from verl.trainer.ppo.v1.trainer_base import register_trainer
from verl.trainer.ppo.v1.trainer_sync import PPOTrainerSync

from dissect_lrm.algos.grouping import dense_group_index, group_outcome_fractions
from dissect_lrm.trainer.phases import announce_phase

logger = logging.getLogger(__name__)

TRAINER_MODE = "dissect_sync"


class StepHook:
    """One feature's view of a training step. Override only the hook points the feature needs."""

    name = "hook"

    def after_reward(self, trainer: DissectTrainer, batch: KVBatchMeta, metrics: dict) -> KVBatchMeta:
        return batch

    def after_advantage(self, trainer: DissectTrainer, batch: KVBatchMeta, metrics: dict) -> KVBatchMeta:
        return batch

    def before_actor_update(self, trainer: DissectTrainer, batch: KVBatchMeta, metrics: dict) -> KVBatchMeta:
        return batch

    def step_metrics(self, trainer: DissectTrainer, batch: KVBatchMeta, metrics: dict) -> None:
        return None


def non_tensor_values(field) -> list:
    """Python values of a TransferQueue non-tensor field (stacked or linked-list storage)."""
    values = field.tolist() if hasattr(field, "tolist") else list(field)
    return [getattr(value, "data", value) for value in values]


def read_reward_outcomes(batch: KVBatchMeta) -> tuple[np.ndarray, np.ndarray | None]:
    """(uids, acc) of the batch's samples; ``acc`` is None when the reward function reports no ``acc``."""
    data = tq.kv_batch_get(
        keys=batch.keys, partition_id=batch.partition_id, select_fields=["uid", "extra_fields"]
    )
    uids = np.asarray(non_tensor_values(data["uid"]), dtype=object)
    extra = non_tensor_values(data["extra_fields"])
    infos = [e.get("reward_extra_info", {}) if isinstance(e, dict) else {} for e in extra]
    if not infos or any("acc" not in info for info in infos):
        return uids, None
    return uids, np.asarray([float(info["acc"]) for info in infos], dtype=np.float64)


class RewardOutcomeMetrics(StepHook):
    """Logs the verifier's accuracy and the zero-advantage group fractions of every step."""

    name = "reward_outcome_metrics"

    def after_reward(self, trainer: DissectTrainer, batch: KVBatchMeta, metrics: dict) -> KVBatchMeta:
        uids, acc = read_reward_outcomes(batch)
        if acc is None:
            logger.warning("reward function reports no 'acc'; dissect/acc metrics are not logged")
            return batch
        correct = acc > 0.5
        metrics["dissect/acc/mean"] = float(acc.mean())
        metrics["dissect/samples/correct"] = int(correct.sum())
        metrics["dissect/samples/total"] = int(len(acc))
        group, num_groups = dense_group_index(uids)
        for outcome, fraction in group_outcome_fractions(
            torch.from_numpy(correct), group, num_groups
        ).items():
            metrics[f"dissect/groups/{outcome}_frac"] = fraction
        return batch


def build_hooks(config) -> list[StepHook]:
    """The step hooks a run uses, in the order they act."""
    return [RewardOutcomeMetrics()]


@register_trainer(TRAINER_MODE)
class DissectTrainer(PPOTrainerSync):
    """verl's sync v1 trainer with dissect-lrm's step hooks (select with trainer.v1.trainer_mode)."""

    def __init__(self, config):
        super().__init__(config)
        self.hooks = build_hooks(config)

    def on_init_end(self):
        super().on_init_end()
        announce_phase("workers ready")

    def on_step_begin(self):
        super().on_step_begin()
        announce_phase(f"step {self.global_steps}")

    def _balance_batch(
        self, batch: KVBatchMeta, metrics, logging_prefix="global_seqlen", keep_minibatch=False
    ):
        # First call on a freshly sampled, reward-scored batch: the "after reward" point.
        for hook in self.hooks:
            batch = hook.after_reward(self, batch, metrics)
        return super()._balance_batch(
            batch, metrics, logging_prefix=logging_prefix, keep_minibatch=keep_minibatch
        )

    def _compute_advantage(self, batch: KVBatchMeta, metrics: dict) -> KVBatchMeta:
        batch = super()._compute_advantage(batch, metrics)
        for hook in self.hooks:
            batch = hook.after_advantage(self, batch, metrics)
        return batch

    def _update_actor(self, batch: KVBatchMeta, metrics: dict) -> KVBatchMeta:
        for hook in self.hooks:
            batch = hook.before_actor_update(self, batch, metrics)
        return super()._update_actor(batch, metrics)

    def _compute_metrics(self, batch: KVBatchMeta, metrics, timing_raw, global_steps, epoch):
        super()._compute_metrics(batch, metrics, timing_raw, global_steps, epoch)
        for hook in self.hooks:
            hook.step_metrics(self, batch, metrics)
