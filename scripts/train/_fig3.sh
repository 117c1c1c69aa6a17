# shellcheck shell=bash
# Shared body of fig3_*.sh (sourced with VARIANT=continued|injection|luffy): paper Fig. 3 (§4.3,
# appendix B.5), offline sample injection from DeepScaleR-1.5B-Preview on the 2,560 hard problems
# that have verified teacher (QwQ-32B) solutions, AIME24 during training.
# Original script Luffy_loss.sh (docs/original-code.md#experiment-matrix):
#   128 prompts x 16, mini-batch 64 (two optimizer steps per step), max response 24576, no KL loss,
#   entropy 0, ppo_max_token_len 32768, vLLM max_num_batched_tokens 32768 / gpu_memory_utilization 0.9,
#   n_val 16, injection for groups with accuracy <= 0.125 (no per-group cap), LUFFY loss, the loss as a
#   token sum / max response length, n-gram repetition penalty (40-grams, -2) and the truncated-sample
#   advantage mask; save_freq 2 (here 10: a full 1.5B checkpoint every 2 steps fills a disk quickly).
# Variants: injection = the same without the LUFFY loss (the original's "only needs
# enable_luffy_loss=False"); continued = the baseline "continue training on the same dataset using
# standard RL": no injection, no repetition penalty or truncation mask, token-mean loss.
# docs/original-code.md#hidden-kl: use_kl_loss=False, so verl 0.3 added a hidden in-reward KL (beta 0.001, 'kl'). Dropped here by
#     default (algorithm.use_kl_in_reward=False); HIDDEN_KL=1 reproduces it on purpose.

source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

case "$VARIANT" in
  continued) DLRM_WHAT="continued-training baseline (standard RL on the same data)" ;;
  injection) DLRM_WHAT="offline sample injection (algorithm.injection.*)" ;;
  luffy) DLRM_WHAT="offline sample injection + LUFFY loss (algorithm.injection.*, algorithm.luffy.*)" ;;
  *) dlrm_die "VARIANT=$VARIANT: expected continued, injection or luffy" ;;
esac
DLRM_USAGE="usage: [CPU=1] [HIDDEN_KL=1] $DLRM_SCRIPT [hydra overrides...]

Paper Fig. 3, $DLRM_WHAT: RL from DeepScaleR-1.5B-Preview at 24k on problems
with verified offline solutions (TRAIN_FILES needs the offline_solutions column: dissect-lrm data train).
  HIDDEN_KL=1              reproduce the original's hidden in-reward KL (off by default)
  REPETITION=0|1           n-gram repetition penalty + truncated-sample mask (default 1 with injection)
  LUFFY_ON_POLICY_CLIP     luffy: clip on-policy tokens (default False = what the original ran)"
dlrm_parse_args "$@"

dlrm_gpu_default MODEL agentica-org/DeepScaleR-1.5B-Preview
dlrm_gpu_default TRAIN_FILES "$DLRM_OFFLINE_TRAIN"
dlrm_gpu_default VAL_FILES "$DLRM_AIME_VAL"
NEEDS_OFFLINE_SOLUTIONS=1
EXP_NAME_DEFAULT="fig3-24k-$VARIANT"
MAX_RESPONSE_K=24
TRAIN_BATCH_SIZE=128 ROLLOUT_N=16 PPO_MINI_BATCH_SIZE=64
USE_KL_LOSS=False KL_LOSS_COEF=0
: "${ENTROPY_COEFF:=0.0}" "${PPO_MAX_TOKEN_LEN:=32768}"
: "${GPU_MEMORY_UTILIZATION:=0.9}" "${MAX_NUM_BATCHED_TOKENS:=32768}" "${N_VAL:=16}"
if [[ "$VARIANT" == "continued" ]]; then : "${REPETITION:=0}"; else : "${REPETITION:=1}"; fi
dlrm_build_overrides
if [[ "$VARIANT" != "continued" ]]; then
  DLRM_OVERRIDES+=(
    algorithm.injection.enable=True
    algorithm.injection.gamma=0.125
    algorithm.injection.max_inject=-1
    algorithm.injection.policy=incorrect_first   # replace wrong answers first, as the original did
    algorithm.injection.column=offline_solutions
    # the original's loss_remove_token_mean: token sum / max response length
    actor_rollout_ref.actor.loss_agg_mode=seq-mean-token-sum-norm
    "actor_rollout_ref.actor.loss_scale_factor=$MAX_RESPONSE_LENGTH"
  )
fi
if [[ "$REPETITION" == "1" ]]; then
  DLRM_OVERRIDES+=(
    algorithm.repetition.enable=True
    algorithm.repetition.ngram_size=40
    algorithm.repetition.max_penalty=-2
    algorithm.truncation_mask.enable=True
    # docs/original-code.md#truncation-mask, reproduced on purpose: the original masked only truncated wrong samples that were ALSO flagged
    # repetitive (its comment said the opposite); require_repetition=False masks every truncated wrong one.
    algorithm.truncation_mask.require_repetition=True
  )
fi
if [[ "$VARIANT" == "luffy" ]]; then
  DLRM_OVERRIDES+=(
    algorithm.luffy.enable=True
    algorithm.luffy.gamma=0.1
    # docs/original-code.md#luffy-unclipped, reproduced on purpose: the original's LUFFY path never clipped on-policy tokens (so its
    # clip_ratio 0.35 was dead); True gives LUFFY's own clipped variant with clip_ratio 0.35.
    "algorithm.luffy.on_policy_clip=${LUFFY_ON_POLICY_CLIP:-False}"
    actor_rollout_ref.actor.clip_ratio=0.35
  )
fi
dlrm_run_trainer
