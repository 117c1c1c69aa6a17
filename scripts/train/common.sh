# shellcheck shell=bash
# Shared part of scripts/train/*.sh (sourced, never run): the original release's hyper-parameters
# (docs/original-code.md#experiment-matrix) mapped onto verl 0.9.1 keys, the environment overrides, and the CPU switch.
#
# An experiment script does:
#   source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
#   DLRM_USAGE="..."; dlrm_parse_args "$@"     # --help, extra Hydra overrides
#   <set the experiment's variables, e.g. MAX_RESPONSE_K=8 ROLLOUT_N=8 EXP_NAME_DEFAULT=...>
#   dlrm_build_overrides                        # shared overrides -> DLRM_OVERRIDES
#   DLRM_OVERRIDES+=(<the experiment's own flags>)
#   dlrm_run_trainer                            # python -m dissect_lrm.trainer.main ... "$@"
#
# Bugs of the original release that are NOT carried over (docs/original-code.md):
#   #hidden-kl            hidden in-reward KL of the "no KL" runs: decided per script (HIDDEN_KL=1 reproduces it).
#   #sample-filter        the pos/neg filter zero-masks removed samples after the advantage (no
#                         physical removal, no top-up to a minimum, no rounding to the DP size, seeded draws); a step left empty is logged.
#   #config-typos         no deprecated data.val_batch_size, no misspelled keys, no missing validation file.
#   #one-update-per-step  train_batch_size == ppo_mini_batch_size where the original had it (one
#                         on-policy update per step); the CPU mode keeps that ratio too.

set -euo pipefail

DLRM_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
DLRM_SCRIPT="$(basename "$0")"
PYTHON="${PYTHON:-}"
if [[ -z "$PYTHON" ]]; then
  if [[ -x "$DLRM_ROOT/.venv/bin/python" ]]; then PYTHON="$DLRM_ROOT/.venv/bin/python"; else PYTHON=python3; fi
fi
CPU="${CPU:-0}"
# Default data (dissect-lrm data train / the shared AIME24 parquet the original validated on).
DLRM_DEEPSCALER_TRAIN="$DLRM_ROOT/data/deepscaler/train.parquet"
DLRM_DEEPSCALER_VAL="$DLRM_ROOT/data/deepscaler/val.parquet"   # 200 held-out problems (RLR runs)
DLRM_AIME_VAL="$(cd "$DLRM_ROOT/.." && pwd)/shared/data/train/aime_verl_format.parquet"
DLRM_OFFLINE_TRAIN="$DLRM_ROOT/data/offline/train.parquet"     # rows with an offline_solutions column

