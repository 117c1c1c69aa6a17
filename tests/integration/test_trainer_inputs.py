"""Bad input ends with one clear message naming the problem, never a hang or a deep traceback."""

from __future__ import annotations

import pandas as pd
import pytest

from dissect_lrm.trainer.launcher import run_training
from dissect_lrm.trainer.main import ConfigurationError, check_model_path, check_parquet

pytestmark = pytest.mark.timeout(300)


def _overrides(kit, **replace) -> list[str]:
    values = {
        "+preset": "cpu",
        "data.train_files": str(kit.train_parquet),
        "data.val_files": str(kit.val_parquet),
        "actor_rollout_ref.model.path": str(kit.model_dir),
        "trainer.total_training_steps": "1",
        "data.train_batch_size": "8",  # the tiny train set holds fewer rows than verl's default 1024
        "actor_rollout_ref.actor.ppo_mini_batch_size": "8",
    }
    values.update(replace)
    return [f"{key}={value}" for key, value in values.items()]


def test_check_model_path(tmp_path, tiny_kit, monkeypatch):
    check_model_path(str(tiny_kit.model_dir))
    with pytest.raises(ConfigurationError, match="no such model directory"):
        check_model_path(str(tmp_path / "missing"))
    with pytest.raises(ConfigurationError, match="no config.json"):
        check_model_path(str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ConfigurationError, match="hub downloads are off"):
        check_model_path("deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B")


def test_check_parquet(tmp_path, tiny_kit):
    check_parquet(str(tiny_kit.train_parquet), "data.train_files", "prompt")
    no_truth = tmp_path / "no_truth.parquet"
    pd.DataFrame(
        {"prompt": [[{"role": "user", "content": "hi"}]], "reward_model": [{"style": "rule"}]}
    ).to_parquet(no_truth)
    with pytest.raises(ConfigurationError, match="ground_truth"):
        check_parquet(str(no_truth), "data.train_files", "prompt")
    no_prompt = tmp_path / "no_prompt.parquet"
    pd.DataFrame({"question": ["q"], "answer": ["a"]}).to_parquet(no_prompt)
    with pytest.raises(ConfigurationError, match=r"lacks column\(s\) \['prompt', 'reward_model'\]"):
        check_parquet(str(no_prompt), "data.train_files", "prompt")
    text = tmp_path / "not.parquet"
    text.write_text("hello")
    with pytest.raises(ConfigurationError, match="not a readable parquet"):
        check_parquet(str(text), "data.val_files", "prompt")
    with pytest.raises(ConfigurationError, match="does not exist"):
        check_parquet(str(tmp_path / "absent.parquet"), "data.val_files", "prompt")


def test_missing_model_path_is_one_clear_message(tmp_path, tiny_kit):
    run = run_training(
        _overrides(tiny_kit, **{"actor_rollout_ref.model.path": str(tmp_path / "nope")}),
        tmp_path,
        timeout_s=120,
    )
    assert run.returncode == 2
    assert f"actor_rollout_ref.model.path={tmp_path / 'nope'}: no such model directory" in run.output
    assert "Traceback" not in run.output


def test_parquet_without_columns_is_one_clear_message(tmp_path, tiny_kit):
    bad = tmp_path / "bad.parquet"
    pd.DataFrame({"question": ["q"]}).to_parquet(bad)
    run = run_training(_overrides(tiny_kit, **{"data.train_files": str(bad)}), tmp_path, timeout_s=120)
    assert run.returncode == 2
    assert f"data.train_files: {bad} lacks column(s)" in run.output


def test_unknown_preset_lists_the_available_ones(tmp_path, tiny_kit):
    run = run_training(_overrides(tiny_kit, **{"+preset": "tpu"}), tmp_path, timeout_s=120)
    assert run.returncode != 0
    assert "Could not find 'preset/tpu'" in run.output
    assert "cpu" in run.output.split("Available options", 1)[1]


def test_ray_failing_to_start_is_reported(tmp_path, tiny_kit):
    run = run_training(
        _overrides(tiny_kit, **{"ray_kwargs.ray_init.num_cpus": "-1"}), tmp_path, timeout_s=180
    )
    assert run.returncode == 2
    assert "dissect-lrm: error: Ray failed to start" in run.output
    assert run.last_phase == "starting ray"


