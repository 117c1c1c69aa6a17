#!/usr/bin/env bash
# Paper Fig. 3, continued-training baseline: standard RL on the same data, no injection, from DeepScaleR-1.5B-Preview. --help for the options.
set -euo pipefail
VARIANT=continued
source "$(dirname "${BASH_SOURCE[0]}")/_fig3.sh"
