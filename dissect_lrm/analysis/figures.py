"""The paper's figures as PNG, each with the CSV of exactly the data it plots written next to it."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from dissect_lrm.analysis.training_logs import wide

KEPT_KEYS = ("dissect/filter/kept_pos_samples", "dissect/filter/kept_neg_samples")
CURVE_KEYS = {
    "reward": "critic/score/mean",
    "accuracy": "dissect/acc/mean",
    "response_length": "response_length/mean",
}


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")  # figures are files; never open a window
    import matplotlib.pyplot as plt

    return plt


def _save(figure: Any, data: pd.DataFrame, path: Path) -> dict[str, str]:
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    _pyplot().close(figure)
    table = path.with_suffix(".csv")
    data.to_csv(table, index=False)
    return {"png": str(path), "csv": str(table)}


def plot_accuracy_distribution(distribution: pd.DataFrame, path: str | Path) -> dict[str, str]:
    """Figure 2: share of problems per accuracy level, one bar group per dataset (mixed levels shaded)."""
    plt = _pyplot()
    # One bar group per (dataset, model): the same dataset profiled with two models gives two groups.
    groups = list(dict.fromkeys(zip(distribution["dataset"], distribution["model"])))
    levels = sorted(set(distribution["accuracy"]))
    width = 0.8 / max(len(groups), 1)
    figure, axis = plt.subplots(figsize=(6.5, 3.5))
    for position, (dataset, model) in enumerate(groups):
        chosen = (distribution["dataset"] == dataset) & (distribution["model"] == model)
        shares = dict(zip(distribution.loc[chosen, "accuracy"], distribution.loc[chosen, "share"]))
        heights = [100 * float(shares.get(level, 0.0)) for level in levels]
        offsets = [index + (position - (len(groups) - 1) / 2) * width for index in range(len(levels))]
        axis.bar(offsets, heights, width=width, label=f"{dataset} ({model})")
    axis.set_xticks(range(len(levels)), [f"{level:.2f}" for level in levels], fontsize=7)
    # Levels 0 and 1 are the zero-advantage groups; everything between is effective data.
    axis.axvspan(0.5, len(levels) - 1.5, color="tab:green", alpha=0.06, label="mixed (non-zero advantage)")
    axis.set_xlabel("per-problem accuracy")
    axis.set_ylabel("problems (%)")
    axis.set_title("Accuracy distribution (zero advantage at 0 and 1)", fontsize=9)
    axis.legend(fontsize=7)
    return _save(figure, distribution, Path(path))


def fig2(profiles: Sequence[str | Path], out_dir: str | Path = "runs/figures") -> dict[str, str]:
    """Figure 2 from profile.json files of ``dissect-lrm profile``."""
    from dissect_lrm.analysis.profiler import distribution_table, read_profiles

    table = distribution_table(read_profiles(profiles))
    return plot_accuracy_distribution(table, Path(out_dir) / "fig2_accuracy_distribution.png")


def _per_run_lines(data: pd.DataFrame, panels: dict[str, str], title: str, path: Path) -> dict[str, str]:
    plt = _pyplot()
    figure, axes = plt.subplots(1, len(panels), figsize=(4 * len(panels), 3.2), squeeze=False)
    for axis, (column, label) in zip(axes[0], panels.items()):
        for run, rows in data.groupby("run", sort=False):
            rows = rows.dropna(subset=[column])
            axis.plot(rows["step"], rows[column], marker=".", label=str(run))
        axis.set_xlabel("step")
        axis.set_ylabel(label)
        axis.legend(fontsize=7)
    figure.suptitle(title, fontsize=9)
    return _save(figure, data, path)


def fig6(table: pd.DataFrame, out_dir: str | Path = "runs/figures") -> dict[str, str]:
    """Figure 6: positive and negative samples kept for the policy update per step, per run."""
    data = wide(table, KEPT_KEYS).rename(
        columns={KEPT_KEYS[0]: "kept_pos_samples", KEPT_KEYS[1]: "kept_neg_samples"}
    )
    panels = {"kept_pos_samples": "kept positive samples", "kept_neg_samples": "kept negative samples"}
    return _per_run_lines(
        data, panels, "Samples kept for the update (Figure 6)", Path(out_dir) / "fig6_kept_samples.png"
    )


def curves(table: pd.DataFrame, out_dir: str | Path = "runs/figures") -> dict[str, str]:
    """Training curves: mean reward, verifier accuracy and mean response length per step, per run."""
    data = wide(table, list(CURVE_KEYS.values())).rename(
        columns={key: name for name, key in CURVE_KEYS.items()}
    )
    panels = {
        "reward": "mean reward",
        "accuracy": "accuracy",
        "response_length": "mean response length (tokens)",
    }
    return _per_run_lines(data, panels, "Training curves", Path(out_dir) / "training_curves.png")


def zero_advantage(table: pd.DataFrame, out_dir: str | Path) -> dict[str, str]:
    """Per-step shares of zero-advantage (all-correct, all-wrong) and mixed groups during training."""
    from dissect_lrm.analysis.profiler import training_zero_advantage

    data = training_zero_advantage(table)
    panels = {"all_correct": "all-correct groups", "all_wrong": "all-wrong groups", "mixed": "mixed groups"}
    return _per_run_lines(data, panels, "Group outcomes per step", Path(out_dir) / "zero_advantage_steps.png")


def eval_figures(
    store_dir: str | Path, out_dir: str | Path = "runs/figures", seed: int = 0, num_resamples: int = 200
) -> dict[str, list[str]]:
    """The evaluation figures (accuracy histogram per store, spread per benchmark) with their data tables."""
    from dissect_lrm.eval.report import build_report, plot_histogram, plot_spread, safe_filename

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    report = build_report(
        store_dir, out / "eval_report", seed=seed, num_resamples=num_resamples, figures=False
    )
    entries = [entry for entry in report["entries"] if entry["stats"]]
    if not entries:
        raise ValueError(f"{store_dir}: no eval store with a successful record")
    written: dict[str, list[str]] = {"png": [], "csv": []}
    for entry in entries:
        stem = f"eval_hist_{safe_filename(entry['model'])}_{safe_filename(entry['benchmark'])}_{safe_filename(entry['protocol'])}"
        histogram = entry["stats"]["accuracy_histogram"]
        png = plot_histogram(entry, out / f"{stem}.png")
        pd.DataFrame({"bin": histogram["bins"], "problems": histogram["counts"]}).to_csv(png.with_suffix(".csv"), index=False)  # fmt: skip
        written["png"].append(str(png))
        written["csv"].append(str(png.with_suffix(".csv")))
    for benchmark, protocol in sorted({(e["benchmark"], e["protocol"]) for e in entries}):
        same = [e for e in entries if e["benchmark"] == benchmark and e["protocol"] == protocol]
        png = plot_spread(same, out / f"eval_spread_{safe_filename(benchmark)}_{safe_filename(protocol)}.png")
        if png is None:
            continue
        rows = [
            {"model": e["model"], "runs": int(runs), "mean_gap": gap["mean_gap"], "q95_gap": gap["q95_gap"]}
            for e in same
            for runs, gap in sorted((e["stats"].get("max_gap") or {}).items(), key=lambda item: int(item[0]))
        ]
        pd.DataFrame(rows).to_csv(png.with_suffix(".csv"), index=False)
        written["png"].append(str(png))
        written["csv"].append(str(png.with_suffix(".csv")))
    return written
