"""What the entry point hands to Ray's runtime_env: on a cluster started elsewhere, the workers of other
nodes get their environment from there only (not from the launching shell)."""

from __future__ import annotations

import os

import pytest
from omegaconf import OmegaConf

from dissect_lrm.trainer import main


@pytest.fixture
def clean_environ(monkeypatch):
    saved = dict(os.environ)  # prepare_environment also sets the driver's own environment
    for name in (*main.PASSTHROUGH_ENV, "VERL_PLATFORM", "VERL_ENGINE_DEVICE", "VERL_USE_EXTERNAL_MODULES"):
        os.environ.pop(name, None)
    monkeypatch.setattr(os, "cpu_count", lambda: 4)
    yield monkeypatch
    os.environ.clear()
    os.environ.update(saved)


def test_runtime_env_keeps_the_users_settings_and_adds_ours(clean_environ):
    clean_environ.setenv("WANDB_MODE", "offline")
    clean_environ.setenv("DISSECT_LRM_REWARD_TIMEOUT", "7")
    clean_environ.setenv("PYTHONPATH", "/only/on/this/machine")
    config = OmegaConf.create(
        {
            "trainer": {"device": "cpu"},
            "reward": {"num_workers": 2},
            "ray_kwargs": {
                "ray_init": {
                    "num_cpus": 3,
                    "runtime_env": {"env_vars": {"USER_VAR": "u"}, "working_dir": "/w"},
                }
            },
        }
    )
    main.prepare_environment(config)
    ray_init = OmegaConf.to_container(config.ray_kwargs.ray_init)
    assert ray_init["num_cpus"] == 3
    assert ray_init["runtime_env"] == {
        "working_dir": "/w",
        "env_vars": {
            "USER_VAR": "u",
            "WANDB_MODE": "offline",
            "DISSECT_LRM_REWARD_TIMEOUT": "7",
            "VERL_USE_EXTERNAL_MODULES": "dissect_lrm.trainer.plugin",
            "TOKENIZERS_PARALLELISM": "false",
            "RAY_USAGE_STATS_ENABLED": "0",
            "DISSECT_LRM_REWARD_WORKERS": "2",  # 4 cores shared by 2 reward-loop actors
            "VERL_PLATFORM": "cpu",
            "VERL_ENGINE_DEVICE": "cuda",
        },
    }
    # The driver's own process gets the same settings (verl's TaskRunner reads some of them there).
    assert os.environ["VERL_USE_EXTERNAL_MODULES"] == "dissect_lrm.trainer.plugin"
    assert os.environ["VERL_PLATFORM"] == "cpu"


def test_runtime_env_without_user_settings_on_a_gpu_run(clean_environ):
    clean_environ.setenv("DISSECT_LRM_REWARD_WORKERS", "3")
    config = OmegaConf.create({"trainer": {"device": "cuda"}, "reward": {"num_workers": 1}, "ray_kwargs": {}})
    main.prepare_environment(config)
    assert OmegaConf.to_container(config.ray_kwargs.ray_init) == {
        "runtime_env": {
            "env_vars": {
                "DISSECT_LRM_REWARD_WORKERS": "3",  # the user's choice wins over the per-core default
                "VERL_USE_EXTERNAL_MODULES": "dissect_lrm.trainer.plugin",
                "TOKENIZERS_PARALLELISM": "false",
                "RAY_USAGE_STATS_ENABLED": "0",
            }
        }
    }
