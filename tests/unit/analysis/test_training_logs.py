"""Reading verl's metrics logs: file-logger JSONL, console lines, tensorboard events; errors name file and line."""

from __future__ import annotations

import json

import pytest

from dissect_lrm.analysis.training_logs import LogError, read_metrics, read_runs, wide


def write_jsonl(path, entries) -> str:
    path.write_text("".join(json.dumps({"step": step, "data": data}) + "\n" for step, data in entries))
    return str(path)


def test_jsonl_keeps_numbers_skips_text_and_last_value_wins(tmp_path):
    path = write_jsonl(
        tmp_path / "run.jsonl",
        [(1, {"a": 0.5, "b": 3, "note": "hello", "flag": True}), (2, {"a": 0.75}), (2, {"a": 0.8})],
    )
    table = read_metrics(path)
    assert list(table.columns) == ["run", "step", "key", "value"]
    assert set(table["run"]) == {"run"}
    values = {(row.step, row.key): row.value for row in table.itertuples()}
    assert values == {(1, "a"): 0.5, (1, "b"): 3.0, (1, "flag"): 1.0, (2, "a"): 0.8}


def test_console_lines_with_prefixes_and_numpy_reprs(tmp_path):
    path = tmp_path / "train.log"
    path.write_text(
        "Creating file logger at x\n"
        "(TaskRunner pid=42) step:3 - critic/score/mean:np.float64(0.25) - response_length/mean:17 - "
        "timing_s/gen:1.5e-01\n"
        "something else step:notanumber\n"
        "step:4 - critic/score/mean:0.5\n"
    )
    table = read_metrics(path, run="grpo")
    values = {(row.step, row.key): row.value for row in table.itertuples()}
    assert values == {
        (3, "critic/score/mean"): 0.25,
        (3, "response_length/mean"): 17.0,
        (3, "timing_s/gen"): 0.15,
        (4, "critic/score/mean"): 0.5,
    }
    assert set(table["run"]) == {"grpo"}


def test_tensorboard_scalars(tmp_path):
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(str(tmp_path / "tb"))
    for step, value in ((1, 0.1), (2, 0.4)):
        writer.add_scalar("dissect/acc/mean", value, step)
    writer.close()
    table = read_metrics(tmp_path / "tb", run="tb")
    assert [(row.step, row.key, round(row.value, 6)) for row in table.itertuples()] == [
        (1, "dissect/acc/mean", 0.1),
        (2, "dissect/acc/mean", 0.4),
    ]


def test_bad_jsonl_line_is_named(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps({"step": 1, "data": {"a": 1}}) + "\n{not json\n")
    with pytest.raises(LogError, match=r"bad.jsonl: line 2 is not JSON"):
        read_metrics(path)
    path.write_text(json.dumps({"step": "one", "data": {}}) + "\n")
    with pytest.raises(LogError, match=r"line 1: key 'step' must be an integer"):
        read_metrics(path)


def test_log_without_metrics_and_missing_file(tmp_path):
    empty = tmp_path / "empty.log"
    empty.write_text("nothing here\n")
    with pytest.raises(LogError, match="no metrics found"):
        read_metrics(empty)
    with pytest.raises(FileNotFoundError, match="absent.jsonl"):
        read_metrics(tmp_path / "absent.jsonl")


def test_labels_and_wide_table(tmp_path):
    one = write_jsonl(tmp_path / "one.jsonl", [(1, {"x": 1.0, "y": 2.0}), (2, {"x": 3.0})])
    two = write_jsonl(tmp_path / "two.jsonl", [(1, {"x": 5.0, "y": 6.0})])
    table = read_runs([f"pos={one}", two])
    assert set(table["run"]) == {"pos", "two"}
    data = wide(table, ["x", "y"])
    assert data.to_dict(orient="records")[:2] == [
        {"run": "pos", "step": 1, "x": 1.0, "y": 2.0},
        {"run": "pos", "step": 2, "x": 3.0, "y": pytest.approx(float("nan"), nan_ok=True)},
    ]
    with pytest.raises(LogError, match=r"metrics \['z'\] are not in the logs of pos, two"):
        wide(table, ["x", "z"])
