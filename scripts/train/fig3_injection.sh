#!/usr/bin/env bash
# Paper Fig. 3, offline sample injection without the LUFFY loss, from DeepScaleR-1.5B-Preview. --help for the options.
set -euo pipefail
VARIANT=injection
source "$(dirname "${BASH_SOURCE[0]}")/_fig3.sh"
