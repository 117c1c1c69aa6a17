"""Every experiment script of scripts/train runs for real with CPU=1 and its experiment's flags act.

One test per script: ``bash scripts/train/<script>.sh`` with ``CPU=1`` on the shared warm tiny kit (one
step, tiny batch, lengths scaled to 3 tokens per 1k), inside a loopback-only network + PID namespace
with a hard timeout. Each asserts exit 0 and what the paper's experiment changes: the filter's kept
counts, the RLR metrics, the loss aggregation in the logged config, the injection metrics, the stage
lengths and modes of a schedule. The Table-2 schedule is also SIGKILLed mid-stage and resumed (stages
done are kept, the stage under way continues from its checkpoint). A further test composes every
script's GPU-mode command with Hydra.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from safetensors.torch import load_file

from dissect_lrm.trainer.launcher import OFFLINE_ENV, isolated, read_metrics_jsonl, run_bounded

pytestmark = [pytest.mark.e2e, pytest.mark.ray]

REPO = Path(__file__).resolve().parents[2]
SCRIPTS = REPO / "scripts" / "train"
TOKENS_PER_K = 3  # common.sh's CPU default: 8k -> 24 tokens
RUN_TIMEOUT_S = 420


@dataclass
class ScriptRun:
    returncode: int
    output: str
    timed_out: bool
    metrics: dict[int, dict[str, float]]
    output_dir: Path

    def describe(self, tail: int = 60) -> str:
        status = "timed out" if self.timed_out else f"exited with {self.returncode}"
        return f"script {status}. Last output:\n" + "\n".join(self.output.splitlines()[-tail:])


@pytest.fixture(scope="session")
def kit_env(warm_tiny_kit) -> dict[str, str]:
    """The shared warm kit as the scripts' environment, plus its offline-solutions parquet."""
    from dissect_lrm.tiny.__main__ import write_offline_parquet

    root = Path(warm_tiny_kit.model_dir).parent
    offline = write_offline_parquet(root, seed=0)
    return {
        "TINY_KIT_DIR": str(root),
        "MODEL": str(warm_tiny_kit.model_dir),
        "TRAIN_FILES": str(warm_tiny_kit.train_parquet),
        "VAL_FILES": str(warm_tiny_kit.val_parquet),
        "OFFLINE_TRAIN_FILES": str(offline),
    }


def script_env(kit_env: dict[str, str], workdir: Path, **env: str) -> dict[str, str]:
    """A script's environment: CPU=1 on the kit, its output and metrics under ``workdir``."""
    return {
        **os.environ,
        **OFFLINE_ENV,
        **{k: v for k, v in kit_env.items() if k != "OFFLINE_TRAIN_FILES"},
        "CPU": "1",
        "PYTHON": sys.executable,
        "OUTPUT_DIR": str(workdir / "out"),
        "HF_HOME": str(workdir / "hf_home"),
        "VERL_FILE_LOGGER_PATH": str(workdir / "metrics.jsonl"),
        **env,
    }


def run_script(
    script: str, kit_env: dict[str, str], workdir: Path, timeout_s: float = RUN_TIMEOUT_S, **env: str
) -> ScriptRun:
    full_env = script_env(kit_env, workdir, **env)
    returncode, output, timed_out = run_bounded(
        isolated(["bash", str(SCRIPTS / script)]), cwd=REPO, env=full_env, timeout_s=timeout_s
    )
    metrics = read_metrics_jsonl(Path(full_env["VERL_FILE_LOGGER_PATH"]))
    return ScriptRun(returncode, output, timed_out, metrics, Path(full_env["OUTPUT_DIR"]))


def logged_config(output: str, key: str) -> list[str]:
    """Every value the trainer's config dump prints for ``key`` (verl pretty-prints the whole config)."""
    return re.findall(rf"'{re.escape(key)}': ([^,}}\n]+)", output)


# ----------------------------------------------------------------------------- checks per script


