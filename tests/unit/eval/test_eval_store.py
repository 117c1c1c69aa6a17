"""Store: header checks, resume, torn-line repair, corruption, locking, error records superseded."""

from __future__ import annotations

import json

import pytest

from dissect_lrm.eval.protocols import Protocol
from dissect_lrm.eval.store import Record, Store, StoreError, comparable, find_stores, make_header


def record(problem: str, run: int, correct: bool | None = True, error: str | None = None) -> Record:
    return Record(
        problem_id=problem, problem_index=int(problem), run=run, seed=run, response=None if error else "r",
        extracted=None if error else "1", correct=None if error else correct, format_ok=None if error else True,
        num_tokens=None if error else 5, prompt_tokens=3, finish_reason=None if error else "stop",
        latency_s=0.1, error=error, created=1.0,
    )  # fmt: skip


def header(protocol: Protocol | None = None, model: str = "m", fingerprint: str = "f") -> dict:
    return make_header(model, "bench", fingerprint, protocol or Protocol(), 2)


def test_create_append_resume(tmp_path):
    path = Store.path_for(tmp_path, "m", "bench", "math")
    with Store.open(path, header()) as store:
        store.append([record("0", 0), record("0", 1, correct=False)])
    lines = path.read_text().splitlines()
    assert json.loads(lines[0])["kind"] == "header" and len(lines) == 3
    with Store.open(path, header()) as store:
        assert store.done_keys() == {("0", 0), ("0", 1)}
        store.append([record("1", 0)])
    reread = Store.read(path)
    assert sorted(reread.records()) == [("0", 0), ("0", 1), ("1", 0)]
    assert reread.records()[("0", 1)].correct is False
    assert find_stores(tmp_path) == [path]


def test_duplicate_success_is_refused(tmp_path):
    with Store.open(tmp_path / "s.jsonl", header()) as store:
        store.append([record("0", 0)])
        with pytest.raises(StoreError, match="already has a successful record"):
            store.append([record("0", 0)])


def test_error_records_are_superseded_by_a_retry(tmp_path):
    with Store.open(tmp_path / "s.jsonl", header()) as store:
        store.append([record("0", 0, error="HTTP 500"), record("0", 1, error="HTTP 500")])
        assert store.done_keys(retry_errors=True) == set()
        assert store.done_keys(retry_errors=False) == {("0", 0), ("0", 1)}
        store.append([record("0", 0)])
    store = Store.read(tmp_path / "s.jsonl")
    assert store.records()[("0", 0)].ok and not store.records()[("0", 1)].ok
    assert len(store.all_records) == 3


def test_torn_last_line_is_truncated_with_a_warning(tmp_path):
    path = tmp_path / "s.jsonl"
    with Store.open(path, header()) as store:
        store.append([record("0", 0)])
    good = path.read_bytes()
    with path.open("ab") as handle:
        handle.write(b'{"kind": "record", "problem_id": "0", "ru')  # killed mid-write
    with pytest.warns(UserWarning, match="torn"):
        assert len(Store.read(path).records()) == 1  # read-only: skipped, file untouched
    assert path.read_bytes() != good
    with pytest.warns(UserWarning, match="truncating"), Store.open(path, header()) as store:
        assert path.read_bytes() == good
        store.append([record("0", 1)])
    assert len(Store.read(path).records()) == 2


def test_invalid_complete_last_line_is_also_torn(tmp_path):
    path = tmp_path / "s.jsonl"
    with Store.open(path, header()) as store:
        store.append([record("0", 0)])
    with path.open("ab") as handle:
        handle.write(b'{"kind": "rec\n')
    with pytest.warns(UserWarning), Store.open(path, header()) as store:
        assert len(store.records()) == 1


def test_corruption_in_the_middle_raises(tmp_path):
    path = tmp_path / "s.jsonl"
    with Store.open(path, header()) as store:
        store.append([record("0", 0)])
    lines = path.read_text().splitlines()
    path.write_text("\n".join([lines[0], "garbage", lines[1]]) + "\n")
    with pytest.raises(StoreError, match="line 2 is not a JSON object"):
        Store.open(path, header())


def test_a_different_protocol_is_refused_with_the_differences(tmp_path):
    path = tmp_path / "s.jsonl"
    Store.open(path, header()).close()
    with pytest.raises(
        StoreError, match=r"written differently.*protocol temperature: stored 0.6 != requested 0.7"
    ):
        Store.open(path, header(Protocol(temperature=0.7)))
    with pytest.raises(StoreError, match="holds model 'm', not 'other'"):
        Store.open(path, header(model="other"))
    with pytest.raises(StoreError, match="problems changed"):
        Store.open(path, header(fingerprint="g"))
    Store.open(path, header(Protocol(runs=128))).close()  # more runs extend the same store


def test_a_second_writer_is_refused(tmp_path):
    path = tmp_path / "s.jsonl"
    with Store.open(path, header()), pytest.raises(StoreError, match="locked"):
        Store.open(path, header())
    Store.open(path, header()).close()  # released on close


def test_comparable_drops_timing():
    a, b = record("0", 0), record("0", 0)
    b = Record(**{**comparable(b), "latency_s": 9.0, "created": 2.0})
    assert a != b and comparable(a) == comparable(b)
