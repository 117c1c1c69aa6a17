#!/usr/bin/env bash
# Robustness (Table 1 N1/N2): many-shot noise prompts; NOISE="n1 n2", NOISE_SHOTS (paper: 20 for 1.5B, 100 for 7B).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
BENCHMARKS=${BENCHMARKS:-"aime24 amc23"}
NOISE=${NOISE:-"n1 n2"}
NOISE_SHOTS=${NOISE_SHOTS:-100}
for noise in $NOISE; do
  run_eval --protocol "$noise" --noise-shots "$NOISE_SHOTS" --protocol-name "${noise}_${NOISE_SHOTS}" "$@"
done
