#!/usr/bin/env bash
# Budgeted protocol (Table 1 "8K"): output capped at 8192 tokens (the original vllm_8k_test).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
BENCHMARKS=${BENCHMARKS:-"aime24 amc23"}
run_eval --protocol 8k "$@"
