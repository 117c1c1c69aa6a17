#!/usr/bin/env bash
# Paper Table 2: scaling RL with negative samples, three (or four) stages 8k -> 16k -> 24k from
# DeepSeek-R1-Distill-Qwen-1.5B, each stage starting from the previous stage's final weights, run by
# the schedule runner (python -m dissect_lrm.trainer.schedule; resumable: rerun this script to continue).
# Per stage, the original's settings for its length (docs/original-code.md#experiment-matrix, the 8k/16k/24k rows):
#   8k:   64 x 8,  ppo_max_token_len 16000 (20000 for both), max_num_batched_tokens 10240,
#         gpu_memory_utilization 0.80 (0.85 for both), n_val 8
#   16k+: 64 x 16, ppo_max_token_len 32768, max_num_batched_tokens 32768, gpu_memory_utilization 0.90, n_val 16
#   all:  mini-batch 64 (one on-policy update per step, docs/original-code.md#one-update-per-step), kl_loss 0.001 low_var_kl, entropy 0.001.
# Steps per stage: 1000, 500, 200 (appendix B.1: "1000 to 1200, 500 and 200"); 200 for a 4th stage (not stated).
# docs/original-code.md#hidden-kl: KL loss on, so verl 0.3 applied no in-reward KL: nothing hidden to reproduce.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

DLRM_USAGE="usage: [SCHEDULE=n-n-np|np-np-np|n-n-n|n-n-n-p|'LEN:MODE,...'] [CPU=1] $DLRM_SCRIPT [hydra overrides...]

Paper Table 2, one row per SCHEDULE (N = neg, P = pos, NP = both):
  np-np-np   8(NP)-16(NP)-24(NP)       = 8k:both,16k:both,24k:both   (standard RL)
  n-n-np     8(N)-16(N)-24(NP)         = 8k:neg,16k:neg,24k:both     (default: the best trade-off)
  n-n-n      8(N)-16(N)-24(N)          = 8k:neg,16k:neg,24k:neg
  n-n-n-p    8(N)-16(N)-24(N)-24(P)    = 8k:neg,16k:neg,24k:neg,24k:pos
  or any 'LEN:MODE,...' string.
  STAGE_STEPS   steps per stage, comma-separated (default 1000,500,200,200; CPU=1: CPU_STEPS each)
  Rerunning with the same OUTPUT_DIR resumes (finished stages are kept); another SCHEDULE there is refused.
Hydra overrides apply to every stage."
dlrm_parse_args "$@"

SCHEDULE="${SCHEDULE:-n-n-np}"
case "$SCHEDULE" in
  np-np-np) SCHEDULE_STR="8k:both,16k:both,24k:both" ;;
  n-n-np) SCHEDULE_STR="8k:neg,16k:neg,24k:both" ;;
  n-n-n) SCHEDULE_STR="8k:neg,16k:neg,24k:neg" ;;
  n-n-n-p) SCHEDULE_STR="8k:neg,16k:neg,24k:neg,24k:pos" ;;
  *) SCHEDULE_STR="$SCHEDULE" ;;
esac
dlrm_gpu_default MODEL deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B
dlrm_gpu_default TRAIN_FILES "$DLRM_DEEPSCALER_TRAIN"
dlrm_gpu_default VAL_FILES "$DLRM_AIME_VAL"
EXP_NAME_DEFAULT="table2-$(printf '%s' "$SCHEDULE_STR" | tr ':,' '-_')"
: "${STAGE_STEPS:=1000,500,200,200}"
dlrm_build_overrides
# The runner sets each stage's length, mode and checkpoint directory; a schedule needs checkpoints.
dlrm_drop_overrides data.max_response_length trainer.default_local_dir trainer.save_freq \
  trainer.total_training_steps actor_rollout_ref.rollout.n actor_rollout_ref.rollout.val_kwargs.n \
  actor_rollout_ref.actor.ppo_max_token_len_per_gpu actor_rollout_ref.rollout.gpu_memory_utilization \
  actor_rollout_ref.rollout.max_num_batched_tokens
if [[ "$CPU" == "1" ]]; then
  DLRM_OVERRIDES+=("trainer.save_freq=$CPU_STEPS")
  length_unit="$CPU_TOKENS_PER_K"
else
  DLRM_OVERRIDES+=("trainer.save_freq=$SAVE_FREQ")
  length_unit=1024
fi

IFS=, read -ra stages <<<"$SCHEDULE_STR"
IFS=, read -ra steps <<<"$STAGE_STEPS"
stage_args=()
for i in "${!stages[@]}"; do
  stage="${stages[$i]// /}" index=$((i + 1))
  length="${stage%%:*}" mode="${stage#*:}"
  if [[ "$length" =~ ^([0-9]+)[kK]$ ]]; then k="${BASH_REMATCH[1]}"; else k=$((length / 1024)); fi
  if [[ "$CPU" == "1" ]]; then
    # The tiny batch shape of common.sh, the same for every stage; one CPU_STEPS-long run each.
    stage_args+=(--stage-override "$index:trainer.total_training_steps=$CPU_STEPS"
      --stage-override "$index:actor_rollout_ref.rollout.n=4"
      --stage-override "$index:actor_rollout_ref.actor.ppo_max_token_len_per_gpu=4096")
    continue
  fi
  if ((k >= 16)); then
    n=16 max_tok=32768 batched=32768 mem=0.9
  elif [[ "$mode" == "both" ]]; then
    n=8 max_tok=20000 batched=10240 mem=0.85
  else
    n=8 max_tok=16000 batched=10240 mem=0.8
  fi
  stage_steps="${steps[$i]:-${steps[-1]}}"
  stage_args+=(
    --stage-override "$index:trainer.total_training_steps=$stage_steps"
    --stage-override "$index:actor_rollout_ref.rollout.n=$n"
    --stage-override "$index:actor_rollout_ref.rollout.val_kwargs.n=$n"
    --stage-override "$index:actor_rollout_ref.actor.ppo_max_token_len_per_gpu=$max_tok"
    --stage-override "$index:actor_rollout_ref.rollout.max_num_batched_tokens=$batched"
    --stage-override "$index:actor_rollout_ref.rollout.gpu_memory_utilization=$mem"
  )
done

dlrm_exec "$PYTHON" -m dissect_lrm.trainer.schedule --schedule "$SCHEDULE_STR" --output-dir "$OUTPUT_DIR" \
  --resume --length-unit "$length_unit" --python "$PYTHON" "${stage_args[@]}" \
  -- "${DLRM_OVERRIDES[@]}" "${DLRM_EXTRA_ARGS[@]}"
