"""File helpers of the data builders: read JSON/JSONL/parquet rows, write atomically (temp file + rename)."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

LOCAL_SUFFIXES = (".json", ".jsonl", ".parquet")


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; it replaces ``path`` only if the block succeeds.

    A reader (or a crashed build) never sees a half-written file, because the rename is atomic
    on one file system.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(handle)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_text(path: str | Path) -> Iterator[IO[str]]:
    """Open a text file for writing that appears at ``path`` only once fully written."""
    with atomic_path(path) as tmp, tmp.open("w", encoding="utf-8") as handle:
        yield handle


def write_json(path: str | Path, obj: Any) -> Path:
    with atomic_text(path) as handle:
        json.dump(obj, handle, indent=2, ensure_ascii=False)
        handle.write("\n")
    return Path(path)


def write_parquet(path: str | Path, rows: list[dict[str, Any]], schema: Any) -> Path:
    """Rows -> parquet with an explicit pyarrow schema (types must not depend on the rows' content)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pylist(rows, schema=schema)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)
    return Path(path)


def read_rows(path: str | Path) -> list[dict[str, Any]]:
    """Rows of a local JSON (list of objects, or ``{"data": [...]}``), JSONL or parquet file."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        import pandas as pd

        return pd.read_parquet(path).to_dict(orient="records")
    text = path.read_text(encoding="utf-8")
    if suffix == ".jsonl":
        rows = []
        for number, line in enumerate(text.splitlines()):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as error:
                    raise ValueError(f"{path}: line {number + 1} is not valid JSON ({error.msg})") from error
        return rows
    if suffix == ".json":
        data = json.loads(text)
        if isinstance(data, dict) and isinstance(data.get("data"), list):
            data = data["data"]
        if not isinstance(data, list):
            raise ValueError(f"{path}: expected a JSON list of objects, got {type(data).__name__}")
        return data
    raise ValueError(f"{path}: unsupported file type {suffix!r} (use one of {', '.join(LOCAL_SUFFIXES)})")


def hub_loader(path: str, name: str | None = None, split: str = "train") -> Any:
    """``datasets.load_dataset(path, name, split=split)``; imported late because it is slow to import."""
    from datasets import load_dataset

    return load_dataset(path, name, split=split)


def progress(iterable: Any, *, desc: str, total: int | None = None, enabled: bool = True) -> Any:
    """A tqdm bar on stderr (disabled in tests and when not wanted)."""
    if not enabled:
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, desc=desc, total=total, unit="row", leave=False)