def test_invalid_verl_config_is_one_clear_message(tmp_path, tiny_kit):
    run = run_training(
        _overrides(tiny_kit, **{"actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu": "null"}),
        tmp_path,
        timeout_s=120,
    )
    assert run.returncode == 2
    assert "dissect-lrm: error: invalid verl config:" in run.output
    assert "ppo_micro_batch_size_per_gpu" in run.output


def _compose(*overrides: str):
    from hydra import compose, initialize_config_module

    with initialize_config_module(config_module="dissect_lrm.trainer.config", version_base=None):
        return compose("dissect_trainer", overrides=["+preset=cpu", *overrides])


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["algorithm.rlr.alpha=1.5"], "algorithm.rlr.alpha: must be in [0, 1], got 1.5"),
        (["algorithm.rlr.eps_low=2"], "algorithm.rlr.eps_low: must be <= eps_up"),
        (
            ["algorithm.sample_filter.mode=both_ways"],
            "algorithm.sample_filter.mode: unknown value 'both_ways'",
        ),
        (["+algorithm.sample_filter.typo=1"], "unknown config key algorithm.sample_filter.typo"),
        (["algorithm.injection.gamma=-0.1"], "algorithm.injection.gamma"),
        (["algorithm.schedule='8k:neg,x'"], "schedule stage 2 'x'"),
        (["algorithm.luffy.enable=true"], "needs algorithm.injection.enable=true"),
        (["actor_rollout_ref.actor.policy_loss.loss_mode=luffy"], "needs algorithm.injection.enable=true"),
        (
            [
                "algorithm.injection.enable=true",
                "algorithm.luffy.enable=true",
                "algorithm.rollout_correction.rollout_is=token",
            ],
            "cannot be combined with the LUFFY loss",
        ),
    ],
)
def test_algorithm_config_errors_name_the_key(overrides, message):
    from dissect_lrm.trainer.main import check_algorithm

    with pytest.raises(ConfigurationError) as error:
        check_algorithm(_compose(*overrides))
    assert message in str(error.value)


def test_luffy_switch_selects_our_loss_and_config():
    from dissect_lrm.trainer.main import LUFFY_LOSS_CONFIG, check_algorithm

    config = _compose(
        "algorithm.injection.enable=true", "algorithm.luffy.enable=true", "algorithm.luffy.gamma=0.2"
    )
    check_algorithm(config)
    policy_loss = config.actor_rollout_ref.actor.policy_loss
    assert policy_loss.loss_mode == "luffy" and policy_loss._target_ == LUFFY_LOSS_CONFIG
    assert policy_loss.luffy_gamma == 0.2 and policy_loss.luffy_on_policy_clip is True


def test_injection_needs_the_offline_column(tmp_path, tiny_kit):
    from dissect_lrm.trainer.main import check_injection_column

    config = _compose("algorithm.injection.enable=true", f"data.train_files={tiny_kit.train_parquet}")
    with pytest.raises(ConfigurationError, match="has no 'offline_solutions' column"):
        check_injection_column(config)


def test_repetition_penalty_switches_to_the_penalised_reward():
    from dissect_lrm.trainer.main import REPETITION_REWARD_PATH, check_algorithm
    from dissect_lrm.trainer.reward_fn import compute_score

    config = _compose("algorithm.repetition.enable=true", "algorithm.repetition.ngram_size=2")
    check_algorithm(config)
    reward = config.reward.custom_reward_function
    assert reward.path == REPETITION_REWARD_PATH
    kwargs = dict(reward.reward_kwargs)
    # The grader's own kwargs (mode, cascade) stay; the penalty's are added.
    assert kwargs == {
        "mode": "robust",
        "cascade_math_verify": False,
        "repetition_ngram_size": 2,
        "repetition_max_penalty": -0.5,
    }
    looping = "a b a b a b a b\n</think>\n\\boxed{3}"  # 2-grams: ab ba ab ba ab ba ab ... mostly repeats
    wrong = compute_score("synthetic/arith", looping, "4", **kwargs)
    assert wrong["acc"] == 0.0 and wrong["repetitive"] and wrong["score"] < 0
    right = compute_score("synthetic/arith", looping, "3", **kwargs)
    assert right["score"] == 1.0 and not right["repetitive"]  # correct answers are never penalised


