"""Step hooks: how each paper feature acts on a training step (data in TransferQueue, math in algos).

A hook is a thin adapter: it reads the fields it needs from TransferQueue, calls a pure function of
``dissect_lrm.algos`` (``algos/step.py`` for what a feature does to a batch) and writes the result
back. Per-step state travels with the batch (row tags) or the trainer, never in module globals.
``build_hooks`` turns the validated ``algorithm.*`` config into the list our trainer runs.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from typing import TYPE_CHECKING

import numpy as np
import torch
import transfer_queue as tq
from tensordict import TensorDict
from transfer_queue import KVBatchMeta
from verl.utils.tensordict_utils import list_of_dict_to_tensordict
from verl.workers.utils.padding import response_to_nested

from dissect_lrm.algos.config import (
    AlgosConfig,
    InjectionConfig,
    RLRConfig,
    SampleFilterConfig,
    TruncationMaskConfig,
)
from dissect_lrm.algos.grouping import dense_group_index, group_accuracy, group_outcome_fractions
from dissect_lrm.algos.injection import fits_response_length, layout_offline_responses, select_injection
from dissect_lrm.algos.step import (
    apply_length_reward,
    apply_sample_filter,
    apply_truncation_mask,
    offpolicy_token_mask,
    spread_kept_rows,
    verified_correct,
)
from dissect_lrm.algos.truncation import is_truncated

if TYPE_CHECKING:
    from dissect_lrm.trainer.trainer import DissectTrainer

logger = logging.getLogger(__name__)

# Per-sample fields an injected row cannot inherit from the online sample it replaces (they describe
# that sample's tokens or inputs); injection refuses batches that carry them.
STALE_ROW_FIELDS = ("routed_experts", "teacher_ids", "teacher_logprobs", "multi_modal_inputs")


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


# ----------------------------------------------------------------------------- TransferQueue access


def non_tensor_values(field) -> list:
    """Python values of a TransferQueue non-tensor field (stacked or linked-list storage)."""
    values = field.tolist() if hasattr(field, "tolist") else list(field)
    return [getattr(value, "data", value) for value in values]


def real_rows(batch: KVBatchMeta) -> torch.Tensor:
    """Bool (bs,): rows that are real samples, not the no-op padding verl adds when balancing."""
    return torch.tensor([not tag.get("is_padding", False) for tag in batch.tags], dtype=torch.bool)


def read_reward_outcomes(batch: KVBatchMeta) -> tuple[np.ndarray, np.ndarray | None]:
    """(uids, acc) of the batch's rows; ``acc`` is None when the reward function reports no ``acc``."""
    data = tq.kv_batch_get(
        keys=batch.keys, partition_id=batch.partition_id, select_fields=["uid", "extra_fields"]
    )
    uids = np.asarray(non_tensor_values(data["uid"]), dtype=object)
    infos = [
        e.get("reward_extra_info", {}) if isinstance(e, dict) else {}
        for e in non_tensor_values(data["extra_fields"])
    ]
    if not infos or any("acc" not in info for info in infos):
        return uids, None
    return uids, np.asarray([float(info["acc"]) for info in infos], dtype=np.float64)


def injected_rows(batch: KVBatchMeta) -> torch.Tensor:
    """Bool (bs,): rows holding an injected offline solution (flagged in the row's tags)."""
    flags = [tag.get("offline_injected", False) and not tag.get("is_padding", False) for tag in batch.tags]
    return torch.tensor(flags, dtype=torch.bool)


def read_extra_fields(batch: KVBatchMeta) -> list[dict]:
    """Each row's ``extra_fields`` dict (the rollout's and the reward's per-sample extras)."""
    data = tq.kv_batch_get(keys=batch.keys, partition_id=batch.partition_id, select_fields=["extra_fields"])
    return [e if isinstance(e, dict) else {} for e in non_tensor_values(data["extra_fields"])]


