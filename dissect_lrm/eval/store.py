"""Resumable append-only JSONL store: a header line, then one record per (problem, run) of one eval."""

from __future__ import annotations

import fcntl
import json
import os
import time
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from dissect_lrm.eval.protocols import Protocol

SCHEMA_VERSION = 2  # 2: the header records backend, model identity, generation options and versions
# Header keys that identify what produced the records (see eval.provenance.model_identity).
IDENTITY_KEYS: tuple[str, ...] = (
    "backend", "model_path", "model_revision", "model_fingerprint", "chat_template_sha256", "generation", "versions",
)  # fmt: skip
# Fields that differ between two otherwise identical runs (wall clock); ignored when comparing records.
TIMING_FIELDS: tuple[str, ...] = ("latency_s", "created")


class StoreError(RuntimeError):
    """A store that cannot be used as asked (another protocol or model, a corrupt line, a second writer)."""


@dataclass(frozen=True)
class Record:
    """One generated and graded answer. `error` set means the request failed: `correct` is then None."""

    problem_id: str
    problem_index: int
    run: int
    seed: int
    response: str | None
    extracted: str | None
    correct: bool | None
    format_ok: bool | None
    num_tokens: int | None
    prompt_tokens: int | None
    finish_reason: str | None
    latency_s: float
    error: str | None = None
    grade_timed_out: bool = False
    created: float = 0.0

    @property
    def key(self) -> tuple[str, int]:
        return (self.problem_id, self.run)

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_json(self) -> dict[str, Any]:
        return {"kind": "record", **asdict(self)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Record:
        values = {key: value for key, value in data.items() if key != "kind"}
        return cls(**values)


def comparable(record: Record) -> dict[str, Any]:
    """A record without its timing fields: what two runs with the same seeds must agree on."""
    data = asdict(record)
    for key in TIMING_FIELDS:
        data.pop(key)
    return data


def make_header(
    model: str,
    benchmark: str,
    fingerprint: str,
    protocol: Protocol,
    num_problems: int,
    identity: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The first line of a store; `identity` is eval.provenance.model_identity (backend, model, versions)."""
    return {
        **(identity or {}),
        "kind": "header",
        "schema": SCHEMA_VERSION,
        "model": model,
        "benchmark": benchmark,
        "benchmark_fingerprint": fingerprint,
        "num_problems": num_problems,
        "protocol": protocol.to_dict(),
        "protocol_hash": protocol.hash,
        "created": time.time(),
    }


def _differences(stored: dict[str, Any], wanted: dict[str, Any]) -> list[str]:
    keys = sorted(set(stored) | set(wanted))
    return [f"{key}: stored {stored.get(key)!r} != requested {wanted.get(key)!r}" for key in keys if stored.get(key) != wanted.get(key)]  # fmt: skip


def _scan(path: Path) -> tuple[list[dict[str, Any]], int, bool]:
    """Parse every complete line; returns (objects, byte length of the good prefix, torn tail?).

    A last line without its newline, or a last line that is not JSON, is the trace of a killed
    writer: it is reported as torn. A bad line anywhere else is corruption and raises.
    """
    data = path.read_bytes()
    objects: list[dict[str, Any]] = []
    position = 0
    lines = data.split(b"\n")
    for number, raw in enumerate(lines):
        is_last = number == len(lines) - 1
        if is_last:
            return objects, position, raw != b""  # bytes after the last newline: torn
        try:
            value = json.loads(raw)
            if not isinstance(value, dict):
                raise ValueError("not an object")
        except ValueError as error:
            trailing = all(not rest.strip() for rest in lines[number + 1 :])
            if trailing:
                return objects, position, True
            raise StoreError(
                f"{path}: line {number + 1} is not a JSON object ({error}); the store is corrupt"
            ) from None
        objects.append(value)
        position += len(raw) + 1
    return objects, position, False


class Store:
    """The records of one (model, benchmark, protocol): `<root>/<model>/<benchmark>/<protocol>.jsonl`.

    Opening for writing takes an exclusive lock (a second writer is refused, not interleaved), repairs a
    torn last line and checks that the stored header matches the requested model, benchmark content and
    protocol hash. Appends are flushed and fsynced per batch, so a SIGKILL loses at most one batch.
    """

    def __init__(self, path: str | Path, header: dict[str, Any], records: list[Record]) -> None:
        self.path = Path(path)
        self.header = header
        self._records = records
        self._handle: Any = None

    # -------------------------------------------------------------------------------------- opening

    @staticmethod
    def path_for(root: str | Path, model: str, benchmark: str, protocol_name: str) -> Path:
        return Path(root) / model / benchmark / f"{protocol_name}.jsonl"

    @classmethod
    def read(cls, path: str | Path) -> Store:
        """Read-only view (reports): a torn tail is skipped with a warning, the file is left as is."""
        path = Path(path)
        objects, _, torn = _scan(path)
        if torn:
            warnings.warn(f"{path}: ignoring a torn last line (an interrupted write)", stacklevel=2)
        header, records = cls._split(path, objects)
        return cls(path, header, records)

    @classmethod
    def open(cls, path: str | Path, header: dict[str, Any]) -> Store:
        """Open for appending, creating the file with `header`, or resuming after checking it."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = path.open("a+b")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise StoreError(f"{path} is being written by another process (locked)") from None
        try:
            objects, good_length, torn = _scan(path)
            if torn:
                size = path.stat().st_size
                warnings.warn(
                    f"{path}: torn last line (an interrupted write): truncating {size - good_length} bytes "
                    "to the last complete record",
                    stacklevel=2,
                )
                handle.truncate(good_length)
                handle.flush()
                os.fsync(handle.fileno())
            if not objects:
                handle.write((json.dumps(header, ensure_ascii=False) + "\n").encode())
                handle.flush()
                os.fsync(handle.fileno())
                stored_header, records = header, []
            else:
                stored_header, records = cls._split(path, objects)
                cls.check_header(path, stored_header, header)
        except BaseException:
            handle.close()
            raise
        store = cls(path, stored_header, records)
        store._handle = handle
        return store

    @staticmethod
    def _split(path: Path, objects: list[dict[str, Any]]) -> tuple[dict[str, Any], list[Record]]:
        if not objects or objects[0].get("kind") != "header":
            raise StoreError(f"{path}: the first line is not a store header")
        records = []
        for number, value in enumerate(objects[1:], start=2):
            if value.get("kind") != "record":
                raise StoreError(f"{path}: line {number} is not a record (kind={value.get('kind')!r})")
            try:
                records.append(Record.from_json(value))
            except TypeError as error:
                raise StoreError(f"{path}: line {number} has unexpected fields ({error})") from None
        return objects[0], records

    @staticmethod
    def check_header(path: Path, stored: dict[str, Any], wanted: dict[str, Any]) -> None:
        """Refuse to resume a store written by anything else; the one-line message names every difference."""
        if stored.get("schema") != wanted["schema"]:
            raise StoreError(
                f"{path}: store schema {stored.get('schema')} is not {wanted['schema']} (written by another "
                "version without the model identity); use another --output-dir"
            )
        for key, what in (("model", "model"), ("benchmark", "benchmark")):
            if stored.get(key) != wanted[key]:
                raise StoreError(f"{path}: holds {what} {stored.get(key)!r}, not {wanted[key]!r}")
        if stored.get("benchmark_fingerprint") != wanted["benchmark_fingerprint"]:
            raise StoreError(
                f"{path}: the benchmark's problems changed since this store was written "
                f"(fingerprint {stored.get('benchmark_fingerprint')} != {wanted['benchmark_fingerprint']}); "
                "use another --output-dir or protocol name"
            )
        differences = []
        if stored.get("protocol_hash") != wanted["protocol_hash"]:
            stored_fields = Protocol.from_dict(stored["protocol"]).hash_fields()
            wanted_fields = Protocol.from_dict(wanted["protocol"]).hash_fields()
            differences += [f"protocol {item}" for item in _differences(stored_fields, wanted_fields)]
        keys = list(IDENTITY_KEYS)
        if stored.get("model_fingerprint") and wanted.get("model_fingerprint"):
            keys.remove("model_path")  # same content under another path is the same model
        for key in keys:
            if stored.get(key) != wanted.get(key):
                if isinstance(stored.get(key), dict) and isinstance(wanted.get(key), dict):
                    differences += [f"{key}.{item}" for item in _differences(stored[key], wanted[key])]
                else:
                    differences.append(f"{key}: stored {stored.get(key)!r} != requested {wanted.get(key)!r}")
        if differences:
            raise StoreError(
                f"{path}: refusing to resume a store written differently ({'; '.join(differences)}); "
                "use another --output-dir, --model-name or protocol name"
            )

    # -------------------------------------------------------------------------------------- records

    @property
    def all_records(self) -> list[Record]:
        """Every appended record in file order, superseded error records included."""
        return list(self._records)

    def records(self) -> dict[tuple[str, int], Record]:
        """The effective record per (problem, run): the first success, else the latest error."""
        effective: dict[tuple[str, int], Record] = {}
        for record in self._records:
            current = effective.get(record.key)
            if current is None or not current.ok:
                effective[record.key] = record
        return effective

    def done_keys(self, retry_errors: bool = True) -> set[tuple[str, int]]:
        """Keys that need no new request (with retry_errors, failed ones are requested again)."""
        return {key for key, record in self.records().items() if record.ok or not retry_errors}

    def append(self, records: Iterable[Record]) -> None:
        if self._handle is None:
            raise StoreError(f"{self.path} was opened read-only")
        batch = list(records)
        if not batch:
            return
        done = self.done_keys(retry_errors=True)
        for record in batch:
            if record.ok and record.key in done:
                raise StoreError(f"{self.path}: {record.key} already has a successful record")
        payload = "".join(json.dumps(record.to_json(), ensure_ascii=False) + "\n" for record in batch)
        # One write of whole lines, then fsync: a kill leaves at most one torn line at the end.
        self._handle.write(payload.encode())
        self._handle.flush()
        os.fsync(self._handle.fileno())
        self._records.extend(batch)

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()  # closing releases the flock
            self._handle = None

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __iter__(self) -> Iterator[Record]:
        return iter(self.records().values())


def find_stores(root: str | Path) -> list[Path]:
    """Every store under `root` (files whose first line is a store header), sorted."""
    found = []
    for path in sorted(Path(root).rglob("*.jsonl")):
        try:
            with path.open("rb") as handle:
                first = json.loads(handle.readline() or b"{}")
        except (OSError, ValueError):
            continue
        if isinstance(first, dict) and first.get("kind") == "header" and "protocol_hash" in first:
            found.append(path)
    return found
