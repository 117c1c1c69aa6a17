#!/usr/bin/env bash
# Paper Table 3, RLR+4K: relative length reward with a 4k sampling budget, from DeepScaleR-1.5B-Preview. --help for the options.
set -euo pipefail
RLR=1
MAX_RESPONSE_K=4
source "$(dirname "${BASH_SOURCE[0]}")/_table3.sh"
