#!/usr/bin/env bash
# Budgeted protocol: output capped at 16384 tokens (the original vllm_16k_test).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
BENCHMARKS=${BENCHMARKS:-"aime24 amc23"}
run_eval --protocol 16k "$@"
