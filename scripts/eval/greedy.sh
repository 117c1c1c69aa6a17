#!/usr/bin/env bash
# Greedy decoding (Section 5.3, Figure 5 (c)): T 0; GREEDY_RUNS>1 repeats it to expose nondeterminism.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
BENCHMARKS=${BENCHMARKS:-"aime24 amc23 math500 olympiadbench"}
run_eval --protocol greedy --runs "${GREEDY_RUNS:-1}" "$@"