def test_train_set_smaller_than_one_batch_is_refused_before_ray(tmp_path, tiny_kit):
    rows = len(pd.read_parquet(tiny_kit.train_parquet))
    run = run_training(
        _overrides(tiny_kit, **{"data.train_batch_size": str(rows + 1)}), tmp_path, timeout_s=120
    )
    assert run.returncode == 2
    assert f"data.train_files hold {rows} rows, fewer than data.train_batch_size={rows + 1}" in run.output
    assert "starting ray" not in run.phases and "Traceback" not in run.output


FEATURES = {
    "sample_filter": ["algorithm.sample_filter.mode=pos"],
    "weights": ["algorithm.sample_filter.weights.pos=0.1"],
    "rlr": ["algorithm.rlr.enable=true"],
    "truncation_mask": ["algorithm.truncation_mask.enable=true"],
    "injection": ["algorithm.injection.enable=true"],
    "luffy": ["algorithm.injection.enable=true", "algorithm.luffy.enable=true"],
}
WRONG_PATHS = {
    "plain verl trainer": (["trainer.v1.trainer_mode=sync"], "trainer.v1.trainer_mode=sync"),
    "multi-turn": (
        ["actor_rollout_ref.rollout.multi_turn.enable=true"],
        "actor_rollout_ref.rollout.multi_turn.enable=True",
    ),
    "tool agent loop": (
        ["actor_rollout_ref.rollout.agent.default_agent_loop=tool_agent"],
        "actor_rollout_ref.rollout.agent.default_agent_loop=tool_agent",
    ),
}


@pytest.mark.parametrize("path", sorted(WRONG_PATHS))
@pytest.mark.parametrize("feature", sorted(FEATURES))
def test_a_feature_on_a_path_where_it_would_not_act_is_refused(feature, path):
    from dissect_lrm.trainer.main import check_algorithm, check_wiring

    overrides, key = WRONG_PATHS[path]
    config = _compose(*FEATURES[feature], *overrides)
    check_algorithm(config)
    with pytest.raises(ConfigurationError) as error:
        check_wiring(config)
    assert key in str(error.value)
    assert FEATURES[feature][-1].split("=")[0].rsplit(".", 1)[0] in str(error.value)


@pytest.mark.parametrize("estimator", ["grpo", "gae", "rloo"])
def test_length_reward_with_another_estimator_is_refused(estimator):
    from dissect_lrm.trainer.main import check_wiring

    with pytest.raises(ConfigurationError, match=f"algorithm.adv_estimator={estimator}"):
        check_wiring(_compose("algorithm.rlr.enable=true", f"algorithm.adv_estimator={estimator}"))


@pytest.mark.parametrize(
    "setting",
    [
        "algorithm.rollout_correction.rollout_is=token",
        "algorithm.rollout_correction.rollout_is=sequence",
        "algorithm.rollout_correction.rollout_rs=token_k1",
        "algorithm.rollout_correction.rollout_rs=seq_mean_k1",
        "algorithm.rollout_correction.rollout_rs=seq_max_k2",
        "algorithm.rollout_correction.bypass_mode=true",
        "distillation.enabled=true",
        "actor_rollout_ref.rollout.enable_rollout_routing_replay=true",
    ],
)
def test_injection_refuses_every_setting_it_cannot_honour(setting):
    from dissect_lrm.trainer.main import check_wiring

    key = setting.split("=")[0]
    with pytest.raises(ConfigurationError, match=key.replace(".", r"\.")):
        check_wiring(_compose("algorithm.injection.enable=true", setting))
    check_wiring(_compose(setting))  # without injection, verl's correction is verl's business


def test_features_on_our_trainer_pass_and_seq_mean_filtering_warns():
    from dissect_lrm.trainer.main import check_wiring

    assert check_wiring(_compose(*FEATURES["luffy"], *FEATURES["rlr"], *FEATURES["sample_filter"])) == []
    for mode in ("seq-mean-token-sum", "seq-mean-token-mean", "seq-mean-token-sum-norm"):
        warnings = check_wiring(
            _compose("algorithm.sample_filter.mode=neg", f"actor_rollout_ref.actor.loss_agg_mode={mode}")
        )
        assert len(warnings) == 1 and f"loss_agg_mode={mode}" in warnings[0]
    assert check_wiring(_compose("actor_rollout_ref.actor.loss_agg_mode=seq-mean-token-mean")) == []
