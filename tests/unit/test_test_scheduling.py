"""The suite's own scheduling over pytest-xdist workers (tests/conftest.py, scripts/test.sh).

A module fixture (a trained model, a two-node cluster, the demo) is built once only if every test of its
module runs on the same worker; modules of independent trainer runs are spread test by test.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CONFTEST = REPO / "tests" / "conftest.py"


def load_conftest():
    spec = importlib.util.spec_from_file_location("dissect_lrm_tests_conftest", CONFTEST)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    ("nodeid", "scope"),
    [
        ("tests/e2e/test_demo_cpu.py::test_figure", "tests/e2e/test_demo_cpu.py"),
        ("tests/e2e/test_multinode_cpu.py::test_both[1]", "tests/e2e/test_multinode_cpu.py"),
        ("tests/unit/test_x.py::TestClass::test_y", "tests/unit/test_x.py"),
        ("tests/e2e/test_features_cpu.py::test_neg", "tests/e2e/test_features_cpu.py::test_neg"),
        ("tests/e2e/test_scripts_cpu.py::test_run[a.sh]", "tests/e2e/test_scripts_cpu.py::test_run[a.sh]"),
        ("tests/e2e/test_scripts_cpu.py::test_run[a::b]", "tests/e2e/test_scripts_cpu.py::test_run[a::b]"),
    ],
)
def test_scheduling_scope(nodeid, scope):
    assert load_conftest().scheduling_scope(nodeid) == scope


def test_xdist_args_of_the_test_command_keep_a_module_on_one_worker(tmp_path):
    """Runs pytest with the test command's xdist options on a generated suite: one module of six tests with
    a module fixture, and a spread module; the fixture must be built once and its tests share a worker."""
    line = next(
        line
        for line in (REPO / "scripts" / "test.sh").read_text().splitlines()
        if line.startswith("XDIST_ARGS=")
    )
    xdist_args = shlex.split(shlex.split(line.split("=", 1)[1].split("#")[0])[0])
    suite, out = tmp_path / "suite", tmp_path / "out"
    (suite / "e2e").mkdir(parents=True)
    out.mkdir()
    (suite / "pytest.ini").write_text("[pytest]\n")
    (suite / "conftest.py").write_text(
        "import importlib.util\n"
        f"spec = importlib.util.spec_from_file_location('repo_conftest', {str(CONFTEST)!r})\n"
        "repo = importlib.util.module_from_spec(spec); spec.loader.exec_module(repo)\n"
        "pytest_xdist_make_scheduler = repo.pytest_xdist_make_scheduler\n"
    )
    record = (
        "import os, time, uuid, pytest\n"
        f"OUT = {str(out)!r}\n"
        "def note(kind):\n"
        "    with open(os.path.join(OUT, f'{kind}-{uuid.uuid4().hex}'), 'w') as f:\n"
        "        f.write(os.environ['PYTEST_XDIST_WORKER'])\n"
    )
    (suite / "e2e" / "test_grouped.py").write_text(
        record + "@pytest.fixture(scope='module')\n"
        "def built():\n    note('build')\n"
        + "".join(f"def test_{i}(built):\n    note('grouped'); time.sleep(0.2)\n" for i in range(6))
    )
    (suite / "e2e" / "test_features_cpu.py").write_text(
        record + "".join(f"def test_{i}():\n    note('spread'); time.sleep(0.2)\n" for i in range(6))
    )
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST_")}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "2", *xdist_args, str(suite)],
        cwd=suite,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert re.search(r"\b12 passed\b", done.stdout), done.stdout[-3000:]

    def workers(kind: str) -> list[str]:
        return [path.read_text() for path in out.glob(f"{kind}-*")]

    assert len(workers("build")) == 1, json.dumps(workers("build"))
    assert len(set(workers("grouped"))) == 1 and len(workers("grouped")) == 6, workers("grouped")
    assert len(workers("spread")) == 6
