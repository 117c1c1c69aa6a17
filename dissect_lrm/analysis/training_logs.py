"""Read verl's logged training metrics (file-logger JSONL, console logs, tensorboard events) into one table."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

COLUMNS = ("run", "step", "key", "value")
# verl's console logger: "step:N - key:value - key:value" (pprint of the value; numpy 2 prints np.float64(x)).
_CONSOLE_STEP = re.compile(r"(?:^|\s|\))step:(\d+) - (.*)$")
_WRAPPED_NUMBER = re.compile(r"^[A-Za-z_][\w.]*\((.*)\)$")


class LogError(ValueError):
    """A metrics log that cannot be read; the message names the file, the line and the key."""


def _number(value: Any) -> float | None:
    """A logged value as float; None for what is not a number (strings, lists, booleans count as 0/1)."""
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        text = value.strip()
        wrapped = _WRAPPED_NUMBER.match(text)
        if wrapped:  # np.float64(0.5), tensor(0.5)
            text = wrapped.group(1).split(",")[0].strip()
        try:
            return float(text)
        except ValueError:
            return None
    return None


def read_jsonl(path: str | Path) -> list[tuple[int, str, float]]:
    """(step, key, value) of verl's file logger: one ``{"step": N, "data": {...}}`` per line."""
    path = Path(path)
    rows: list[tuple[int, str, float]] = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
            except json.JSONDecodeError as error:
                raise LogError(f"{path}: line {number} is not JSON ({error.msg})") from None
            if not isinstance(entry, dict) or "step" not in entry or not isinstance(entry.get("data"), dict):
                raise LogError(
                    f"{path}: line {number}: expected an object with keys 'step' and 'data' (a dict)"
                )
            step = entry["step"]
            if not isinstance(step, int) or isinstance(step, bool):
                raise LogError(f"{path}: line {number}: key 'step' must be an integer, got {step!r}")
            for key, value in entry["data"].items():
                number_value = _number(value)
                if number_value is not None:
                    rows.append((step, str(key), number_value))
    return rows


def read_console(path: str | Path) -> list[tuple[int, str, float]]:
    """(step, key, value) from a console log: every ``step:N - k:v - ...`` line; other lines are skipped."""
    path = Path(path)
    rows: list[tuple[int, str, float]] = []
    with path.open(encoding="utf-8", errors="replace") as handle:
        for line in handle:
            match = _CONSOLE_STEP.search(line.rstrip("\n"))
            if not match:
                continue
            step = int(match.group(1))
            for item in match.group(2).split(" - "):
                key, sep, value = item.rpartition(":")
                # rpartition keeps keys with ':' whole; a value like np.float64(1) has no ':' in it
                if not sep or not key:
                    continue
                number_value = _number(value)
                if number_value is not None:
                    rows.append((step, key.strip(), number_value))
    return rows


def read_tensorboard(path: str | Path) -> list[tuple[int, str, float]]:
    """(step, tag, value) of every scalar in a tensorboard event file or run directory."""
    try:
        from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    except ImportError as error:  # optional dependency
        raise LogError(f"{path}: reading tensorboard events needs the 'tensorboard' package") from error
    accumulator = EventAccumulator(str(path), size_guidance={"scalars": 0})
    accumulator.Reload()
    rows: list[tuple[int, str, float]] = []
    for tag in accumulator.Tags().get("scalars", []):
        rows.extend((int(event.step), tag, float(event.value)) for event in accumulator.Scalars(tag))
    return rows


def _is_tensorboard(path: Path) -> bool:
    if path.is_dir():
        return any(path.rglob("events.out.tfevents*"))
    return path.name.startswith("events.out.tfevents")


def read_metrics(path: str | Path, run: str | None = None) -> pd.DataFrame:
    """A tidy table (run, step, key, value) from one log: .jsonl (file logger), events (tensorboard), else console.

    A step logged twice (a resumed run) keeps its last value, as a plot of the run would show.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"metrics log not found: {path}")
    if _is_tensorboard(path):
        rows = read_tensorboard(path)
    elif path.suffix == ".jsonl":
        rows = read_jsonl(path)
    elif path.is_dir():
        raise LogError(f"{path}: a directory without tensorboard event files")
    else:
        rows = read_console(path)
    if not rows:
        raise LogError(
            f"{path}: no metrics found (expected file-logger JSONL, 'step:N - k:v' lines or events)"
        )
    table = pd.DataFrame(rows, columns=["step", "key", "value"])
    table = table.drop_duplicates(subset=["step", "key"], keep="last")
    table.insert(0, "run", run or path.stem)
    return table.sort_values(["step", "key"], kind="stable").reset_index(drop=True)


def read_runs(specs: Iterable[str]) -> pd.DataFrame:
    """Several logs, each ``PATH`` or ``LABEL=PATH`` (the label names the run in tables and legends)."""
    tables = []
    for spec in specs:
        label, sep, path = spec.partition("=")
        if not sep or Path(spec).exists():
            label, path = "", spec
        tables.append(read_metrics(path, label or None))
    if not tables:
        raise LogError("no metrics logs given")
    return pd.concat(tables, ignore_index=True)


def wide(table: pd.DataFrame, keys: Sequence[str], required: bool = True) -> pd.DataFrame:
    """One row per (run, step) and one column per key; a missing key raises when ``required``."""
    present = set(table["key"])
    missing = [key for key in keys if key not in present]
    if required and missing:
        runs = ", ".join(sorted(set(table["run"])))
        raise LogError(
            f"metrics {missing} are not in the logs of {runs} (logged keys include {sorted(present)[:8]})"
        )
    chosen = table[table["key"].isin(keys)]
    result = chosen.pivot_table(index=["run", "step"], columns="key", values="value", aggfunc="last")
    result = result.reindex(columns=[key for key in keys if key in present]).reset_index()
    result.columns.name = None
    return result
