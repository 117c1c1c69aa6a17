"""Our v1 trainer: verl's sync trainer plus hook points where the paper's features act on a step.

The step order is verl's (``PPOTrainer._step_once``): sample finished rollouts (rewards already
computed by the reward loop) -> balance -> old/ref log-probs -> advantage -> actor update. We add
four hook points, each running the ``StepHook`` list built from ``algorithm.*`` (see hooks.py):

* ``after_reward``         — before balancing; rows are real samples only (offline injection, length
                             reward). verl 0.9.1 has no public point between the reward and the
                             balancing of a sampled batch, so it runs first thing in ``_balance_batch``,
                             which ``_step_once`` calls exactly once per step, right after the reward
                             (tests/unit/trainer/test_trainer_order.py pins that order).
* ``after_advantage``      — advantages are final (sample filter: zero ``response_mask``).
* ``before_actor_update``  — last look at the batch before the optimizer step.
* ``step_metrics``         — after verl's own step metrics, to add ``dissect/*`` metrics.
"""

from __future__ import annotations

import functools
import logging
from collections import defaultdict

import numpy as np
from transfer_queue import KVBatchMeta
from verl.trainer.ppo.v1.trainer_base import register_trainer
from verl.trainer.ppo.v1.trainer_sync import PPOTrainerSync

from dissect_lrm.eval.stats import accuracy_histogram
from dissect_lrm.trainer.hooks import build_hooks
from dissect_lrm.trainer.phases import announce_phase
from dissect_lrm.trainer.settings import algos_config

logger = logging.getLogger(__name__)

TRAINER_MODE = "dissect_sync"


def validation_stability_metrics(data_sources, sample_uids, acc_values) -> dict[str, float]:
    """Per validation set: avg@n and the uncertain-problem ratio, with the evaluation framework's code."""
    per_problem: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for source, uid, acc in zip(data_sources, sample_uids, acc_values, strict=True):
        if acc is not None:
            per_problem[source][uid].append(float(acc))
    metrics = {}
    for source, problems in per_problem.items():
        accuracy = np.array([np.mean(runs) for runs in problems.values()])
        runs = min(len(r) for r in problems.values())
        histogram = accuracy_histogram(accuracy)
        prefix = f"dissect-val/{source}"
        metrics[f"{prefix}/avg@{runs}"] = float(accuracy.mean())
        metrics[f"{prefix}/uncertain_ratio"] = histogram["uncertain_ratio"]
        metrics[f"{prefix}/all_correct_ratio"] = histogram["all_correct_ratio"]
        metrics[f"{prefix}/all_wrong_ratio"] = histogram["all_wrong_ratio"]
        metrics[f"{prefix}/num_problems"] = float(len(accuracy))
    return metrics


def generation_eos_token_ids(tokenizer, model_path: str) -> list[int]:
    """Every id that ends a response: the tokenizer's EOS and the model's generation-config EOS ids."""
    ids = [] if tokenizer.eos_token_id is None else [int(tokenizer.eos_token_id)]
    try:
        from transformers import GenerationConfig

        generation = GenerationConfig.from_pretrained(str(model_path))
    except (OSError, ValueError):  # no generation_config.json: the tokenizer's EOS is all there is
        return ids
    extra = generation.eos_token_id
    extra = [] if extra is None else [extra] if isinstance(extra, int) else list(extra)
    return sorted(set(ids) | {int(i) for i in extra})


@register_trainer(TRAINER_MODE)
class DissectTrainer(PPOTrainerSync):
    """verl's sync v1 trainer with dissect-lrm's step hooks (select with trainer.v1.trainer_mode)."""

    def __init__(self, config):
        super().__init__(config)
        self.settings = algos_config(config.algorithm)
        self.settings.validate()
        self.hooks = build_hooks(self.settings)
        self.skip_actor_update = False
        logger.info("dissect-lrm step hooks: %s", [hook.name for hook in self.hooks])

    @functools.cached_property
    def eos_token_ids(self) -> list[int]:
        """Every EOS id of the run's tokenizer and generation config (the tokenizer exists after init)."""
        return generation_eos_token_ids(self.tokenizer, self.config.actor_rollout_ref.model.path)

    def actor_dp_size(self) -> int:
        """Data-parallel size of the actor (verl caches its dispatch info while balancing the batch)."""
        role = "actor"
        if role not in self.actor_rollout_wg._dispatch_info:
            self.actor_rollout_wg._dispatch_info[role] = self.actor_rollout_wg._query_dispatch_info(role)
        return max(self.actor_rollout_wg._dispatch_info[role]) + 1

    def on_init_end(self):
        super().on_init_end()
        announce_phase("workers ready")

    def on_step_begin(self):
        super().on_step_begin()
        self.skip_actor_update = False
        announce_phase(f"step {self.global_steps}")

    def after_reward(self, batch: KVBatchMeta, metrics: dict) -> KVBatchMeta:
        """Our "after reward" hook point: the sampled, reward-scored batch of real rows."""
        for hook in self.hooks:
            batch = hook.after_reward(self, batch, metrics)
        return batch

    def _balance_batch(
        self, batch: KVBatchMeta, metrics, logging_prefix="global_seqlen", keep_minibatch=False
    ):
        # verl offers no public hook between reward and balancing; see the module docstring.
        batch = self.after_reward(batch, metrics)
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
        metrics["dissect/actor_update_skipped"] = float(self.skip_actor_update)
        if self.skip_actor_update:
            # Logged, never silent: nothing is left to learn from (e.g. pos mode on an all-wrong batch).
            logger.warning(
                "step %s: actor update skipped (no tokens left after filtering)", self.global_steps
            )
            return batch
        return super()._update_actor(batch, metrics)

    def _val_metrics_update(
        self, data_sources, sample_uids, reward_extra_infos_dict, sample_turns, expected_acc_counts=None
    ) -> dict[str, float]:
        metrics = super()._val_metrics_update(
            data_sources,
            sample_uids,
            reward_extra_infos_dict,
            sample_turns,
            expected_acc_counts=expected_acc_counts,
        )
        if "acc" in reward_extra_infos_dict:
            metrics.update(
                validation_stability_metrics(data_sources, sample_uids, reward_extra_infos_dict["acc"])
            )
        return metrics

    def _compute_metrics(self, batch: KVBatchMeta, metrics, timing_raw, global_steps, epoch):
        super()._compute_metrics(batch, metrics, timing_raw, global_steps, epoch)
        for hook in self.hooks:
            hook.step_metrics(self, batch, metrics)
