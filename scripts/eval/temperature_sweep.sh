#!/usr/bin/env bash
# Temperature sweep (Figure 4 (b)): one store per temperature, TEMPERATURES=0,0.2,0.4,0.6,0.8,1.0.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
BENCHMARKS=${BENCHMARKS:-"aime24"}
run_eval --protocol math --temperatures "${TEMPERATURES:-0,0.2,0.4,0.6,0.8,1.0}" "$@"