def check_filter(mode: str, step_number: int = 1) -> Callable[[ScriptRun], None]:
    def check(run: ScriptRun) -> None:
        step = run.metrics[step_number]
        if mode == "both":
            # Standard GRPO: the filter hook is not installed, every sample reaches the update.
            assert not [key for key in step if key.startswith("dissect/filter/")]
            assert "actor/pg_loss" in step and step["dissect/actor_update_skipped"] == 0
            return
        total, correct = step["dissect/samples/total"], step["dissect/samples/correct"]
        kept_pos, kept_neg = step["dissect/filter/kept_pos_samples"], step["dissect/filter/kept_neg_samples"]
        if mode == "neg":
            assert (kept_pos, kept_neg) == (0, total - correct)
        else:
            assert (kept_pos, kept_neg) == (correct, 0)

    return check


def check_w_reinforce(run: ScriptRun) -> None:
    """Every sample stays (mode both); the filter hook runs to weight the positive ones."""
    step = run.metrics[1]
    assert step["dissect/filter/kept_pos_samples"] == step["dissect/samples/correct"]
    assert (
        step["dissect/filter/kept_neg_samples"]
        == step["dissect/samples/total"] - step["dissect/samples/correct"]
    )
    assert step["dissect/filter/kept_sample_frac"] == 1.0
    assert "'w_reinforce'" in logged_config(run.output, "preset")


def check_table1(mode: str) -> Callable[[ScriptRun], None]:
    def check(run: ScriptRun) -> None:
        check_filter(mode)(run)
        assert logged_config(run.output, "entropy_coeff")[0] == "0.001"  # the original's, not 0.9.1's 0
        assert run.metrics[1]["response_length/max"] <= 8 * TOKENS_PER_K

    return check


def check_table3(rlr: bool, k: int) -> Callable[[ScriptRun], None]:
    def check(run: ScriptRun) -> None:
        step = run.metrics[1]
        rlr_keys = [key for key in step if key.startswith("dissect/rlr/")]
        if rlr:
            assert "dissect/rlr/shaped_group_frac" in rlr_keys, sorted(step)
            # lambda 500 tokens at 1024 per k, scaled to the CPU's 3 tokens per k
            assert (
                f"algorithm.rlr.lambda={500 * TOKENS_PER_K / 1024:g}"
                in (run.output_dir / "launch.sh").read_text()
            )
        else:
            assert rlr_keys == []
        assert step["response_length/max"] <= k * TOKENS_PER_K
        assert "entropy_coeff=0.0" in (run.output_dir / "launch.sh").read_text()

    return check


def check_table6(run: ScriptRun) -> None:
    check_filter("neg")(run)
    assert "'seq-mean-token-sum-norm'" in logged_config(run.output, "loss_agg_mode")
    assert str(8 * TOKENS_PER_K) in logged_config(run.output, "loss_scale_factor")
    assert logged_config(run.output, "norm_adv_by_std_in_grpo") == ["True"]


def check_fig3(variant: str) -> Callable[[ScriptRun], None]:
    def check(run: ScriptRun) -> None:
        step = run.metrics[1]
        injection = {key: value for key, value in step.items() if key.startswith("dissect/injection/")}
        if variant == "continued":
            assert injection == {}
            assert "'token-mean'" in logged_config(run.output, "loss_agg_mode")
        else:
            assert "dissect/injection/injected_samples" in injection, sorted(step)
            assert "'seq-mean-token-sum-norm'" in logged_config(run.output, "loss_agg_mode")
            assert str(24 * TOKENS_PER_K) in logged_config(run.output, "loss_scale_factor")
        loss_modes = logged_config(run.output, "loss_mode")
        assert ("'luffy'" in loss_modes) == (variant == "luffy"), loss_modes
        assert any(key.startswith("actor/luffy/") for key in step) == (variant == "luffy")
        # The injection runs keep the original's repetition penalty + truncated-sample mask.
        assert ("dissect/truncation/masked_samples" in step) == (variant != "continued")
        assert step["response_length/max"] <= 24 * TOKENS_PER_K

    return check


