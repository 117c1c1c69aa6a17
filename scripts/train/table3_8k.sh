#!/usr/bin/env bash
# Paper Table 3, 8K: plain RL with a 8k sampling budget (baseline of RLR+8K), from DeepScaleR-1.5B-Preview. --help for the options.
set -euo pipefail
RLR=0
MAX_RESPONSE_K=8
source "$(dirname "${BASH_SOURCE[0]}")/_table3.sh"