def read_padded(batch: KVBatchMeta, fields: list[str]) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """Per-token fields as padded (bs, T) tensors, plus the nested response_mask that gives their lengths."""
    data = tq.kv_batch_get(keys=batch.keys, partition_id=batch.partition_id, select_fields=fields)
    nested_mask = data["response_mask"]
    padded = data.to_padded_tensor()
    return {name: padded[name] for name in fields}, nested_mask


def write_padded(
    batch: KVBatchMeta, fields: dict[str, torch.Tensor], nested_mask: torch.Tensor
) -> KVBatchMeta:
    nested = {name: response_to_nested(tensor, nested_mask) for name, tensor in fields.items()}
    return tq.kv_batch_put(
        keys=batch.keys, partition_id=batch.partition_id, fields=TensorDict(nested, batch_size=len(batch))
    )


# ----------------------------------------------------------------------------- hooks


def verifier_correct(batch: KVBatchMeta, feature: str) -> torch.Tensor:
    """``(bs,)`` the verifier's decisions; a feature that needs them refuses a reward without ``acc``."""
    _, acc = read_reward_outcomes(batch)
    if acc is None:
        raise RuntimeError(f"{feature} needs a reward function that reports 'acc' (the verifier's decision)")
    return verified_correct(acc)


class RewardOutcomeMetrics(StepHook):
    """Logs the verifier's accuracy and the zero-advantage group fractions of every step (Fig. 2, 6)."""

    name = "reward_outcome_metrics"

    def after_reward(self, trainer: DissectTrainer, batch: KVBatchMeta, metrics: dict) -> KVBatchMeta:
        uids, acc = read_reward_outcomes(batch)
        if acc is None:
            logger.warning("reward function reports no 'acc'; dissect/acc metrics are not logged")
            return batch
        correct = verified_correct(acc)
        metrics["dissect/acc/mean"] = float(acc.mean())
        metrics["dissect/samples/correct"] = int(correct.sum())
        metrics["dissect/samples/total"] = len(acc)
        group, num_groups = dense_group_index(uids)
        for outcome, fraction in group_outcome_fractions(correct, group, num_groups).items():
            metrics[f"dissect/groups/{outcome}_frac"] = fraction
        return batch


class LengthReward(StepHook):
    """Length shaping of the outcome reward (Table 3, eq. 6-7): decided on the verifier's ``acc`` and
    written into ``rm_scores`` before balancing, so the advantage's group statistics include it."""

    name = "length_reward"

    def __init__(self, settings: RLRConfig) -> None:
        self.settings = settings

    def after_reward(self, trainer: DissectTrainer, batch: KVBatchMeta, metrics: dict) -> KVBatchMeta:
        uids, acc = read_reward_outcomes(batch)
        if acc is None:
            raise RuntimeError(
                "algorithm.rlr needs a reward function that reports 'acc' (the verifier's decision)"
            )
        fields, nested_mask = read_padded(batch, ["response_mask", "rm_scores"])
        rm_scores, stats = apply_length_reward(
            fields["rm_scores"],
            fields["response_mask"],
            verified_correct(acc),
            uids,
            int(trainer.config.data.max_response_length),
            self.settings,
        )
        metrics.update({f"dissect/rlr/{key}": value for key, value in stats.items()})
        return write_padded(batch, {"rm_scores": rm_scores}, nested_mask)


class TruncationMask(StepHook):
    """Zero the advantage of incorrect truncated rows (cut at the length limit: the rollout's finish
    reason where it reports one, else no EOS id of the generation config among the valid tokens), after
    the group statistics were computed with them; optionally only when also flagged repetitive."""

    name = "truncation_mask"

    def __init__(self, settings: TruncationMaskConfig) -> None:
        self.settings = settings

    def after_advantage(self, trainer: DissectTrainer, batch: KVBatchMeta, metrics: dict) -> KVBatchMeta:
        fields, nested_mask = read_padded(batch, ["response_mask", "advantages", "responses"])
        correct = verifier_correct(batch, "algorithm.truncation_mask")
        infos = read_extra_fields(batch)
        reasons = [info.get("finish_reason", info.get("stop_reason")) for info in infos]
        truncated = is_truncated(
            fields["responses"],
            fields["response_mask"],
            trainer.eos_token_ids,
            finish_reasons=None if all(r is None for r in reasons) else reasons,
        )
        repetitive = None
        if self.settings.require_repetition:
            rewards = [info.get("reward_extra_info", {}) for info in infos]
            repetitive = torch.tensor([bool(info.get("repetitive", False)) for info in rewards])
        advantages, stats = apply_truncation_mask(
            fields["advantages"],
            truncated,
            correct,
            real_rows(batch),
            repetitive,
            self.settings.require_repetition,
        )
        metrics.update({f"dissect/truncation/{key}": int(value) for key, value in stats.items()})
        if stats["masked_samples"]:
            batch = write_padded(batch, {"advantages": advantages}, nested_mask)
        return batch


