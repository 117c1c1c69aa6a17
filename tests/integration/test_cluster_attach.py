"""The trainer's start-up checks against a real Ray cluster started elsewhere (``ray start --head``).

One namespace, one single-node cluster (1 fake GPU, 4 CPUs) whose workers see a dissect_lrm that
fails to import (a shadow package first on the PYTHONPATH given to ``ray start``), and three launches
attached to it through RAY_ADDRESS, each of which must stop at start-up with exit 2 and one message:
too few GPUs for trainer.nnodes=2 (launched through an experiment script, as users do), the node
without our package, and an address nobody answers.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from dissect_lrm.trainer.launcher import OFFLINE_ENV, can_isolate_network, isolated, run_bounded

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.ray, pytest.mark.timeout(600)]

SCRIPT = r"""
set -u
ray="$(dirname "$PYTHON")/ray"
PYTHONPATH="$SHADOW" "$ray" start --head --disable-usage-stats --node-ip-address=127.0.0.1 --port=6391 \
  --num-cpus=4 --num-gpus=1 --include-dashboard=false --temp-dir="$RAY_TMP" >/dev/null 2>&1 || exit 97
launch() {  # name, RAY_ADDRESS, overrides...
  local name="$1" address="$2"; shift 2
  RAY_ADDRESS="$address" DISSECT_LRM_RAY_CONNECT_TIMEOUT=5 "$PYTHON" -m dissect_lrm.trainer.main "$@" \
    >"$OUT/$name.log" 2>&1
  echo $? >"$OUT/$name.rc"
}
# An experiment script attaches the same way (its CPU mode adds a Ray temp dir, which attaching drops).
RAY_ADDRESS=127.0.0.1:6391 DISSECT_LRM_RAY_CONNECT_TIMEOUT=5 CPU=1 bash "$ROOT/scripts/train/table1_neg.sh" \
  trainer.nnodes=2 "hydra.run.dir=$OUT/hydra-script" >"$OUT/resources.log" 2>&1
echo $? >"$OUT/resources.rc"
# Run from another directory than the checkout: Ray puts the driver's working directory on the
# workers' sys.path, which would let them import the checkout past the shadow package.
launch package 127.0.0.1:6391 "$@" trainer.nnodes=1 trainer.n_gpus_per_node=1
launch address 127.0.0.1:6392 "$@"
"$ray" stop --force >/dev/null 2>&1
"""


@pytest.fixture(scope="module")
def launches(tiny_kit, tmp_path_factory):
    if not can_isolate_network():
        pytest.skip("needs a loopback-only network + PID namespace (root and unshare) to start a Ray cluster")
    out = tmp_path_factory.mktemp("cluster_attach")
    shadow = out / "shadow" / "dissect_lrm"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text('raise ImportError("dissect_lrm is not installed on this node")\n')
    ray_tmp = Path(os.environ.get("TMPDIR", "/tmp")) / f"dlrm-ray-attach-{os.getpid()}"
    overrides = [
        "+preset=cpu",
        f"data.train_files={tiny_kit.train_parquet}",
        f"data.val_files={tiny_kit.val_parquet}",
        "data.train_batch_size=8",
        "actor_rollout_ref.actor.ppo_mini_batch_size=8",
        f"actor_rollout_ref.model.path={tiny_kit.model_dir}",
        f"hydra.run.dir={out / 'hydra'}",
    ]
    env = {
        **os.environ,
        **OFFLINE_ENV,
        "PYTHON": sys.executable,
        "SHADOW": str(shadow.parent),
        "RAY_TMP": str(ray_tmp),
        "OUT": str(out),
        "ROOT": str(ROOT),
        "MODEL": str(tiny_kit.model_dir),
        "TRAIN_FILES": str(tiny_kit.train_parquet),
        "VAL_FILES": str(tiny_kit.val_parquet),
        "OUTPUT_DIR": str(out / "table1_neg"),
    }
    returncode, output, timed_out = run_bounded(
        isolated(["bash", "-c", SCRIPT, "_", *overrides]), cwd=out, env=env, timeout_s=540
    )
    assert not timed_out and returncode == 0, output
    return {
        name: ((out / f"{name}.log").read_text(), int((out / f"{name}.rc").read_text()))
        for name in ("resources", "package", "address")
    }


def error_lines(log: str) -> list[str]:
    return [line for line in log.splitlines() if line.startswith("dissect-lrm: error:")]


def test_too_few_gpus_names_what_the_cluster_offers(launches):
    log, rc = launches["resources"]
    assert rc == 2, log
    [line] = error_lines(log)
    assert "RAY_ADDRESS=127.0.0.1:6391: trainer.nnodes=2 x trainer.n_gpus_per_node=1 needs 2 node(s)" in line
    assert "offers room for 1: node " in line and "(127.0.0.1): 1 GPU, 4 CPU" in line
    assert "Traceback" not in log


def test_node_without_our_package_is_named(launches):
    log, rc = launches["package"]
    assert rc == 2, log
    [line] = error_lines(log)
    assert (
        "(127.0.0.1): 1 GPU, 4 CPU cannot import dissect_lrm (ImportError: dissect_lrm is not installed"
        in line
    )
    assert "Traceback" not in log


def test_address_nobody_answers(launches):
    log, rc = launches["address"]
    assert rc == 2, log
    [line] = error_lines(log)
    assert "RAY_ADDRESS=127.0.0.1:6392: no Ray head answers at 127.0.0.1:6392 within 5 s" in line
    assert "Traceback" not in log