SINGLE_RUN_SCRIPTS: dict[str, tuple[Callable[[ScriptRun], None], dict[str, str]]] = {
    "table1_both.sh": (check_table1("both"), {}),
    "table1_neg.sh": (check_table1("neg"), {}),
    "table1_pos.sh": (check_table1("pos"), {"MODEL_SIZE": "7b"}),  # the size switch changes no CPU flag
    "w_reinforce.sh": (check_w_reinforce, {}),
    "table3_rlr_8k.sh": (check_table3(True, 8), {}),
    "table3_rlr_4k.sh": (check_table3(True, 4), {}),
    "table3_8k.sh": (check_table3(False, 8), {}),
    "table3_4k.sh": (check_table3(False, 4), {}),
    "table6_length_bias.sh": (check_table6, {"MODE": "neg"}),
    "fig3_continued.sh": (check_fig3("continued"), {"OFFLINE": "1"}),
    "fig3_injection.sh": (check_fig3("injection"), {"OFFLINE": "1"}),
    "fig3_injection_luffy.sh": (check_fig3("luffy"), {"OFFLINE": "1"}),
}


@pytest.mark.timeout(RUN_TIMEOUT_S + 120)
@pytest.mark.parametrize("script", sorted(SINGLE_RUN_SCRIPTS))
def test_script_runs_on_cpu_and_its_flags_act(script, kit_env, tmp_path):
    check, env = SINGLE_RUN_SCRIPTS[script]
    env = dict(env)
    if env.pop("OFFLINE", None):
        env["TRAIN_FILES"] = kit_env["OFFLINE_TRAIN_FILES"]
    run = run_script(script, kit_env, tmp_path, **env)
    assert run.returncode == 0 and not run.timed_out, run.describe()
    assert sorted(run.metrics) == [1], run.describe()
    check(run)


def schedule_manifest(output_dir: Path) -> dict | None:
    path = output_dir / "schedule_manifest.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):  # not written yet, or being replaced
        return None


def kill_group(process: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=60)


TABLE2_STAGE_STEPS = 2