class SampleFilter(StepHook):
    """Positive/negative sample ablation (Tables 1, 2, 6): after the advantages are computed on the
    whole batch, removed rows leave the loss (``response_mask`` and ``loss_mask`` zeroed), or rows are
    reweighted (see ``dissect_lrm.algos.step.apply_sample_filter``)."""

    name = "sample_filter"

    def __init__(self, settings: SampleFilterConfig) -> None:
        self.settings = settings

    def after_advantage(self, trainer: DissectTrainer, batch: KVBatchMeta, metrics: dict) -> KVBatchMeta:
        settings = self.settings
        fields, nested_mask = read_padded(batch, ["response_mask", "loss_mask", "advantages"])
        correct = None
        if settings.by == "correctness":
            correct = verifier_correct(batch, "algorithm.sample_filter.by=correctness")
        # Seeded per step so a resumed run removes the same samples an uninterrupted run would.
        generator = torch.Generator().manual_seed(settings.seed * 1_000_003 + trainer.global_steps)
        update = apply_sample_filter(
            fields["response_mask"],
            fields["loss_mask"],
            fields["advantages"],
            real_rows(batch),
            settings,
            correct=correct,
            generator=generator,
        )
        metrics.update({f"dissect/filter/{key}": value for key, value in update.stats.items()})
        trainer.skip_actor_update = update.empty
        if update.empty:
            logger.warning(
                "step %s: the sample filter (mode=%s) left no tokens; the actor update is skipped",
                trainer.global_steps,
                settings.mode,
            )
        return write_padded(
            batch,
            {
                "response_mask": update.response_mask,
                "loss_mask": update.loss_mask,
                "advantages": update.advantages,
            },
            nested_mask,
        )

    def before_actor_update(self, trainer: DissectTrainer, batch: KVBatchMeta, metrics: dict) -> KVBatchMeta:
        """Spread the kept rows over the update's mini-batches, so none is left with no token (0/0 loss)."""
        actor = trainer.config.actor_rollout_ref.actor
        if trainer.skip_actor_update or actor.get("shuffle", False):
            return batch  # nothing to update, or verl draws the mini-batches at random
        fields, _ = read_padded(batch, ["response_mask", "loss_mask"])
        dp_size = trainer.actor_dp_size()
        rows = int(actor.ppo_mini_batch_size) * int(trainer.config.actor_rollout_ref.rollout.n) // dp_size
        order, empty = spread_kept_rows(fields["loss_mask"].sum(dim=-1) > 0, dp_size, rows)
        batch.reorder(order.tolist())
        metrics["dissect/filter/empty_mini_batches"] = empty
        if empty:
            logger.warning(
                "step %s: %d update mini-batch(es) hold no kept sample (fewer kept samples than mini-batches); "
                "verl skips their optimizer step",
                trainer.global_steps,
                empty,
            )
        return batch


