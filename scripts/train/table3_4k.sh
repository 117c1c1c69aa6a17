#!/usr/bin/env bash
# Paper Table 3, 4K: plain RL with a 4k sampling budget (baseline of RLR+4K), from DeepScaleR-1.5B-Preview. --help for the options.
set -euo pipefail
RLR=0
MAX_RESPONSE_K=4
source "$(dirname "${BASH_SOURCE[0]}")/_table3.sh"
