#!/usr/bin/env bash
# Multiple-choice protocol (generalization): letter-in-\boxed{} suffix; GPQA 32, GaoKao 32, MMLU-STEM 4 runs.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
BENCHMARKS=${BENCHMARKS:-"gpqa gaokao mmlu_stem"}
run_eval --protocol multiple_choice "$@"
