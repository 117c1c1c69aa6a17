#!/usr/bin/env bash
# W-REINFORCE (Zhu et al., 2025): the Table 1 setting (8k, all samples kept) with positive samples'
# advantages weighted by lambda and negative ones by 1: algorithm.sample_filter.preset=w_reinforce
# (lambda: algorithm.sample_filter.w_reinforce_lambda, default 0.1; pass it as a hydra override).
# MODEL_SIZE=1.5b|7b picks DeepSeek-R1-Distill-Qwen-1.5B / 7B. --help for the options.
set -euo pipefail
FILTER_MODE=both
FILTER_PRESET=w_reinforce
source "$(dirname "${BASH_SOURCE[0]}")/_table1.sh"
