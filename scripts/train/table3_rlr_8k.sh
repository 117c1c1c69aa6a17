#!/usr/bin/env bash
# Paper Table 3, RLR+8K: relative length reward with a 8k sampling budget, from DeepScaleR-1.5B-Preview. --help for the options.
set -euo pipefail
RLR=1
MAX_RESPONSE_K=8
source "$(dirname "${BASH_SOURCE[0]}")/_table3.sh"
