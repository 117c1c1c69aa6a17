"""Zero-advantage profiler (§4.1, Figure 2): per-problem accuracy over k rollouts and the share of mixed groups."""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dissect_lrm.analysis.training_logs import wide
from dissect_lrm.data.teacher import Generator, generate_store, load_problems
from dissect_lrm.eval.report import store_view
from dissect_lrm.eval.store import Store, StoreError

DEFAULT_RUNS = 8  # §4.1: eight rollouts per problem
PROFILE_PROTOCOL = "profile"
GROUP_KEYS = ("dissect/groups/all_correct_frac", "dissect/groups/all_wrong_frac", "dissect/groups/mixed_frac")


@dataclass(frozen=True)
class Profile:
    """Per-problem correct/observed run counts of one (model, dataset) and what they imply for GRPO.

    A problem is all-correct (or all-wrong) when every observed run is correct (wrong): its group gets
    zero advantage under a 0/1 reward. Mixed problems are the "effective" data.
    """

    dataset: str
    model: str
    store: str
    problem_ids: tuple[str, ...]
    correct: np.ndarray  # (problems,) correct runs
    runs: np.ndarray  # (problems,) successful runs (failed requests are left out, never counted wrong)

    @property
    def accuracy(self) -> np.ndarray:
        return self.correct / self.runs

    def shares(self) -> dict[str, float]:
        total = len(self.problem_ids)
        all_correct = int(np.sum(self.correct == self.runs))
        all_wrong = int(np.sum(self.correct == 0))
        mixed = total - all_correct - all_wrong
        return {
            "all_correct": all_correct / total,
            "all_wrong": all_wrong / total,
            "mixed": mixed / total,
            "effective": mixed / total,  # the paper's "effective data": non-zero advantage groups
        }

    def distribution(self) -> list[dict[str, Any]]:
        """Problems per accuracy level (correct/runs), the Figure 2 bars; levels with no problem included."""
        levels = {(int(c), int(n)) for c, n in zip(self.correct, self.runs)}
        full_runs = int(self.runs.max())
        # Every level of the common run count appears, so two datasets' bars line up even at zero.
        levels |= {(c, full_runs) for c in range(full_runs + 1)}
        counts: dict[float, int] = {}
        for correct, runs in levels:
            counts.setdefault(round(correct / runs, 12), 0)
        for value in np.round(self.accuracy, 12):
            counts[float(value)] += 1
        total = len(self.problem_ids)
        return [
            {"accuracy": level, "problems": count, "share": count / total}
            for level, count in sorted(counts.items())
        ]

    def summary(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "model": self.model,
            "store": self.store,
            "problems": len(self.problem_ids),
            "runs": int(self.runs.max()),
            "incomplete_problems": int(np.sum(self.runs < self.runs.max())),
            "mean_accuracy": float(self.accuracy.mean()),
            "shares": self.shares(),
            "distribution": self.distribution(),
        }


def profile_store(path: str | Path, dataset: str | None = None) -> Profile:
    """The profile of an existing eval store (any benchmark, any run count)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"eval store not found: {path}")
    view = store_view(Store.read(path))
    if view.data is None:
        raise StoreError(f"{path}: no successful record, nothing to profile")
    mask = view.data.mask if view.data.mask is not None else np.ones_like(view.data.correct, dtype=bool)
    correct = (view.data.correct & mask).sum(axis=1)
    runs = mask.sum(axis=1)
    return Profile(dataset or view.benchmark, view.model, str(path), view.problem_ids, correct, runs)


def profile_dataset(
    dataset: str | Path,
    generator: Generator,
    output_dir: str | Path,
    runs: int = DEFAULT_RUNS,
    limit: int | None = None,
    progress: bool = True,
) -> Profile:
    """Roll out ``runs`` samples per problem through the eval runner (resumable store), then profile."""
    if runs < 2:
        raise ValueError(f"runs must be >= 2 for a group to have an advantage, got {runs}")
    benchmark = load_problems(dataset).head(limit)
    path, _ = generate_store(generator, benchmark, output_dir, PROFILE_PROTOCOL, runs, progress)
    return profile_store(path, benchmark.name)


def write_profiles(profiles: Sequence[Profile], out_dir: str | Path, plot: bool = True) -> dict[str, str]:
    """profile.json (everything), profile.md and profile.csv (shares per dataset), distribution.csv and .png."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    summaries = [profile.summary() for profile in profiles]
    files = {
        "json": out / "profile.json",
        "markdown": out / "profile.md",
        "csv": out / "profile.csv",
        "distribution": out / "distribution.csv",
    }
    files["json"].write_text(json.dumps({"profiles": summaries}, indent=1))
    header = ["dataset", "model", "problems", "runs", "mean_accuracy", "all_correct", "all_wrong", "mixed", "effective"]  # fmt: skip
    rows = [
        [s["dataset"], s["model"], s["problems"], s["runs"], s["mean_accuracy"]]
        + [s["shares"][key] for key in ("all_correct", "all_wrong", "mixed", "effective")]
        for s in summaries
    ]
    with files["csv"].open("w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        cells = [str(row[0]), str(row[1]), str(row[2]), str(row[3])] + [
            f"{100 * value:.1f}%" for value in row[4:]
        ]
        lines.append("| " + " | ".join(cells) + " |")
    files["markdown"].write_text("\n".join(lines) + "\n")
    distribution_table(summaries).to_csv(files["distribution"], index=False)
    if plot:
        from dissect_lrm.analysis.figures import plot_accuracy_distribution

        # Its data table lands next to it as distribution.csv (the same rows as written above).
        files["png"] = out / "distribution.png"
        plot_accuracy_distribution(distribution_table(summaries), files["png"])
    return {key: str(path) for key, path in files.items()}


def distribution_table(summaries: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """Tidy (dataset, model, accuracy, problems, share) rows of profile summaries, the data of Figure 2."""
    rows = [
        {"dataset": summary["dataset"], "model": summary.get("model", ""), **level}
        for summary in summaries
        for level in summary["distribution"]
    ]
    return pd.DataFrame(rows, columns=["dataset", "model", "accuracy", "problems", "share"])


def read_profiles(paths: Sequence[str | Path]) -> list[dict[str, Any]]:
    """Profile summaries from profile.json files written by ``write_profiles``."""
    summaries = []
    for path in paths:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"profile not found: {path}")
        try:
            data = json.loads(path.read_text())
        except json.JSONDecodeError as error:
            raise ValueError(f"{path}: not valid JSON ({error.msg})") from None
        if not isinstance(data, dict) or not isinstance(data.get("profiles"), list):
            raise ValueError(
                f"{path}: key 'profiles' missing: not a profile.json written by 'dissect-lrm profile'"
            )
        for index, summary in enumerate(data["profiles"]):
            for key in ("dataset", "distribution", "shares"):
                if key not in summary:
                    raise ValueError(f"{path}: profiles[{index}]: missing key {key!r}")
            summaries.append(summary)
    return summaries


def training_zero_advantage(table: pd.DataFrame) -> pd.DataFrame:
    """Per-step shares of all-correct / all-wrong / mixed groups logged by the trainer (run, step, ...)."""
    result = wide(table, GROUP_KEYS)
    result = result.rename(columns={key: key.rsplit("/", 1)[1].removesuffix("_frac") for key in GROUP_KEYS})
    result["zero_advantage"] = result["all_correct"] + result["all_wrong"]
    return result
