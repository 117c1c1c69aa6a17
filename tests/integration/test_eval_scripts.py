"""scripts/eval/*.sh: each protocol script builds a valid `dissect-lrm eval` call (checked with --dry-run)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPTS = REPO / "scripts" / "eval"
EXPECTED = {
    "math.sh": [
        "protocol math [",
        "aime24",
        "aime25",
        "amc23",
        "math500",
        "olympiadbench",
        "temperature 0.6 top_p 0.95 max_tokens 32768",
    ],  # fmt: skip
    "8k.sh": ["protocol 8k [", "max_tokens 8192", "aime24", "amc23"],
    "16k.sh": ["protocol 16k [", "max_tokens 16384"],
    "multiple_choice.sh": ["protocol multiple_choice [", "gpqa", "gaokao", "mmlu_stem", "like \\\\boxed{A}"],
    "robustness.sh": ["protocol n1_3 [", "protocol n2_3 [", "noise N1 x3", "noise N2 x3", "<BEGIN IGNORE>"],
    "greedy.sh": ["protocol greedy [", "temperature 0.0 top_p 1.0"],
    "temperature_sweep.sh": ["protocol math-t0 [", "protocol math-t0.6 [", "protocol math-t1 ["],
}


def test_every_script_is_covered():
    assert sorted(p.name for p in SCRIPTS.glob("*.sh") if p.name != "common.sh") == sorted(EXPECTED)


@pytest.mark.parametrize("script", sorted(EXPECTED))
def test_script_dry_run(script, shared_dir, tmp_path):
    if not (shared_dir / "data" / "benchmarks").is_dir():
        pytest.skip("../shared/data/benchmarks absent")
    env = {
        **os.environ,
        "MODEL": "org/served-model",
        "OUTPUT_DIR": str(tmp_path / "out"),
        "BACKEND": "openai",
        "NOISE_SHOTS": "3",
        "TEMPERATURES": "0,0.6,1",
        "DISSECT_LRM": f"{sys.executable} -m dissect_lrm.eval.cli",
        "EXTRA_ARGS": "--dry-run --limit 2",
        "PYTHONPATH": str(REPO),
    }
    result = subprocess.run(
        ["bash", str(SCRIPTS / script)], env=env, capture_output=True, text=True, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr[-2000:]
    for text in EXPECTED[script]:
        assert text in result.stdout, (text, result.stdout[-3000:])
    assert "--backend openai" in result.stderr and "--base-url http://127.0.0.1:8000/v1" in result.stderr
    assert not (tmp_path / "out").exists()


def test_model_is_required(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "MODEL"}
    result = subprocess.run(["bash", str(SCRIPTS / "math.sh")], env=env, capture_output=True, text=True)
    assert result.returncode != 0 and "set MODEL" in result.stderr
