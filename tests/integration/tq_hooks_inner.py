"""The step hooks' adapters on a real TransferQueue batch (run by test_hook_adapters.py inside a
loopback-only namespace: this module starts Ray). What a hook wrote is read back from TransferQueue."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import ray
import torch
import transfer_queue as tq
from omegaconf import OmegaConf
from transformers import AutoTokenizer
from verl.utils.tensordict_utils import list_of_dict_to_tensordict

from dissect_lrm.algos.config import InjectionConfig, RLRConfig, SampleFilterConfig, TruncationMaskConfig
from dissect_lrm.tiny.tokenizer import build_tokenizer
from dissect_lrm.trainer import hooks

EOS = 7
MAX_RESPONSE_LENGTH = 16
_counter = iter(range(10_000))


@pytest.fixture(scope="module", autouse=True)
def transfer_queue():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    tq.init(OmegaConf.create({"backend": {"SimpleStorage": {"num_data_storage_units": 1}}}))
    yield
    tq.close()
    ray.shutdown()


def _trainer(tokenizer=None, **config):
    base = {
        "data": {"max_response_length": MAX_RESPONSE_LENGTH},
        "reward": {
            "custom_reward_function": {
                "path": "pkg://dissect_lrm.reward.compute_score",
                "name": "compute_score",
                "reward_kwargs": {},
            }
        },
    }
    return SimpleNamespace(
        config=OmegaConf.merge(OmegaConf.create(base), OmegaConf.create(config)),
        tokenizer=tokenizer,
        global_steps=1,
        eos_token_ids=[EOS],
        skip_actor_update=False,
    )


def _put(responses: list[list[int]], acc: list[float], uids: list[str], extra: dict | None = None, tags=None):
    """A verl-like batch: per-token fields as jagged tensors, non-tensor uid and extra_fields."""
    samples = []
    for i, (response, a, uid) in enumerate(zip(responses, acc, uids, strict=True)):
        n = len(response)
        rm_scores = torch.zeros(n)
        rm_scores[-1] = a
        sample = {
            "responses": torch.tensor(response, dtype=torch.int64),
            "response_mask": torch.ones(n, dtype=torch.int64),
            "loss_mask": torch.ones(n, dtype=torch.int64),
            "advantages": torch.full((n,), float(i + 1) * (1 if a > 0.5 else -1)),
            "rm_scores": rm_scores,
            "uid": uid,
            "extra_fields": {"reward_extra_info": {"acc": a, "score": a}},
        }
        for key, values in (extra or {}).items():
            sample[key] = values[i]
        samples.append(sample)
    step = next(_counter)
    keys = [f"s{step}_{i}" for i in range(len(samples))]
    tags = tags or [{"seq_len": len(r) + 2} for r in responses]
    return tq.kv_batch_put(
        keys=keys, partition_id="train", fields=list_of_dict_to_tensordict(samples), tags=tags
    )


def _get(batch, field: str) -> list[list[float]]:
    data = tq.kv_batch_get(keys=batch.keys, partition_id=batch.partition_id, select_fields=[field])
    return [row.tolist() for row in data[field].unbind(0)]


def test_sample_filter_writes_both_masks_back():
    batch = _put([[1, 2, EOS], [3, EOS], [4, 5, 6, EOS]], [1.0, 0.0, 1.0], ["a", "a", "b"])
    metrics = {}
    hook = hooks.SampleFilter(SampleFilterConfig(mode="pos"))
    batch = hook.after_advantage(_trainer(), batch, metrics)
    assert _get(batch, "response_mask") == [[1, 1, 1], [0, 0], [1, 1, 1, 1]]
    assert _get(batch, "loss_mask") == [[1, 1, 1], [0, 0], [1, 1, 1, 1]]
    assert metrics["dissect/filter/removed_neg_samples"] == 1


def test_sample_filter_weights_write_the_advantages_back():
    batch = _put([[1, EOS], [3, EOS]], [1.0, 0.0], ["a", "a"])
    settings = SampleFilterConfig.from_mapping({"weights": {"pos": 0.5, "neg": 1.0}})
    batch = hooks.SampleFilter(settings).after_advantage(_trainer(), batch, {})
    assert _get(batch, "advantages") == [[0.5, 0.5], [-2.0, -2.0]]


def test_truncation_mask_reads_the_finish_reason_and_every_eos():
    # row 0 ends with EOS 7; row 1 ends with 8, a second EOS id of the generation config; row 2 has no EOS
    batch = _put([[1, EOS], [3, 8], [4, 5]], [0.0, 0.0, 0.0], ["a", "a", "a"])
    trainer = _trainer()
    trainer.eos_token_ids = [EOS, 8]
    metrics = {}
    batch = hooks.TruncationMask(TruncationMaskConfig(enable=True)).after_advantage(trainer, batch, metrics)
    assert _get(batch, "advantages") == [[-1.0, -1.0], [-2.0, -2.0], [0.0, 0.0]]
    assert metrics["dissect/truncation/masked_samples"] == 1


def test_length_reward_uses_the_configured_limit_and_acc():
    # cosine, limit 16: length 4 -> t = 0.25, c = (1 + cos(pi/4)) / 2; lengths here never reach 16
    batch = _put([[1, 2, 3, EOS], [1, 2, 3, EOS]], [1.0, 0.0], ["a", "a"])
    metrics = {}
    hook = hooks.LengthReward(RLRConfig(enable=True, kind="cosine"))
    batch = hook.after_reward(_trainer(), batch, metrics)
    c = (1 + np.cos(np.pi * 4 / 16)) / 2
    scores = [sum(row) for row in _get(batch, "rm_scores")]
    assert scores == pytest.approx([0.5 + 0.5 * c, -0.5 - 0.5 * c], abs=1e-6)
    assert "dissect/rlr/shaped_group_frac" in metrics


def test_reward_outcome_metrics_read_acc():
    batch = _put([[1, EOS], [2, EOS], [3, EOS]], [1.0, 0.0, 0.0], ["a", "a", "b"])
    metrics = {}
    hooks.RewardOutcomeMetrics().after_reward(_trainer(), batch, metrics)
    assert metrics["dissect/samples/correct"] == 1
    assert metrics["dissect/groups/mixed_frac"] == 0.5 and metrics["dissect/groups/all_wrong_frac"] == 0.5


def test_injection_replaces_wrong_rows_with_fitting_solutions_and_flags_them(tmp_path):
    tokenizer_dir = tmp_path / "tok"
    build_tokenizer(tokenizer_dir)
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    eos = tokenizer.eos_token_id
    good = "1 + 2 = 3\n</think>\n\\boxed{3}"
    too_long = "Let me think for a very long time before I answer. " * 4 + good
    n_good = len(tokenizer(good, add_special_tokens=False)["input_ids"]) + 1
    assert n_good <= MAX_RESPONSE_LENGTH < len(tokenizer(too_long, add_special_tokens=False)["input_ids"])
    rows = 4
    prompt = torch.tensor([11, 12], dtype=torch.int64)
    responses = [[20, 21, eos]] * 3 + [[22, eos]]
    extra = {
        "offline_solutions": [[too_long, good]] * 3 + [[good]],
        "prompts": [prompt] * rows,
        "input_ids": [torch.cat([prompt, torch.tensor(r)]) for r in responses],
        "position_ids": [torch.arange(2 + len(r)) for r in responses],
        "data_source": ["synthetic/arith"] * rows,
        "reward_model": [{"ground_truth": "3", "style": "rule"}] * rows,
        "extra_info": [{"index": 0}] * rows,
        "rollout_log_probs": [torch.full((len(r),), -1.0) for r in responses],
    }
    # group "a": 3 wrong rows; group "b": 1 wrong row. gamma 0.125 -> both qualify.
    batch = _put(responses, [0.0, 0.0, 0.0, 0.0], ["a", "a", "a", "b"], extra=extra)
    trainer = _trainer(tokenizer)
    trainer.eos_token_ids = [eos]
    hook = hooks.OfflineInjection(InjectionConfig(enable=True, max_inject=-1), luffy=True)
    metrics = {}
    batch = hook.after_reward(trainer, batch, metrics)
    # group a: one fitting solution of two (the long one is dropped before selection) -> one row replaced
    assert metrics["dissect/injection/dropped_too_long"] == 1
    assert metrics["dissect/injection/injected_samples"] == 2
    assert metrics["dissect/injection/injected_correct"] == 2
    flagged = [bool(tag.get("offline_injected")) for tag in batch.tags]
    assert sum(flagged[:3]) == 1 and flagged[3]
    lengths = [len(row) for row in _get(batch, "response_mask")]
    assert [n for n, f in zip(lengths, flagged, strict=True) if f] == [n_good, n_good]
    accs = [
        e["reward_extra_info"]["acc"]
        for e in hooks.non_tensor_values(
            tq.kv_batch_get(keys=batch.keys, partition_id="train", select_fields=["extra_fields"])[
                "extra_fields"
            ]
        )
    ]
    assert [a for a, f in zip(accs, flagged, strict=True) if f] == [1.0, 1.0]
    # before the update every injected token is marked off-policy, on both channels
    batch = hook.before_actor_update(trainer, batch, metrics)
    for field in ("offpolicy_mask", "rollout_is_weights"):
        marks = _get(batch, field)
        assert [
            all(v == 1.0 for v in row) if f else not any(row) for row, f in zip(marks, flagged, strict=True)
        ] == [True] * rows


def test_sample_filter_spreads_kept_rows_over_the_update_mini_batches():
    batch = _put([[1, EOS], [2, EOS], [3, EOS], [4, EOS]], [1.0, 1.0, 0.0, 0.0], ["a", "a", "a", "a"])
    trainer = _trainer(
        actor_rollout_ref={"actor": {"ppo_mini_batch_size": 1, "shuffle": False}, "rollout": {"n": 2}}
    )
    trainer.actor_dp_size = lambda: 1
    hook = hooks.SampleFilter(SampleFilterConfig(mode="pos"))
    keys = list(batch.keys)
    batch = hook.after_advantage(trainer, batch, {})
    metrics = {}
    batch = hook.before_actor_update(trainer, batch, metrics)
    # mini-batches of 2 rows: the two kept rows no longer share the first one
    assert batch.keys == [keys[0], keys[2], keys[1], keys[3]]
    assert [sum(row) for row in _get(batch, "loss_mask")] == [2, 0, 2, 0]
    assert metrics["dissect/filter/empty_mini_batches"] == 0
