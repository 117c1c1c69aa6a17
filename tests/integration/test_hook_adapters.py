"""The step hooks' adapters against a real TransferQueue batch (Ray), bounded and network-isolated."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from dissect_lrm.trainer.launcher import OFFLINE_ENV, isolated, run_bounded

pytestmark = [pytest.mark.ray, pytest.mark.timeout(400)]

INNER = Path(__file__).with_name("tq_hooks_inner.py")


def test_hook_adapters_on_transfer_queue(tmp_path):
    command = [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", str(INNER)]
    env = {**os.environ, **OFFLINE_ENV, "RAY_TMPDIR": "/tmp"}
    code, output, timed_out = run_bounded(isolated(command), cwd=tmp_path, env=env, timeout_s=360)
    assert not timed_out, output[-4000:]
    assert code == 0, output[-6000:]
    tests = INNER.read_text().count("\ndef test_")
    assert f"{tests} passed" in output, output[-6000:]
