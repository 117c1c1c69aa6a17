#!/usr/bin/env bash
# The whole test suite: set up the venv, lint (ruff + import-linter contracts), then pytest.
# Extra arguments go to pytest (e.g. `scripts/test.sh tests/unit -x`).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup_env.sh
VENV=${VENV:-.venv}
export WANDB_MODE=disabled HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1 \
  RAY_USAGE_STATS_ENABLED=0 TOKENIZERS_PARALLELISM=false

echo "test: ruff"
"$VENV/bin/ruff" check .
"$VENV/bin/ruff" format --check .
echo "test: import-linter (the house rules)"
"$VENV/bin/lint-imports" --no-cache
echo "test: pytest"
# Two pytest-xdist workers: one trainer run keeps about one core busy (start-up is mostly sequential
# imports), so two runs side by side use a 2-core machine fully. TEST_WORKERS=0 runs in one process.
# --force-short-summary: one line per failure at the end (CI would print each whole message there).
XDIST_ARGS="--dist loadscope --no-loadscope-reorder"  # tests/conftest.py: a module per worker, in order
# shellcheck disable=SC2086
"$VENV/bin/python" -m pytest -q --timeout=900 --durations=15 --force-short-summary -n "${TEST_WORKERS:-2}" $XDIST_ARGS "$@"
