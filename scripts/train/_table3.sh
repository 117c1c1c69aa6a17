# shellcheck shell=bash
# Shared body of table3_*.sh (sourced with RLR=0|1 and MAX_RESPONSE_K=8|4): paper Table 3, the
# relative length reward (RLR, eq. 6-7) against plain RL with a shorter sampling budget, continued
# from DeepScaleR-1.5B-Preview.
# Original script RLR_8k (docs/original-code.md#experiment-matrix; the 4k runs appear only in its utility scripts):
#   64 prompts x 8, mini-batch 64 (one on-policy update per step), no KL loss, entropy 0,
#   ppo_max_token_len 16000, vLLM max_num_batched_tokens 32768 / gpu_memory_utilization 0.85, n_val 8,
#   RLR alpha 0.75, lambda 500, eps_low -0.5, eps_up 1 (appendix B.4); 400 update steps (B.4);
#   validation on 200 held-out training problems (§4.2; the original pointed at a missing dev.parquet, docs/original-code.md#config-typos).
# The 8K/4K baselines use the same settings without RLR.
# docs/original-code.md#hidden-kl: the original ran with use_kl_loss=False, so verl 0.3 added a hidden in-reward KL (beta 0.001, 'kl').
#     Dropped here by default (algorithm.use_kl_in_reward=False); HIDDEN_KL=1 reproduces it on purpose.

source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

if [[ "$RLR" == "1" ]]; then
  DLRM_WHAT="RLR+${MAX_RESPONSE_K}K" DLRM_RLR_TEXT=" and the relative length reward (algorithm.rlr.*)" DLRM_TAG="rlr-"
else
  DLRM_WHAT="${MAX_RESPONSE_K}K baseline" DLRM_RLR_TEXT="" DLRM_TAG=""
fi
DLRM_USAGE="usage: [CPU=1] [HIDDEN_KL=1] $DLRM_SCRIPT [hydra overrides...]

Paper Table 3, $DLRM_WHAT: continue RL from DeepScaleR-1.5B-Preview for 400 steps with a
${MAX_RESPONSE_K}k sampling budget$DLRM_RLR_TEXT.
  HIDDEN_KL=1  reproduce the original's hidden in-reward KL (off by default)"
dlrm_parse_args "$@"

dlrm_gpu_default MODEL agentica-org/DeepScaleR-1.5B-Preview
dlrm_gpu_default TRAIN_FILES "$DLRM_DEEPSCALER_TRAIN"
dlrm_gpu_default VAL_FILES "$DLRM_DEEPSCALER_VAL"
EXP_NAME_DEFAULT="table3-${DLRM_TAG}${MAX_RESPONSE_K}k"
USE_KL_LOSS=False KL_LOSS_COEF=0
: "${ENTROPY_COEFF:=0.0}" "${PPO_MAX_TOKEN_LEN:=16000}"
: "${GPU_MEMORY_UTILIZATION:=0.85}" "${MAX_NUM_BATCHED_TOKENS:=32768}"
: "${TOTAL_STEPS:=400}"
: "${RLR_ALPHA:=0.75}" "${RLR_LAMBDA:=500}" "${RLR_EPS_LOW:=-0.5}" "${RLR_EPS_UP:=1.0}"
dlrm_build_overrides
if [[ "$CPU" != "1" ]]; then DLRM_OVERRIDES+=("trainer.total_training_steps=$TOTAL_STEPS"); fi
if [[ "$RLR" == "1" ]]; then
  rlr_lambda="$RLR_LAMBDA"
  # CPU=1 scales lengths by CPU_TOKENS_PER_K/1024, so lambda (a length in tokens) scales with them.
  if [[ "$CPU" == "1" ]]; then rlr_lambda="$(awk -v l="$RLR_LAMBDA" -v u="$CPU_TOKENS_PER_K" 'BEGIN { print l * u / 1024 }')"; fi
  DLRM_OVERRIDES+=(
    algorithm.rlr.enable=True
    algorithm.rlr.kind=relative
    "algorithm.rlr.alpha=$RLR_ALPHA"
    "algorithm.rlr.lambda=$rlr_lambda"
    "algorithm.rlr.eps_low=$RLR_EPS_LOW"
    "algorithm.rlr.eps_up=$RLR_EPS_UP"
  )
fi
dlrm_run_trainer
