#!/usr/bin/env bash
# Paper Table 1, "Pos": GRPO at 8k with algorithm.sample_filter.mode=pos (original script 8k_pos).
# MODEL_SIZE=1.5b|7b picks DeepSeek-R1-Distill-Qwen-1.5B / 7B. --help for the options.
set -euo pipefail
FILTER_MODE=pos
source "$(dirname "${BASH_SOURCE[0]}")/_table1.sh"