class OfflineInjection(StepHook):
    """Offline (teacher) sample injection (Fig. 3, eq. 8, appendix B.5).

    After the reward, groups with accuracy <= gamma get up to ``max_inject`` of their online samples
    replaced by verified offline solutions from the dataset column ``algorithm.injection.column``. The
    solutions are tokenised to the rollout's layout (truncated to the maximum response length, EOS
    appended when missing), scored by the run's own reward function, and written over the replaced
    samples in TransferQueue, so log-probs, advantages (over the union of online and offline samples)
    and the update all see them. After balancing, every row gets a per-token ``offpolicy_mask``; with
    the LUFFY loss the same mask is also written to ``rollout_is_weights``, the one per-token field
    verl forwards to a registered policy loss.
    """

    name = "offline_injection"

    def __init__(self, settings: InjectionConfig, luffy: bool) -> None:
        self.settings = settings
        self.luffy = luffy
        self._reward_fn = None

    def _score(self, trainer: DissectTrainer, **kwargs) -> dict:
        if self._reward_fn is None:
            from verl.trainer.ppo.reward import get_custom_reward_fn

            self._reward_fn = get_custom_reward_fn(trainer.config)
            if self._reward_fn is None:
                raise RuntimeError(
                    "offline injection scores with reward.custom_reward_function, which is not set"
                )
        result = self._reward_fn(**kwargs)
        if inspect.isawaitable(result):
            result = asyncio.run(result)
        return dict(result) if isinstance(result, dict) else {"score": float(result), "acc": float(result)}

    def after_reward(self, trainer: DissectTrainer, batch: KVBatchMeta, metrics: dict) -> KVBatchMeta:
        settings = self.settings
        column_fields = [
            "uid",
            "extra_fields",
            settings.column,
            "prompts",
            "data_source",
            "reward_model",
            "extra_info",
        ]
        data = tq.kv_batch_get(keys=batch.keys, partition_id=batch.partition_id, select_fields=column_fields)
        uids = np.asarray(non_tensor_values(data["uid"]), dtype=object)
        extra_fields = non_tensor_values(data["extra_fields"])
        correct = verifier_correct(batch, "algorithm.injection")
        offline = [
            list(value) if value is not None else [] for value in non_tensor_values(data[settings.column])
        ]
        group, num_groups = dense_group_index(uids)
        first_row = torch.full((num_groups,), len(uids), dtype=torch.long).scatter_reduce(
            0, group, torch.arange(len(uids)), reduce="amin"
        )
        tokenizer = trainer.tokenizer
        max_length = int(trainer.config.data.max_response_length)
        low_accuracy = group_accuracy(correct, group, num_groups) <= settings.gamma
        group_solutions: list[list[str]] = []
        dropped = 0
        for g, row in enumerate(first_row.tolist()):
            solutions = offline[row] if bool(low_accuracy[g]) else []
            if solutions:
                # A solution longer than the limit would be cut, re-scored as wrong and injected as an
                # off-policy negative: only solutions that fit are candidates.
                ids = [tokenizer(text, add_special_tokens=False)["input_ids"] for text in solutions]
                fits = fits_response_length(ids, max_length, tokenizer.eos_token_id)
                dropped += int((~fits).sum())
                solutions = [text for text, ok in zip(solutions, fits.tolist(), strict=True) if ok]
            group_solutions.append(solutions)
        generator = torch.Generator().manual_seed(settings.seed * 1_000_003 + trainer.global_steps)
        plan = select_injection(
            correct,
            group,
            num_groups,
            torch.tensor([len(s) for s in group_solutions]),
            gamma=settings.gamma,
            max_inject=settings.max_inject,
            policy=settings.policy,
            generator=generator,
        )
        metrics.update({f"dissect/injection/{key}": value for key, value in plan.stats.items()})
        metrics["dissect/injection/dropped_too_long"] = dropped
        if plan.rows.numel() == 0:
            metrics["dissect/injection/injected_correct"] = 0
            return batch
        stale = sorted(set(batch.fields or ()) & set(STALE_ROW_FIELDS))
        if stale:
            raise RuntimeError(
                f"offline injection cannot rewrite the per-sample fields {stale} of the replaced rows; "
                "turn algorithm.injection off for runs that produce them"
            )

        rows = plan.rows.tolist()
        texts = [
            group_solutions[int(group[r])][int(i)]
            for r, i in zip(rows, plan.offline_index.tolist(), strict=True)
        ]
        token_ids = [tokenizer(text, add_special_tokens=False)["input_ids"] for text in texts]
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        responses, masks = layout_offline_responses(token_ids, max_length, tokenizer.eos_token_id, pad)
        prompts = data["prompts"]
        data_sources = non_tensor_values(data["data_source"])
        reward_models = non_tensor_values(data["reward_model"])
        extra_infos = non_tensor_values(data["extra_info"])
        has_rollout_log_probs = batch.fields is None or "rollout_log_probs" in batch.fields
        new_samples, new_tags, injected_correct = [], [], 0
        for i, row in enumerate(rows):
            length = int(masks[i].sum())
            response = responses[i, :length]
            prompt = prompts[row]
            # Scored exactly as the reward loop scores a rollout: the decoded response only.
            result = self._score(
                trainer,
                data_source=data_sources[row],
                solution_str=tokenizer.decode(response.tolist(), skip_special_tokens=True),
                ground_truth=reward_models[row]["ground_truth"],
                extra_info=extra_infos[row],
            )
            injected_correct += bool(verified_correct([result.get("acc", result["score"])]).item())
            rm_scores = torch.zeros(length, dtype=torch.float32)
            rm_scores[-1] = float(result["score"])
            input_ids = torch.cat([prompt, response])
            sample = {
                "responses": response,
                "response_mask": torch.ones(length, dtype=torch.int64),
                "loss_mask": torch.ones(length, dtype=torch.int64),
                "input_ids": input_ids,
                "position_ids": torch.arange(input_ids.numel(), dtype=torch.int64),
                "rm_scores": rm_scores,
                "extra_fields": {**extra_fields[row], "reward_extra_info": result, "offline_injected": True},
            }
            if has_rollout_log_probs:
                # The behaviour policy of an offline solution is the teacher: probability taken as 1. No verl
                # rollout correction reads it: start-up refuses rollout_is / rollout_rs / bypass_mode together
                # with injection (each would reweight, reject or re-anchor these rows).
                sample["rollout_log_probs"] = torch.zeros(length, dtype=torch.float32)
            new_samples.append(sample)
            tag = dict(batch.tags[row])
            # The off-policy flag travels with the row (tags follow every reorder of the batch).
            tag.update(response_len=length, seq_len=int(prompt.numel()) + length, offline_injected=True)
            new_tags.append(tag)
            batch.tags[row] = tag
        keys = [batch.keys[r] for r in rows]
        tq.kv_batch_put(
            keys=keys,
            partition_id=batch.partition_id,
            fields=list_of_dict_to_tensordict(new_samples),
            tags=new_tags,
        )
        metrics["dissect/injection/injected_correct"] = injected_correct
        return batch

    def before_actor_update(self, trainer: DissectTrainer, batch: KVBatchMeta, metrics: dict) -> KVBatchMeta:
        fields, nested_mask = read_padded(batch, ["response_mask"])
        offpolicy = offpolicy_token_mask(fields["response_mask"], injected_rows(batch))
        valid_tokens = int(fields["response_mask"].sum())
        metrics["dissect/injection/offpolicy_token_frac"] = float(offpolicy.sum()) / max(valid_tokens, 1)
        out = {"offpolicy_mask": offpolicy}
        if self.luffy:
            out["rollout_is_weights"] = offpolicy
        return write_padded(batch, out, nested_mask)


def build_hooks(settings: AlgosConfig) -> list[StepHook]:
    """The step hooks a run uses, in the order they act (injection before the length reward, so offline
    rows are shaped too; truncation mask before the filter, so the filter's counts see the final
    advantages)."""
    hooks: list[StepHook] = []
    if settings.injection.enable:
        # First: the outcome metrics below then describe the batch that is actually trained on.
        hooks.append(OfflineInjection(settings.injection, luffy=settings.luffy.enable))
    hooks.append(RewardOutcomeMetrics())
    if settings.rlr.enable:
        hooks.append(LengthReward(settings.rlr))
    if settings.truncation_mask.enable:
        hooks.append(TruncationMask(settings.truncation_mask))
    sample_filter = settings.sample_filter
    if sample_filter.mode != "both" or sample_filter.class_weights() != (1.0, 1.0):
        hooks.append(SampleFilter(sample_filter))
    return hooks