@pytest.mark.timeout(6 * RUN_TIMEOUT_S + 120)
def test_table2_schedule_runs_every_stage_from_the_previous_weights_and_resumes_after_a_kill(
    kit_env, tmp_path
):
    """n-n-np, two steps a stage, a checkpoint every step. Once stage 3 has checkpointed step 1, the
    whole namespace (script, runner, trainer, Ray) is SIGKILLed at once, as a crashed machine would be.
    Rerunning the same command must keep stages 1-2 (not rerun), continue stage 3 from that checkpoint,
    and every stage must have started from the previous stage's final weights."""
    env = script_env(kit_env, tmp_path, CPU_STEPS=str(TABLE2_STAGE_STEPS))  # SCHEDULE: n-n-np, the default
    output_dir = Path(env["OUTPUT_DIR"])
    command = isolated(["bash", str(SCRIPTS / "table2_schedule.sh"), "trainer.save_freq=1"])

    def tracker() -> Path | None:
        manifest = schedule_manifest(output_dir)
        if not manifest or len(manifest["stages"]) < 3:
            return None
        return output_dir / manifest["stages"][2]["dir"] / "checkpoints" / "latest_checkpointed_iteration.txt"

    # --- first run: stages 1-2 finish; SIGKILL everything once stage 3 has checkpointed a step.
    first_log = tmp_path / "first.log"
    with first_log.open("w") as log:
        process = subprocess.Popen(
            command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        deadline = time.monotonic() + 4 * RUN_TIMEOUT_S
        try:
            while not ((path := tracker()) and path.exists()):
                assert process.poll() is None, f"script ended early ({process.returncode}): {first_log}"
                assert time.monotonic() < deadline, f"stage 3 never checkpointed: {first_log}"
                time.sleep(0.2)
        finally:
            kill_group(process)
    killed = schedule_manifest(output_dir)
    assert [(s["status"], s["attempts"]) for s in killed["stages"]] == [
        ("done", 1),
        ("done", 1),
        ("running", 1),
    ]
    killed_at = int(tracker().read_text())
    assert 1 <= killed_at < TABLE2_STAGE_STEPS, "the kill must land inside stage 3"
    finals = [Path(stage["final_model"]) / "model.safetensors" for stage in killed["stages"][:2]]
    mtimes = [path.stat().st_mtime_ns for path in finals]
    base = load_file(Path(kit_env["MODEL"]) / "model.safetensors")
    trained = load_file(finals[0])
    assert any(not (base[k] == trained[k]).all() for k in base), "stage 1 changed no weight"

    # --- resume: the same command.
    returncode, output, timed_out = run_bounded(command, cwd=REPO, env=env, timeout_s=3 * RUN_TIMEOUT_S)
    run = ScriptRun(returncode, output, timed_out, {}, output_dir)
    assert returncode == 0 and not timed_out, run.describe()
    manifest = schedule_manifest(output_dir)
    stages = manifest["stages"]
    assert manifest["length_unit"] == TOKENS_PER_K
    assert [(s["max_response_length"], s["mode"], s["status"]) for s in stages] == [
        (8 * TOKENS_PER_K, "neg", "done"),
        (16 * TOKENS_PER_K, "neg", "done"),
        (24 * TOKENS_PER_K, "both", "done"),
    ]
    # Stages 1-2 were not rerun: one attempt each, their weights untouched, no second log or metrics.
    for index, (stage, final, mtime) in enumerate(zip(stages, finals, mtimes, strict=False), start=1):
        assert (stage["attempts"], stage["final_step"]) == (1, TABLE2_STAGE_STEPS)
        assert final.stat().st_mtime_ns == mtime
        stage_dir = output_dir / stage["dir"]
        assert not (stage_dir / "train.attempt2.log").exists()
        assert not (stage_dir / "metrics.attempt2.jsonl").exists()
        assert f"stage {index}/3 ({stage['max_response_length']} tokens, neg): done, final weights " in output
        assert f"final weights {stage['final_model']}; not rerun" in output
    # Stage 3 continued from its last checkpoint: the second attempt logged only the remaining step.
    third, third_dir = stages[2], output_dir / stages[2]["dir"]
    assert (third["attempts"], third["final_step"]) == (2, TABLE2_STAGE_STEPS)
    first_attempt = read_metrics_jsonl(third_dir / "metrics.attempt1.jsonl")
    second_attempt = read_metrics_jsonl(third_dir / "metrics.attempt2.jsonl")
    # (the kill may land between a checkpoint and that step's metrics line, so attempt 1 has <= killed_at)
    assert first_attempt.keys() <= set(range(1, killed_at + 1))
    assert sorted(second_attempt) == list(range(killed_at + 1, TABLE2_STAGE_STEPS + 1))
    resumed_log = (third_dir / "train.attempt2.log").read_text()
    assert f"Resuming from {third_dir / 'checkpoints' / f'global_step_{killed_at}'}" in resumed_log
    # Each stage started from the previous stage's final HF weights: the manifest, the command of
    # every attempt, and the model path in the trainer's own config dump.
    assert stages[0]["init_model"] == kit_env["MODEL"]
    for previous, stage in zip(stages, stages[1:], strict=False):
        assert stage["init_model"] == previous["final_model"]
        assert Path(previous["final_model"], "model.safetensors").is_file()
        stage_dir = output_dir / stage["dir"]
        for attempt in range(1, stage["attempts"] + 1):
            command_text = (stage_dir / f"command.attempt{attempt}.sh").read_text()
            assert f"actor_rollout_ref.model.path={previous['final_model']}" in command_text
            log_text = (stage_dir / f"train.attempt{attempt}.log").read_text()
            assert f"'path': '{previous['final_model']}'" in log_text
    # Each stage trained at its own length and mode.
    for stage in stages:
        attempt = stage["attempts"]
        metrics = read_metrics_jsonl(output_dir / stage["dir"] / f"metrics.attempt{attempt}.jsonl")
        assert TABLE2_STAGE_STEPS in metrics
        for step in metrics.values():
            assert step["response_length/max"] <= stage["max_response_length"]
        check_filter(stage["mode"], TABLE2_STAGE_STEPS)(ScriptRun(0, "", False, metrics, output_dir))


@pytest.mark.parametrize(
    "schedule",
    ["n-n-np", "np-np-np", "n-n-n", "n-n-n-p"],
)
def test_table2_named_schedules_expand_to_the_papers_rows(schedule, tmp_path):
    expected = {
        "n-n-np": ["neg", "neg", "both"],
        "np-np-np": ["both", "both", "both"],
        "n-n-n": ["neg", "neg", "neg"],
        "n-n-n-p": ["neg", "neg", "neg", "pos"],
    }[schedule]
    result = subprocess.run(
        ["bash", str(SCRIPTS / "table2_schedule.sh")],
        env={**os.environ, "DRY_RUN": "1", "SCHEDULE": schedule, "OUTPUT_DIR": str(tmp_path / "o")},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    command = shlex.split(result.stdout)
    schedule_text = command[command.index("--schedule") + 1]
    lengths = ["8k", "16k"] + ["24k"] * (len(expected) - 2)
    assert schedule_text == ",".join(f"{n}:{m}" for n, m in zip(lengths, expected, strict=True))
    # 16k and 24k stages sample 16 responses per prompt, as the original's 16k/24k scripts.
    assert "2:actor_rollout_ref.rollout.n=16" in command and "1:actor_rollout_ref.rollout.n=8" in command


def test_every_script_has_help_and_composes_on_gpu_settings(tmp_path):
    """--help works; each GPU-mode command (DRY_RUN) composes with Hydra: every key exists in verl 0.9.1."""
    from hydra import compose, initialize_config_module

    scripts = sorted(
        p.name for p in SCRIPTS.glob("*.sh") if not p.name.startswith("_") and p.name != "common.sh"
    )
    assert set(scripts) == set(SINGLE_RUN_SCRIPTS) | {"table2_schedule.sh"}
    with initialize_config_module(config_module="dissect_lrm.trainer.config", version_base=None):
        for script in scripts:
            usage = subprocess.run(["bash", str(SCRIPTS / script), "--help"], capture_output=True, text=True)
            assert usage.returncode == 0 and "usage:" in usage.stdout and "CPU=1" in usage.stdout, script
            dry = subprocess.run(
                ["bash", str(SCRIPTS / script), "trainer.total_training_steps=7"],
                env={**os.environ, "DRY_RUN": "1", "OUTPUT_DIR": str(tmp_path / script)},
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert dry.returncode == 0, dry.stderr
            command = shlex.split(dry.stdout)
            overrides = command[command.index("--") + 1 :] if "--" in command else command[3:]
            config = compose(config_name="dissect_trainer", overrides=overrides)
            assert config.trainer.total_training_steps == 7, script  # extra args come last and win
            assert config.actor_rollout_ref.rollout.name == "vllm"
            assert config.actor_rollout_ref.actor.ppo_mini_batch_size <= config.data.train_batch_size


# The original release's hyper-parameters (docs/original-code.md#experiment-matrix) each script must default to on GPU.
SHARED_GPU = {
    "data.max_prompt_length": 1024,
    "actor_rollout_ref.actor.optim.lr": 1e-6,
    "actor_rollout_ref.actor.optim.lr_warmup_steps_ratio": 0.0,
    "actor_rollout_ref.actor.use_dynamic_bsz": True,
    "actor_rollout_ref.actor.ppo_epochs": 1,
    "actor_rollout_ref.actor.grad_clip": 1.0,
    "actor_rollout_ref.rollout.temperature": 0.6,
    "actor_rollout_ref.rollout.val_kwargs.temperature": 0.6,
    "actor_rollout_ref.rollout.val_kwargs.top_p": 0.95,
    "actor_rollout_ref.rollout.tensor_model_parallel_size": 1,
    "actor_rollout_ref.ref.fsdp_config.param_offload": True,
    "algorithm.use_kl_in_reward": False,  # docs/original-code.md#hidden-kl: off by default
    "trainer.n_gpus_per_node": 8,
    "trainer.save_freq": 10,
    "trainer.test_freq": 10,
    "trainer.val_before_train": True,
}
ABLATION = {
    "data.max_response_length": 8192,
    "data.train_batch_size": 64,
    "actor_rollout_ref.rollout.n": 8,
    "actor_rollout_ref.actor.ppo_mini_batch_size": 64,
    "actor_rollout_ref.actor.use_kl_loss": True,
    "actor_rollout_ref.actor.kl_loss_coef": 0.001,
    "actor_rollout_ref.actor.kl_loss_type": "low_var_kl",
    "actor_rollout_ref.actor.entropy_coeff": 0.001,
    "actor_rollout_ref.rollout.val_kwargs.n": 8,
    "actor_rollout_ref.actor.loss_agg_mode": "token-mean",
    "actor_rollout_ref.model.path": "deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B",
}
RLR_RUNS = {
    "data.train_batch_size": 64,
    "actor_rollout_ref.rollout.n": 8,
    "actor_rollout_ref.actor.ppo_mini_batch_size": 64,
    "actor_rollout_ref.actor.use_kl_loss": False,
    "actor_rollout_ref.actor.entropy_coeff": 0.0,
    "actor_rollout_ref.actor.ppo_max_token_len_per_gpu": 16000,
    "actor_rollout_ref.rollout.max_num_batched_tokens": 32768,
    "actor_rollout_ref.model.path": "agentica-org/DeepScaleR-1.5B-Preview",
    "trainer.total_training_steps": 400,
}
FIG3 = {
    "data.max_response_length": 24576,
    "data.train_batch_size": 128,
    "actor_rollout_ref.rollout.n": 16,
    "actor_rollout_ref.actor.ppo_mini_batch_size": 64,
    "actor_rollout_ref.actor.use_kl_loss": False,
    "actor_rollout_ref.actor.entropy_coeff": 0.0,
    "actor_rollout_ref.actor.ppo_max_token_len_per_gpu": 32768,
    "actor_rollout_ref.rollout.val_kwargs.n": 16,
    "actor_rollout_ref.model.path": "agentica-org/DeepScaleR-1.5B-Preview",
}
INJECTION = {
    **FIG3,
    "algorithm.injection.enable": True,
    "algorithm.injection.gamma": 0.125,
    "algorithm.repetition.enable": True,
    "algorithm.repetition.ngram_size": 40,
    "algorithm.repetition.max_penalty": -2,
    "algorithm.truncation_mask.enable": True,
    "algorithm.truncation_mask.require_repetition": True,
    "actor_rollout_ref.actor.loss_agg_mode": "seq-mean-token-sum-norm",
    "actor_rollout_ref.actor.loss_scale_factor": 24576,
}
GPU_EXPECTED: list[tuple[str, dict[str, str], dict[str, object]]] = [
    ("table1_both.sh", {}, {**ABLATION, "algorithm.sample_filter.mode": "both",
                             "actor_rollout_ref.actor.ppo_max_token_len_per_gpu": 20000,
                             "actor_rollout_ref.rollout.gpu_memory_utilization": 0.85}),
    ("table1_neg.sh", {}, {**ABLATION, "algorithm.sample_filter.mode": "neg", "algorithm.sample_filter.keep_ratio": 0.0,
                            "actor_rollout_ref.actor.ppo_max_token_len_per_gpu": 16000,
                            "actor_rollout_ref.rollout.max_num_batched_tokens": 10240}),
    ("table1_pos.sh", {"MODEL_SIZE": "7b"}, {**ABLATION, "algorithm.sample_filter.mode": "pos",
                                             "actor_rollout_ref.model.path": "deepseek-ai/DeepSeek-R1-Distill-Qwen-7B"}),
    ("w_reinforce.sh", {}, {**ABLATION, "algorithm.sample_filter.mode": "both",
                             "algorithm.sample_filter.preset": "w_reinforce",
                             "algorithm.sample_filter.w_reinforce_lambda": 0.1}),
    ("table3_rlr_8k.sh", {}, {**RLR_RUNS, "data.max_response_length": 8192, "algorithm.rlr.enable": True,
                               "algorithm.rlr.alpha": 0.75, "algorithm.rlr.lambda": 500, "algorithm.rlr.eps_low": -0.5,
                               "algorithm.rlr.eps_up": 1.0}),
    ("table3_rlr_8k.sh", {"HIDDEN_KL": "1"}, {"algorithm.use_kl_in_reward": True, "algorithm.kl_penalty": "kl",
                                              "algorithm.kl_ctrl.kl_coef": 0.001}),
    ("table3_rlr_4k.sh", {}, {**RLR_RUNS, "data.max_response_length": 4096, "algorithm.rlr.enable": True}),
    ("table3_8k.sh", {}, {**RLR_RUNS, "data.max_response_length": 8192, "algorithm.rlr.enable": False}),
    ("table3_4k.sh", {}, {**RLR_RUNS, "data.max_response_length": 4096, "algorithm.rlr.enable": False}),
    ("table6_length_bias.sh", {"MODE": "pos"}, {**ABLATION, "algorithm.sample_filter.mode": "pos",
                                                "actor_rollout_ref.actor.loss_agg_mode": "seq-mean-token-sum-norm",
                                                "actor_rollout_ref.actor.loss_scale_factor": 8192,
                                                "algorithm.norm_adv_by_std_in_grpo": True}),
    ("table6_length_bias.sh", {"DR_GRPO": "1"}, {"algorithm.norm_adv_by_std_in_grpo": False,
                                                 "algorithm.sample_filter.mode": "neg"}),
    ("fig3_continued.sh", {}, {**FIG3, "algorithm.injection.enable": False, "algorithm.repetition.enable": False,
                                "actor_rollout_ref.actor.loss_agg_mode": "token-mean"}),
    ("fig3_injection.sh", {}, {**INJECTION, "algorithm.luffy.enable": False}),
    ("fig3_injection_luffy.sh", {}, {**INJECTION, "algorithm.luffy.enable": True, "algorithm.luffy.gamma": 0.1,
                                      "algorithm.luffy.on_policy_clip": False,
                                      "actor_rollout_ref.actor.clip_ratio": 0.35}),
]  # fmt: skip


def test_gpu_defaults_are_the_original_hyper_parameters(tmp_path):
    from hydra import compose, initialize_config_module
    from omegaconf import OmegaConf

    with initialize_config_module(config_module="dissect_lrm.trainer.config", version_base=None):
        for script, env, expected in GPU_EXPECTED:
            dry = subprocess.run(
                ["bash", str(SCRIPTS / script)],
                env={**os.environ, "DRY_RUN": "1", "OUTPUT_DIR": str(tmp_path / script), **env},
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert dry.returncode == 0, dry.stderr
            config = compose(config_name="dissect_trainer", overrides=shlex.split(dry.stdout)[3:])
            for key, value in {**SHARED_GPU, **expected}.items():
                assert OmegaConf.select(config, key) == value, (script, env, key)
