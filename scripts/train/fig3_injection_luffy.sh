#!/usr/bin/env bash
# Paper Fig. 3, offline sample injection with the LUFFY loss (the original's Luffy_loss.sh), from DeepScaleR-1.5B-Preview. --help for the options.
set -euo pipefail
VARIANT=luffy
source "$(dirname "${BASH_SOURCE[0]}")/_fig3.sh"