DLRM_COMMON_USAGE="Environment (all optional):
  MODEL              initial model (local directory or hub id); default: the script's paper model
  TRAIN_FILES        training parquet (verl RLHF schema); a Hydra list '[a,b]' works too
  VAL_FILES          validation parquet
  GPUS / N_GPUS_PER_NODE   GPUs per node (default 8, as the original)
  NNODES             nodes (default 1)
  LOGGER             verl trackers (default [console,wandb]; CPU=1: [console,file])
  PROJECT_NAME       tracker project (default dissect-lrm)
  EXP_NAME           run name (default: the script's experiment name)
  OUTPUT_DIR         checkpoints, metrics and launch record (default runs/\$EXP_NAME)
  SEED               seed of the sample filter's draws (default 0)
  PYTHON             interpreter (default .venv/bin/python, else python3)
  DRY_RUN=1          print the trainer command instead of running it
  CPU=1              run the same experiment on the tiny model on CPU (+preset=cpu, tiny batches,
                     CPU_STEPS steps (default 1), lengths scaled to CPU_TOKENS_PER_K tokens per 1k
                     (default 3, so 8k -> 24 tokens), learning rate 2e-4, no validation, no checkpoints)
  TINY_KIT_DIR       CPU=1: the tiny kit (model/, data/); built by 'python -m dissect_lrm.tiny' when
                     absent (default runs/tiny_kit)
Arguments: extra Hydra overrides, appended last (they win), e.g. trainer.total_training_steps=500."

dlrm_usage() {
  printf '%s\n\n%s\n' "${DLRM_USAGE:-usage: $DLRM_SCRIPT [hydra overrides...]}" "$DLRM_COMMON_USAGE"
}

# --help anywhere prints the usage; every other argument is a Hydra override passed to the trainer.
dlrm_parse_args() {
  local arg
  for arg in "$@"; do
    if [[ "$arg" == "-h" || "$arg" == "--help" ]]; then
      dlrm_usage
      exit 0
    fi
  done
  DLRM_EXTRA_ARGS=("$@")
}

# VAR=VALUE unless VAR is set in the environment or CPU=1 (where the tiny kit supplies model and data).
dlrm_gpu_default() {
  if [[ "$CPU" != "1" && -z "${!1:-}" ]]; then printf -v "$1" '%s' "$2"; fi
}

dlrm_die() {
  echo "$DLRM_SCRIPT: error: $*" >&2
  exit 2
}

# Tokens of a length given in "k" units: 8 -> 8192 on GPU, 8 -> 8*CPU_TOKENS_PER_K on CPU=1.
dlrm_tokens() {
  if [[ "$CPU" == "1" ]]; then echo $(($1 * CPU_TOKENS_PER_K)); else echo $(($1 * 1024)); fi
}

# CPU=1: make sure a tiny kit exists and point MODEL / TRAIN_FILES / VAL_FILES at it (unless set).
dlrm_cpu_kit() {
  TINY_KIT_DIR="${TINY_KIT_DIR:-$DLRM_ROOT/runs/tiny_kit}"
  local need_offline="${1:-0}"
  if [[ -z "${MODEL:-}" || -z "${TRAIN_FILES:-}" || -z "${VAL_FILES:-}" ]]; then
    mkdir -p "$TINY_KIT_DIR"
    # --reuse keeps an existing kit (it only adds the offline parquet when missing); flock keeps two
    # scripts started together from building the same kit twice.
    if command -v flock >/dev/null 2>&1; then
      flock "$TINY_KIT_DIR/.build.lock" "$PYTHON" -m dissect_lrm.tiny --output-dir "$TINY_KIT_DIR" --reuse >/dev/null
    else
      "$PYTHON" -m dissect_lrm.tiny --output-dir "$TINY_KIT_DIR" --reuse >/dev/null
    fi
  fi
  MODEL="${MODEL:-$TINY_KIT_DIR/model}"
  VAL_FILES="${VAL_FILES:-$TINY_KIT_DIR/data/val.parquet}"
  if [[ "$need_offline" == "1" ]]; then
    TRAIN_FILES="${TRAIN_FILES:-$TINY_KIT_DIR/data/train_offline.parquet}"
  else
    TRAIN_FILES="${TRAIN_FILES:-$TINY_KIT_DIR/data/train.parquet}"
  fi
}

# Defaults every script shares; a script sets its own values (after sourcing, before
# dlrm_build_overrides) for what differs, and the environment wins over both.
dlrm_defaults() {
  : "${CPU_STEPS:=1}" "${CPU_TOKENS_PER_K:=3}"
  : "${MAX_PROMPT_LENGTH:=1024}"
  : "${MAX_RESPONSE_K:=8}"                 # 8k, as Table 1
  : "${TRAIN_BATCH_SIZE:=64}" "${ROLLOUT_N:=8}"
  : "${PPO_MINI_BATCH_SIZE:=$TRAIN_BATCH_SIZE}"   # docs/original-code.md#one-update-per-step
  : "${LR:=1e-6}"                          # constant, no warm-up
  : "${USE_KL_LOSS:=True}" "${KL_LOSS_COEF:=0.001}" "${KL_LOSS_TYPE:=low_var_kl}"
  : "${ENTROPY_COEFF:=0.001}"              # verl 0.3's default, which the ablation scripts kept (0.9.1: 0)
  : "${CLIP_RATIO:=0.2}"
  : "${PPO_MAX_TOKEN_LEN:=16000}"          # dynamic batch size: tokens per GPU per micro-batch
  : "${GPU_MEMORY_UTILIZATION:=0.8}" "${MAX_NUM_BATCHED_TOKENS:=10240}"
  : "${N_VAL:=8}"                          # validation samples per problem (the original's n_val)
  : "${HIDDEN_KL:=0}"                      # hidden in-reward KL, see dlrm_build_overrides
  : "${SAVE_FREQ:=10}" "${TEST_FREQ:=10}" "${TOTAL_EPOCHS:=30}"
  : "${SEED:=0}"
  : "${PROJECT_NAME:=dissect-lrm}"
  N_GPUS_PER_NODE="${N_GPUS_PER_NODE:-${GPUS:-8}}"
  : "${NNODES:=1}"
  EXP_NAME="${EXP_NAME:-${EXP_NAME_DEFAULT:?script sets EXP_NAME_DEFAULT}}"
  if [[ "$CPU" == "1" ]]; then
    EXP_NAME="${EXP_NAME%-cpu}-cpu"
    : "${LOGGER:=[console,file]}"
  else
    : "${LOGGER:=[console,wandb]}"
  fi
  OUTPUT_DIR="${OUTPUT_DIR:-$DLRM_ROOT/runs/$EXP_NAME}"
  MAX_RESPONSE_LENGTH="$(dlrm_tokens "$MAX_RESPONSE_K")"
}

# The shared overrides (docs/original-code.md#experiment-matrix, on verl 0.9.1 keys) -> DLRM_OVERRIDES.
dlrm_build_overrides() {
  dlrm_defaults
  if [[ "$CPU" == "1" ]]; then
    dlrm_cpu_kit "${NEEDS_OFFLINE_SOLUTIONS:-0}"
  fi
  [[ -n "${MODEL:-}" ]] || dlrm_die "MODEL is not set"
  [[ -n "${TRAIN_FILES:-}" ]] || dlrm_die "TRAIN_FILES is not set"
  [[ -n "${VAL_FILES:-}" ]] || dlrm_die "VAL_FILES is not set"

  local train_bsz="$TRAIN_BATCH_SIZE" mini_bsz="$PPO_MINI_BATCH_SIZE" n="$ROLLOUT_N" n_val="$N_VAL"
  local lr="$LR" max_prompt="$MAX_PROMPT_LENGTH" max_tok="$PPO_MAX_TOKEN_LEN"
  local save_freq="$SAVE_FREQ" test_freq="$TEST_FREQ" val_before_train=True
  DLRM_OVERRIDES=()
  if [[ "$CPU" == "1" ]]; then
    # Tiny batches with the original's shape: mini == train where the original had it (#one-update-per-step),
    # half of it where the original ran two optimizer steps per step (Fig. 3).
    train_bsz=4
    mini_bsz=$((PPO_MINI_BATCH_SIZE < TRAIN_BATCH_SIZE ? 2 : 4))
    n=4 n_val=2 max_prompt=64 max_tok=4096
    lr=2e-4 # the demo's: 1e-3 collapses the tiny model within a few steps
    # verl 0.9.1 builds the reference policy (KL loss or in-reward KL) with FSDP2's
    # CPUOffloadPolicy(pin_memory=True), which needs an accelerator: on CPU the KL terms stay off
    # unless CPU_KL=1 (for when the CPU platform supports a reference policy).
    if [[ "${CPU_KL:-0}" != "1" ]]; then
      USE_KL_LOSS=False HIDDEN_KL=0
    fi
    save_freq=-1 test_freq=-1 val_before_train=False
    DLRM_OVERRIDES+=(
      +preset=cpu
      "trainer.total_training_steps=$CPU_STEPS"
    )
    # Ray's AF_UNIX socket paths are limited to 107 bytes: a short temp dir, removed on exit.
    DLRM_RAY_TMP="$(mktemp -d /tmp/dlrm-ray-XXXXXX)"
    DLRM_OVERRIDES+=("+ray_kwargs.ray_init._temp_dir=$DLRM_RAY_TMP")
  else
    DLRM_OVERRIDES+=(
      "trainer.n_gpus_per_node=$N_GPUS_PER_NODE"
      "trainer.nnodes=$NNODES"
      actor_rollout_ref.model.use_remove_padding=True
      actor_rollout_ref.model.enable_gradient_checkpointing=True
      actor_rollout_ref.actor.ulysses_sequence_parallel_size=1
      actor_rollout_ref.actor.fsdp_config.param_offload=False
      actor_rollout_ref.actor.fsdp_config.optimizer_offload=False
      actor_rollout_ref.ref.fsdp_config.param_offload=True
      actor_rollout_ref.rollout.name=vllm
      actor_rollout_ref.rollout.tensor_model_parallel_size=1
      "actor_rollout_ref.rollout.gpu_memory_utilization=$GPU_MEMORY_UTILIZATION"
      "actor_rollout_ref.rollout.max_num_batched_tokens=$MAX_NUM_BATCHED_TOKENS"
    )
  fi
  DLRM_OVERRIDES+=(
    "data.train_files=$TRAIN_FILES"
    "data.val_files=$VAL_FILES"
    "data.max_prompt_length=$max_prompt"
    "data.max_response_length=$MAX_RESPONSE_LENGTH"
    "data.train_batch_size=$train_bsz"
    "actor_rollout_ref.model.path=$MODEL"
    "actor_rollout_ref.actor.optim.lr=$lr"
    actor_rollout_ref.actor.optim.lr_warmup_steps_ratio=0.0
    actor_rollout_ref.actor.optim.lr_scheduler_type=constant
    "actor_rollout_ref.actor.ppo_mini_batch_size=$mini_bsz"
    actor_rollout_ref.actor.ppo_epochs=1
    actor_rollout_ref.actor.use_dynamic_bsz=True
    "actor_rollout_ref.actor.ppo_max_token_len_per_gpu=$max_tok"
    "actor_rollout_ref.actor.use_kl_loss=$USE_KL_LOSS"
    "actor_rollout_ref.actor.kl_loss_coef=$KL_LOSS_COEF"
    "actor_rollout_ref.actor.kl_loss_type=$KL_LOSS_TYPE"
    "actor_rollout_ref.actor.entropy_coeff=$ENTROPY_COEFF"
    "actor_rollout_ref.actor.clip_ratio=$CLIP_RATIO"
    actor_rollout_ref.actor.grad_clip=1.0
    "actor_rollout_ref.rollout.n=$n"
    actor_rollout_ref.rollout.temperature=0.6   # the original sampled training rollouts at 0.6 too
    actor_rollout_ref.rollout.top_p=1.0
    "actor_rollout_ref.rollout.val_kwargs.n=$n_val"
    actor_rollout_ref.rollout.val_kwargs.temperature=0.6
    actor_rollout_ref.rollout.val_kwargs.top_p=0.95
    actor_rollout_ref.rollout.val_kwargs.do_sample=True
    "algorithm.sample_filter.seed=$SEED"
    algorithm.sample_filter.keep_ratio=0.0   # no reserve draws, no top-up (docs/original-code.md#sample-filter)
    algorithm.kl_ctrl.kl_coef=0.001
    trainer.critic_warmup=0
    "trainer.logger=$LOGGER"
    "trainer.project_name=$PROJECT_NAME"
    "trainer.experiment_name=$EXP_NAME"
    "trainer.val_before_train=$val_before_train"
    "trainer.save_freq=$save_freq"
    "trainer.test_freq=$test_freq"
    "trainer.total_epochs=$TOTAL_EPOCHS"
    "trainer.default_local_dir=$OUTPUT_DIR/checkpoints"
  )
  # docs/original-code.md#hidden-kl: verl 0.3 silently added an in-reward KL penalty (beta = kl_ctrl.kl_coef = 0.001, 'kl') whenever
  # use_kl_loss was False (the RLR and LUFFY runs); GRPO's std normalisation turns it into O(1)
  # advantages inside uniform groups. We drop it by default; HIDDEN_KL=1 reproduces it on purpose.
  if [[ "$HIDDEN_KL" == "1" ]]; then
    DLRM_OVERRIDES+=(algorithm.use_kl_in_reward=True algorithm.kl_penalty=kl)
  else
    DLRM_OVERRIDES+=(algorithm.use_kl_in_reward=False)
  fi
}

# Remove the overrides of the given keys from DLRM_OVERRIDES (for keys a caller sets itself).
dlrm_drop_overrides() {
  local kept=() item key
  for item in "${DLRM_OVERRIDES[@]}"; do
    local drop=0
    for key in "$@"; do
      if [[ "${item%%=*}" == "$key" ]]; then drop=1; fi
    done
    if [[ "$drop" == "0" ]]; then kept+=("$item"); fi
  done
  DLRM_OVERRIDES=("${kept[@]}")
}

# Where verl's file logger writes (when LOGGER has 'file' and nobody chose a path).
dlrm_metrics_env() {
  if [[ "$LOGGER" == *file* && -z "${VERL_FILE_LOGGER_PATH:-}" ]]; then
    export VERL_FILE_LOGGER_PATH="$OUTPUT_DIR/metrics.jsonl"
  fi
}

dlrm_cleanup() {
  if [[ -n "${DLRM_RAY_TMP:-}" ]]; then rm -rf "$DLRM_RAY_TMP"; fi
}

# Record what ran next to its outputs (the original copied the script into its checkpoint folder).
dlrm_record_launch() {
  mkdir -p "$OUTPUT_DIR"
  {
    echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ) $DLRM_SCRIPT (CPU=$CPU)"
    echo "# git: $(git -C "$DLRM_ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
    printf '%q ' "$@"
    echo
  } >"$OUTPUT_DIR/launch.sh"
}

# Run a command built by a script (the trainer, or the schedule runner), honouring DRY_RUN.
dlrm_exec() {
  if [[ "${DRY_RUN:-0}" == "1" ]]; then
    printf '%q ' "$@"
    echo
    dlrm_cleanup
    return 0
  fi
  dlrm_record_launch "$@"
  dlrm_metrics_env
  cd "$DLRM_ROOT"
  echo "[$DLRM_SCRIPT] $EXP_NAME -> $OUTPUT_DIR" >&2
  local rc=0
  "$@" || rc=$?
  dlrm_cleanup
  return "$rc"
}

dlrm_run_trainer() {
  dlrm_exec "$PYTHON" -m dissect_lrm.trainer.main "${DLRM_OVERRIDES[@]}" "${DLRM_EXTRA_ARGS[@]}"
}
