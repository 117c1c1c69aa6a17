#!/usr/bin/env bash
# Paper Table 6 (appendix C.1): the Table 1 Neg / Pos runs with GRPO's length bias removed.
# As the paper (and the original's loss_remove_token_mean): the loss is a token sum divided by a constant,
# the maximum response length (seq-mean-token-sum-norm + loss_scale_factor), with the advantage's std
# normalisation kept. DR_GRPO=1 also drops the std normalisation (full Dr.GRPO, Liu et al. 2025).
# Every other hyper-parameter is Table 1's (see _table1.sh). verl 0.9.1 divides by the global number of
# sequences of the mini-batch, the original per micro-batch did not: same per-token weighting, another
# constant scale (verl's seq-mean-token-sum-norm divides by the mini-batch's sequence count).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

DLRM_USAGE="usage: [MODE=neg|pos|both] [DR_GRPO=1] [CPU=1] $DLRM_SCRIPT [hydra overrides...]

Paper Table 6, 'Remove the length bias': GRPO at 8k from DeepSeek-R1-Distill-Qwen-1.5B with
actor_rollout_ref.actor.loss_agg_mode=seq-mean-token-sum-norm and loss_scale_factor=max response length.
  MODE       sample filter: neg (default) or pos, the two rows of Table 6 (both = plain GRPO)
  DR_GRPO=1  full Dr.GRPO: also algorithm.norm_adv_by_std_in_grpo=False (the paper kept the std)"
dlrm_parse_args "$@"

MODE="${MODE:-neg}"
case "$MODE" in neg | pos | both) ;; *) dlrm_die "MODE=$MODE: expected neg, pos or both" ;; esac
DR_GRPO="${DR_GRPO:-0}"
dlrm_gpu_default MODEL deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B
dlrm_gpu_default TRAIN_FILES "$DLRM_DEEPSCALER_TRAIN"
dlrm_gpu_default VAL_FILES "$DLRM_AIME_VAL"
EXP_NAME_DEFAULT="table6-8k-${MODE}-$([[ "$DR_GRPO" == "1" ]] && echo drgrpo || echo nolenbias)"
MAX_RESPONSE_K=8
: "${PPO_MAX_TOKEN_LEN:=16000}" "${GPU_MEMORY_UTILIZATION:=0.8}"
dlrm_build_overrides
DLRM_OVERRIDES+=(
  "algorithm.sample_filter.mode=$MODE"
  actor_rollout_ref.actor.loss_agg_mode=seq-mean-token-sum-norm
  "actor_rollout_ref.actor.loss_scale_factor=$MAX_RESPONSE_LENGTH"
)
if [[ "$DR_GRPO" == "1" ]]; then
  DLRM_OVERRIDES+=(algorithm.norm_adv_by_std_in_grpo=False)
else
  DLRM_OVERRIDES+=(algorithm.norm_adv_by_std_in_grpo=True)
fi
dlrm_run_trainer
