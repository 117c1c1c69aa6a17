"""`dissect-lrm demo --quick` end to end, as a user runs it: what it prints and what REPORT.md and the
figure hold. Three real (tiny) verl training runs; a second invocation resumes without training."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from dissect_lrm.demo_report import DIRECTION_ONLY, INCONCLUSIVE, NOT_REPRODUCED, REPRODUCED
from dissect_lrm.trainer.launcher import OFFLINE_ENV

pytestmark = [pytest.mark.e2e, pytest.mark.ray, pytest.mark.timeout(1800)]

VERDICTS = (REPRODUCED, DIRECTION_ONLY, NOT_REPRODUCED, INCONCLUSIVE)
MODELS = ("before", "GRPO both", "GRPO neg", "GRPO pos")


def run_demo(out: Path) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "dissect_lrm.cli", "demo", "--quick", "--output-dir", str(out)]
    env = {**os.environ, **OFFLINE_ENV}
    return subprocess.run(command, capture_output=True, text=True, timeout=1700, env=env)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    result = run_demo(out)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return out, result


def test_report_has_a_row_per_model_and_a_verdict_per_claim(demo):
    out, _ = demo
    report = (out / "REPORT.md").read_text()
    rows = [line for line in report.splitlines() if line.startswith("| ")][1:]  # below the header
    assert [row.split("|")[1].strip() for row in rows] == list(MODELS)
    for row in rows:
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        # pass@1, its CI, pass@1,2,4 (quick: 4 runs), training-split pass@1, the paired test.
        assert len(cells) == 8, row
        low, high = (float(x) for x in re.findall(r"[-\d.]+", cells[2]))
        assert low <= float(cells[1]) <= high
        assert float(cells[3]) == pytest.approx(float(cells[1]), abs=1e-3)  # pass@1 = avg pass@1
        assert float(cells[3]) <= float(cells[4]) <= float(cells[5])  # pass@k does not fall with k
    assert rows[0].rstrip().endswith("| - |")
    assert all(re.search(r"[+-]\d+\.\d pts, p=", row) for row in rows[1:])
    verdicts = [line for line in report.splitlines() if line.startswith("- **")]
    assert len(verdicts) == 6
    for line in verdicts:
        assert any(line.startswith(f"- **{word}**") for word in VERDICTS), line
    assert "p=" in verdicts[0] and "neg - both" in verdicts[2] and "pass@4" in verdicts[4]
    assert "(demo_posneg.png)" in report


def test_figure_is_a_png_with_every_panel(demo):
    out, _ = demo
    figure = out / "demo_posneg.png"
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    image = Image.open(figure)
    assert image.width > 1200 and image.height > 500
    panels = image.info["Panels"].split(" | ")
    assert panels == [
        "training accuracy", "policy entropy", "mean response length (tokens)",
        "zero-advantage groups (share)", "kept positive samples", "kept negative samples",
        "held-out pass@k", "avg pass@1: held-out, 95% CI; train (hatched)",
    ]  # fmt: skip
    assert image.info["Legend"] == "before, both, neg, pos"


def test_per_step_curves_are_what_the_trainer_logged(demo):
    out, _ = demo
    series = json.loads((out / "demo_results.json").read_text())["series"]
    for mode in ("both", "neg", "pos"):
        logged = {}
        for line in (out / f"grpo_{mode}" / "metrics.jsonl").read_text().splitlines():
            record = json.loads(line)
            logged.setdefault(record["step"], {}).update(record["data"])
        assert series[mode]["step"] == [1.0, 2.0]
        assert series[mode]["policy entropy"] == [logged[s]["actor/entropy"] for s in (1, 2)]
        assert series[mode]["training accuracy"] == [logged[s]["dissect/acc/mean"] for s in (1, 2)]
        total = [logged[s]["dissect/samples/total"] for s in (1, 2)]
        pos, neg = series[mode]["kept positive samples"], series[mode]["kept negative samples"]
        if mode == "both":  # keeps every sample
            assert [p + n for p, n in zip(pos, neg, strict=True)] == total
        else:
            assert (neg if mode == "pos" else pos) == [0.0, 0.0]


def test_output_is_the_header_the_table_and_the_verdicts_without_spam(demo):
    out, result = demo
    assert result.stdout.startswith("dissect-lrm demo:")
    assert "| GRPO pos |" in result.stdout
    assert str(out / "REPORT.md") in result.stdout and str(out / "demo_posneg.png") in result.stdout
    assert sum(line.startswith("- **") for line in result.stdout.splitlines()) == 6
    for noise in ("Loading weights", "Writing model shards", "Warning", "WARNING"):
        assert noise not in result.stdout + result.stderr, noise
    assert "GRPO neg" in result.stderr and "step/s" in result.stderr  # the phase progress bars


def test_rerun_resumes_without_training(demo):
    out, first = demo
    again = run_demo(out)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "starting verl" not in again.stderr
    table = [line for line in first.stdout.splitlines() if line.startswith("| ")]
    assert [line for line in again.stdout.splitlines() if line.startswith("| ")] == table
