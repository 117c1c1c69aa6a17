#!/usr/bin/env bash
# Create or refresh the project virtualenv (.venv) on a CPU machine. Idempotent and quick when
# nothing changed: the install is keyed on a hash of the requirement and lock files.
#
#   1. CPU torch 2.13.0 first, so nothing later can pull a CUDA build (asserted below);
#   2. everything else pinned by requirements-lock.txt (no resolver backtracking);
#   3. dissect-lrm itself, editable.
#
# Env: VENV (default .venv), PYTHON (default python3), TORCH_INDEX_URL (an index that serves the CPU
# torch wheel, e.g. PyTorch's CPU index, for machines whose pip configuration does not provide one).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

VENV=${VENV:-.venv}
PYTHON=${PYTHON:-python3}
STAMP="$VENV/.dissect-lrm-install"
WANT=$(cat requirements.txt requirements-dev.txt requirements-lock.txt setup.py | sha256sum | cut -c1-16)

if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$WANT" ] && "$VENV/bin/python" -c "import dissect_lrm, torch, verl" 2>/dev/null; then
  echo "setup: $VENV is up to date"
  exit 0
fi

start=$(date +%s)
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check)

echo "setup: installing CPU torch 2.13.0"
if [ -n "${TORCH_INDEX_URL:-}" ]; then
  "${PIP[@]}" install -q "torch==2.13.0" --index-url "$TORCH_INDEX_URL"
else
  "${PIP[@]}" install -q "torch==2.13.0"
fi

assert_cpu_torch() {
  "$VENV/bin/python" - <<'PY'
import importlib.metadata as md
import torch
assert torch.version.cuda is None and torch.__version__.endswith("+cpu"), (
    f"expected the CPU build of torch, got {torch.__version__} (cuda {torch.version.cuda}); "
    "set TORCH_INDEX_URL to an index serving the CPU wheel")
cuda = sorted(d.metadata["Name"] for d in md.distributions() if d.metadata["Name"].lower().startswith("nvidia-"))
assert not cuda, f"CUDA wheels were installed on a CPU machine: {cuda}"
PY
}
assert_cpu_torch

echo "setup: installing locked dependencies"
"${PIP[@]}" install -q -c requirements-lock.txt -r requirements.txt -r requirements-dev.txt
"${PIP[@]}" install -q --no-deps -e .
assert_cpu_torch

echo "$WANT" > "$STAMP"
echo "setup: done in $(( $(date +%s) - start )) s"
