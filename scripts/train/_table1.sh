# shellcheck shell=bash
# Shared body of table1_{both,neg,pos}.sh (sourced with FILTER_MODE set): paper Table 1, the
# positive/negative sample ablation at 8k from DeepSeek-R1-Distill-Qwen-{1.5B,7B}. w_reinforce.sh
# also sources it, with FILTER_PRESET=w_reinforce: the same run with the weighted-filter preset.
# Original scripts 8k_baseline / 8k_neg / 8k_pos (docs/original-code.md#experiment-matrix):
#   64 prompts x 8 samples, mini-batch 64 (one on-policy update per step), kl_loss 0.001 low_var_kl,
#   entropy 0.001, max response 8192, ppo_max_token_len 20000 (both) / 16000 (pos, neg),
#   vLLM max_num_batched_tokens 10240, gpu_memory_utilization 0.85 (both) / 0.80 (pos, neg), n_val 8.
# docs/original-code.md#hidden-kl: these runs use the KL loss, so verl 0.3 applied no in-reward KL: nothing hidden to reproduce.
# The original release has no 7B scripts: MODEL_SIZE=7b keeps every hyper-parameter of the 1.5B runs.

source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

DLRM_USAGE="usage: [MODEL_SIZE=1.5b|7b] [CPU=1] $DLRM_SCRIPT [hydra overrides...]

Paper Table 1 ($FILTER_MODE): GRPO at 8k with algorithm.sample_filter.mode=$FILTER_MODE
(both = standard GRPO; neg = update on incorrect samples only; pos = correct samples only).
Trains until stopped (total_epochs 30, checkpoint and validation every 10 steps, as the original);
the paper picked the best validation checkpoint after the plateau.
  MODEL_SIZE   1.5b (default): deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B; 7b: ...-Qwen-7B"
dlrm_parse_args "$@"

MODEL_SIZE="${MODEL_SIZE:-1.5b}"
case "$MODEL_SIZE" in
  1.5b | 1.5B) dlrm_gpu_default MODEL deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B ;;
  7b | 7B) dlrm_gpu_default MODEL deepseek-ai/DeepSeek-R1-Distill-Qwen-7B ;;
  *) dlrm_die "MODEL_SIZE=$MODEL_SIZE: expected 1.5b or 7b" ;;
esac
dlrm_gpu_default TRAIN_FILES "$DLRM_DEEPSCALER_TRAIN"
dlrm_gpu_default VAL_FILES "$DLRM_AIME_VAL"

FILTER_PRESET="${FILTER_PRESET:-}"
EXP_NAME_DEFAULT="table1-8k-${FILTER_MODE}-${MODEL_SIZE,,}"
[[ -n "$FILTER_PRESET" ]] && EXP_NAME_DEFAULT="${FILTER_PRESET//_/-}-8k-${MODEL_SIZE,,}"
MAX_RESPONSE_K=8
if [[ "$FILTER_MODE" == "both" ]]; then
  : "${PPO_MAX_TOKEN_LEN:=20000}" "${GPU_MEMORY_UTILIZATION:=0.85}"
else
  : "${PPO_MAX_TOKEN_LEN:=16000}" "${GPU_MEMORY_UTILIZATION:=0.8}"
fi
dlrm_build_overrides
DLRM_OVERRIDES+=("algorithm.sample_filter.mode=$FILTER_MODE")
[[ -n "$FILTER_PRESET" ]] && DLRM_OVERRIDES+=("algorithm.sample_filter.preset=$FILTER_PRESET")
dlrm_run_trainer
