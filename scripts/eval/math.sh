#!/usr/bin/env bash
# General math protocol (paper §3.1, Table 5): T 0.6, top-p 0.95, 32768 tokens; 64/64/64/16/16 runs.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
BENCHMARKS=${BENCHMARKS:-"aime24 aime25 amc23 math500 olympiadbench"}
run_eval --protocol math "$@"
