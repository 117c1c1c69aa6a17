"""Config groups: defaults, from_mapping, and one clear error per bad key."""

import pytest

from dissect_lrm.algos.config import AlgosConfig, InjectionConfig, LuffyConfig, RLRConfig, SampleFilterConfig


def test_defaults_are_the_papers_values_and_validate():
    config = AlgosConfig()
    config.validate()
    assert (config.rlr.alpha, config.rlr.lambda_, config.rlr.eps_low, config.rlr.eps_up) == (
        0.75,
        500.0,
        -0.5,
        1.0,
    )
    assert config.injection.gamma == 0.125 and config.luffy.gamma == 0.1 and config.luffy.on_policy_clip
    assert config.sample_filter.mode == "both" and config.sample_filter.by == "correctness"
    assert config.stages() == []


def test_from_mapping_nested_aliases_and_int_to_float():
    config = AlgosConfig.from_mapping(
        {
            "sample_filter": {"mode": "neg", "weights": {"pos": 0, "neg": 1}},
            "rlr": {"enable": True, "lambda": 250, "alpha": 1},
            "injection": {"enable": True},
            "luffy": {"enable": True, "luffy_gamma": 0.2},
            "schedule": "8k:neg,16k:both",
        }
    )
    config.validate()
    assert config.rlr.lambda_ == 250.0 and isinstance(config.rlr.lambda_, float)
    assert config.sample_filter.weights.pos == 0.0 and config.luffy.gamma == 0.2
    assert [stage.max_response_length for stage in config.stages()] == [8192, 16384]


@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        ({"rlr": {"alpha": 1.5}}, r"algorithm\.rlr\.alpha: must be in \[0, 1\], got 1\.5"),
        ({"rlr": {"eps_low": 1.0, "eps_up": 0.5}}, r"algorithm\.rlr\.eps_low: must be <= eps_up"),
        ({"rlr": {"kind": "linear"}}, r"algorithm\.rlr\.kind: unknown value 'linear'"),
        ({"rlr": {"lambda": 0}}, r"algorithm\.rlr\.lambda: must be > 0"),
        ({"injection": {"gamma": -0.1}}, r"algorithm\.injection\.gamma: must be in \[0, 1\]"),
        ({"injection": {"policy": "first"}}, r"algorithm\.injection\.policy: unknown value 'first'"),
        (
            {"injection": {"enable": True, "column": ""}},
            r"algorithm\.injection\.column: injection is enabled",
        ),
        (
            {"sample_filter": {"mode": "positive"}},
            r"algorithm\.sample_filter\.mode: unknown value 'positive'",
        ),
        ({"sample_filter": {"by": "reward"}}, r"algorithm\.sample_filter\.by: unknown value 'reward'"),
        ({"sample_filter": {"keep_ratio": 2}}, r"algorithm\.sample_filter\.keep_ratio: must be in \[0, 1\]"),
        (
            {"sample_filter": {"weights": {"neg": -1}}},
            r"algorithm\.sample_filter\.weights\.neg: must be a number >= 0",
        ),
        ({"luffy": {"enable": True}}, r"loss_mode=luffy needs algorithm\.injection\.enable=true"),
        ({"luffy": {"gamma": 0}}, r"policy_loss\.luffy_gamma: must be in \(0, 1\]"),
        ({"schedule": "8k:nope"}, r"algorithm\.schedule: schedule stage 1 '8k:nope': unknown mode 'nope'"),
        (
            {"truncation_mask": {"require_repetition": True}},
            r"require_repetition=true needs algorithm\.repetition",
        ),
        ({"repetition": {"max_penalty": 1.0}}, r"algorithm\.repetition\.max_penalty: must be <= 0"),
        ({"rlr": {"enable": "yes"}}, r"algorithm\.rlr\.enable: must be true or false"),
    ],
)
def test_validation_errors_name_the_key(mapping, message):
    with pytest.raises(ValueError, match=message):
        AlgosConfig.from_mapping(mapping).validate()


def test_unknown_keys_are_rejected():
    with pytest.raises(ValueError, match=r"unknown config key algorithm\.rlr\.enble; known keys: .*alpha"):
        RLRConfig.from_mapping({"enble": True})
    with pytest.raises(ValueError, match=r"unknown config key algorithm\.cut_down_negative_samples"):
        AlgosConfig.from_mapping({"cut_down_negative_samples": True})


def test_require_column():
    InjectionConfig(enable=True).require_column({"prompt", "offline_solutions"})
    InjectionConfig(enable=False).require_column({"prompt"})
    with pytest.raises(
        ValueError, match=r"algorithm\.injection\.column: dataset has no column 'offline_solutions'"
    ):
        InjectionConfig(enable=True).require_column({"prompt"})


def test_group_from_mapping_none_gives_defaults():
    assert SampleFilterConfig.from_mapping(None) == SampleFilterConfig()
    assert LuffyConfig.from_mapping({"on_policy_clip": False}).on_policy_clip is False
