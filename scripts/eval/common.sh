#!/usr/bin/env bash
# Shared defaults of the evaluation scripts; every variable can be overridden from the environment.
#   MODEL        model path (e.g. checkpoints/.../actor/huggingface) or hub id        (required)
#   OUTPUT_DIR   root of the stores and the report                                  (runs/eval)
#   BACKEND      vllm (offline, all GPUs) | openai (a running server) | hf (CPU)     (vllm)
#   GPUS         vllm: comma-separated GPU ids                                      (all visible)
#   TP           vllm: tensor-parallel GPUs per replica; replicas = GPUs / TP       (1)
#   BASE_URLS    openai: space-separated server URLs ending in /v1                  (http://127.0.0.1:8000/v1)
#   CONCURRENCY  openai: requests in flight                                         (64)
#   SEED         base seed of every (problem, run)                                  (0)
#   RUNS         runs per problem for every benchmark                               (Table 5 of the paper)
#   BENCHMARKS   space-separated benchmark names or files                           (per script)
#   DATA_DIR     benchmark directory                                                (../shared/data/benchmarks)
#   DISSECT_LRM  the command                                                        (dissect-lrm)
#   EXTRA_ARGS   anything else for `dissect-lrm eval`, e.g. "--limit 5 --dry-run"
set -euo pipefail

: "${MODEL:?set MODEL to a model path or hub id}"
OUTPUT_DIR=${OUTPUT_DIR:-runs/eval}
BACKEND=${BACKEND:-vllm}
SEED=${SEED:-0}
CONCURRENCY=${CONCURRENCY:-64}
TP=${TP:-1}
DISSECT_LRM=${DISSECT_LRM:-dissect-lrm}

# Builds the argument list of `dissect-lrm eval` common to all protocols into EVAL_ARGS.
eval_args() {
  EVAL_ARGS=(--model "$MODEL" --output-dir "$OUTPUT_DIR" --backend "$BACKEND" --seed "$SEED")
  local bench
  for bench in $BENCHMARKS; do EVAL_ARGS+=(-b "$bench"); done
  [[ -n "${RUNS:-}" ]] && EVAL_ARGS+=(--runs "$RUNS")
  [[ -n "${DATA_DIR:-}" ]] && EVAL_ARGS+=(--data-dir "$DATA_DIR")
  case "$BACKEND" in
    vllm)
      EVAL_ARGS+=(--tp "$TP")
      [[ -n "${GPUS:-}" ]] && EVAL_ARGS+=(--gpus "$GPUS")
      ;;
    openai)
      local url
      for url in ${BASE_URLS:-http://127.0.0.1:8000/v1}; do EVAL_ARGS+=(--base-url "$url"); done
      EVAL_ARGS+=(--concurrency "$CONCURRENCY")
      ;;
  esac
  # shellcheck disable=SC2206  # EXTRA_ARGS is split on purpose
  EVAL_ARGS+=(${EXTRA_ARGS:-})
  return 0
}

run_eval() {
  eval_args
  echo "+ $DISSECT_LRM eval ${EVAL_ARGS[*]} $*" >&2
  # shellcheck disable=SC2086  # DISSECT_LRM may be "python -m dissect_lrm.eval.cli"
  $DISSECT_LRM eval "${EVAL_ARGS[@]}" "$@"
}
