"""Reports from stores: EvalData per model x benchmark x protocol, summary.json, Markdown/CSV tables, PNGs."""

from __future__ import annotations

import csv
import io
import json
import math
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dissect_lrm.eval.backends.base import failure_kind
from dissect_lrm.eval.grading import answer_labels
from dissect_lrm.eval.protocols import Protocol
from dissect_lrm.eval.provenance import run_environment
from dissect_lrm.eval.stats import EvalData, default_metrics, summarize, to_jsonable
from dissect_lrm.eval.store import IDENTITY_KEYS, Store, StoreError, find_stores
from dissect_lrm.reward.compute_score import is_multiple_choice

GREEDY_PROTOCOL = "greedy"  # a store of this name supplies greedy correctness to the other protocols


@dataclass(frozen=True)
class StoreView:
    """A store turned into matrices: rows are problems with at least one successful record."""

    path: Path
    model: str
    benchmark: str
    protocol: str
    protocol_hash: str
    problem_ids: tuple[str, ...]
    data: EvalData | None  # None when no request succeeded
    records: int
    errors: int
    missing: int
    problems_without_result: int
    finish_reasons: dict[str, int]
    provenance: dict[str, Any] | None = None  # the store header's identity, timings of the records
    num_problems: int = 0  # every problem of the benchmark, with a result or not
    fingerprint: str = ""  # the benchmark content's fingerprint (pairs problems across stores)
    failures: dict[str, int] | None = None  # effective error records by failure_kind


def store_view(store: Store, runs: int | None = None, answer_classes: bool = True) -> StoreView:
    """Build the (problems x runs) matrices; failed or missing runs are masked out, never counted wrong.

    answer_classes: label the extracted answers by the grader's equivalence classes (for maj@k; it
    grades answer pairs, so commands that need no votes turn it off).
    """
    header = store.header
    effective = store.records()
    protocol = Protocol.from_dict(header["protocol"])
    runs = runs or max([protocol.runs_for(header["benchmark"])] + [run + 1 for _, run in effective])
    problems: dict[str, int] = {}
    for record in sorted(effective.values(), key=lambda r: (r.problem_index, r.run)):
        problems.setdefault(record.problem_id, record.problem_index)
    num_problems = max(int(header.get("num_problems", 0)), len(problems))
    ok_problems = [pid for pid in problems if any(effective.get((pid, run)) and effective[(pid, run)].ok for run in range(runs))]  # fmt: skip
    shape = (len(ok_problems), runs)
    correct = np.zeros(shape, dtype=bool)
    mask = np.zeros(shape, dtype=bool)
    answers = np.full(shape, None, dtype=object)
    tokens = np.zeros(shape, dtype=np.float64)
    errors = sum(1 for record in effective.values() if not record.ok)
    failures = Counter(failure_kind(r.error or "") for r in effective.values() if not r.ok)
    for row, pid in enumerate(ok_problems):
        for run in range(runs):
            record = effective.get((pid, run))
            if record is None or not record.ok:
                continue
            mask[row, run] = True
            correct[row, run] = bool(record.correct)
            answers[row, run] = record.extracted
            tokens[row, run] = record.num_tokens or 0
    created = [record.created for record in store.all_records if record.created]
    provenance = {key: header.get(key) for key in IDENTITY_KEYS}
    provenance["store_created"] = header.get("created")
    provenance["timings"] = {
        "first_record": min(created, default=None),
        "last_record": max(created, default=None),
        "generation_seconds": round(sum(record.latency_s for record in store.all_records), 3),
    }
    data = None
    if ok_problems:
        protocol_choice = protocol.prompt_style == "multiple_choice" or is_multiple_choice(
            header["benchmark"]
        )
        labels = (
            answer_labels(answers, correct & mask, protocol.grader, protocol_choice)
            if answer_classes
            else None
        )
        data = EvalData(correct=correct, mask=mask, answers=labels, tokens=tokens)
    return StoreView(
        path=store.path,
        model=header["model"],
        benchmark=header["benchmark"],
        protocol=header["protocol"]["name"],
        protocol_hash=header["protocol_hash"],
        problem_ids=tuple(ok_problems),
        data=data,
        records=len(effective),
        errors=errors,
        missing=num_problems * runs - int(mask.sum()) - errors,
        problems_without_result=num_problems - len(ok_problems),
        finish_reasons=dict(Counter(r.finish_reason or "error" for r in effective.values())),
        provenance=provenance,
        num_problems=num_problems,
        fingerprint=str(header.get("benchmark_fingerprint", "")),
        failures={"deterministic": failures["deterministic"], "transient": failures["transient"]},
    )


def _with_greedy(view: StoreView, greedy: StoreView | None) -> EvalData | None:
    """Attach greedy correctness (Section 5.3 flips) when a complete greedy store covers the same problems."""
    if view.data is None or greedy is None or greedy.data is None or greedy.data.mask is not None:
        return view.data
    index = {pid: row for row, pid in enumerate(greedy.problem_ids)}
    if not all(pid in index for pid in view.problem_ids):
        return view.data
    rows = [index[pid] for pid in view.problem_ids]
    data = view.data
    return EvalData(data.correct, data.mask, data.answers, data.tokens, greedy.data.correct[rows])


def _pct(value: Any) -> float | None:
    return None if value is None else 100.0 * float(value)


def table_row(entry: dict[str, Any]) -> dict[str, Any]:
    """The flat row of the Markdown/CSV tables (percent units)."""
    stats = entry.get("stats") or {}
    avg = stats.get("avg_pass@1") or {}
    ci = avg.get("ci") or {}
    runs = stats.get("num_runs")
    # the largest k every problem allows (a failed run lowers it by one, it does not drop the column)
    pass_curve = stats.get("pass@k") or {}
    pass_k_runs = max((int(k) for k in pass_curve), default=None)
    pass_k = pass_curve.get(str(pass_k_runs))
    maj = stats.get("maj@k") or {}
    maj_k_runs = max((int(k) for k in maj), default=None)
    maj_k = maj.get(str(maj_k_runs))
    gaps = stats.get("max_gap") or {}
    gap_runs = max((int(k) for k in gaps), default=None)
    tokens = (stats.get("tokens") or {}).get("mean_tokens")
    mean = _pct(avg.get("mean"))
    half = None if ci.get("low") is None else 50.0 * (ci["high"] - ci["low"])
    return {
        "model": entry["model"],
        "benchmark": entry["benchmark"],
        "protocol": entry["protocol"],
        "problems": entry.get("problems", stats.get("num_problems", 0)),
        "no_result": entry.get("problems_without_result", 0),
        "runs": runs,
        "avg_pass@1": mean,
        "avg_pass@1_se": _pct(avg.get("sem_problems")),
        "conservative_avg_pass@1": _pct(entry.get("conservative_avg_pass@1")),
        "ci95_half_width": half,
        "ci95_low": _pct(ci.get("low")),
        "ci95_high": _pct(ci.get("high")),
        "std_over_runs": _pct(avg.get("std_over_runs")),
        "pass@k": _pct(pass_k),
        "pass@k_k": pass_k_runs,
        "maj@k": _pct(maj_k),
        "maj@k_k": maj_k_runs,
        "uncertain_%": _pct((stats.get("accuracy_histogram") or {}).get("uncertain_ratio")),
        "max_gap_runs": gap_runs,
        "max_gap": _pct(gaps[str(gap_runs)]["mean_gap"]) if gap_runs is not None else None,
        "mean_tokens": tokens,
        "errors": entry["errors"],
        "deterministic_errors": (entry.get("failures") or {}).get("deterministic", 0),
        "missing": entry["missing"],
    }


def _fmt(value: Any, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


MARKDOWN_NOTES = (
    "avg pass@1 ± CI95: mean over the problems with a result, 95% bootstrap interval with problems and runs "
    "resampled; SE: standard error over problems. conservative: problems without any result (every request "
    "failed) counted wrong, over all problems. no result: such problems (they are not in avg pass@1). "
    "pass@k / maj@k at the largest k every problem has runs for. errors (det.): failed requests "
    "(deterministic ones, which a retry reproduces)."
)


def markdown_table(rows: Sequence[dict[str, Any]]) -> str:
    header = ["model", "benchmark", "protocol", "problems", "no result", "runs", "avg pass@1 ± CI95", "SE",
              "conservative", "std runs", "pass@k", "maj@k", "uncertain %", "max gap (4 trials x r)",
              "mean tokens", "errors (det.)", "missing"]  # fmt: skip
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        score = (
            "-" if row["avg_pass@1"] is None else f"{row['avg_pass@1']:.2f} ± {_fmt(row['ci95_half_width'])}"
        )
        gap = "-" if row["max_gap"] is None else f"{row['max_gap']:.2f} (r={row['max_gap_runs']})"
        pass_k = "-" if row["pass@k"] is None else f"{row['pass@k']:.2f} (k={row['pass@k_k']})"
        maj_k = "-" if row["maj@k"] is None else f"{row['maj@k']:.2f} (k={row['maj@k_k']})"
        cells = [row["model"], row["benchmark"], row["protocol"], _fmt(row["problems"]), _fmt(row["no_result"]),
                 _fmt(row["runs"]), score, _fmt(row["avg_pass@1_se"]), _fmt(row["conservative_avg_pass@1"]),
                 _fmt(row["std_over_runs"]), pass_k, maj_k, _fmt(row["uncertain_%"]), gap,
                 _fmt(row["mean_tokens"], 0), f"{row['errors']} ({row['deterministic_errors']})",
                 _fmt(row["missing"])]  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n\n" + MARKDOWN_NOTES + "\n"


def csv_table(rows: Sequence[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    if rows:
        writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({key: "" if value is None else value for key, value in row.items()})
    return buffer.getvalue()


def safe_filename(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name)


def plot_histogram(entry: dict[str, Any], path: Path) -> Path:
    """Figure 5: problems per accuracy bin, uncertain bins highlighted."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    hist = entry["stats"]["accuracy_histogram"]
    low, high = hist["band"]
    edges = [float(label.strip("[]()").split(",")[0]) for label in hist["bins"]]
    colors = ["tab:orange" if low <= edge < high else "tab:blue" for edge in edges]
    figure, axis = plt.subplots(figsize=(5, 3.2))
    bars = axis.bar(hist["bins"], hist["counts"], color=colors)
    uncertain = [bar for bar, color in zip(bars, colors) if color == "tab:orange"]
    if uncertain:
        uncertain[0].set_label(f"uncertain: accuracy in [{low:g}, {high:g})")
        axis.legend(fontsize=7)
    axis.set_xlabel("per-problem accuracy")
    axis.set_ylabel("problems")
    axis.set_title(
        f"{entry['model']} / {entry['benchmark']} ({entry['protocol']}): "
        f"uncertain {100 * hist['uncertain_ratio']:.1f}%",
        fontsize=8,
    )
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path


def plot_spread(entries: Sequence[dict[str, Any]], path: Path) -> Path | None:
    """Figure 4 / Table 7: max gap between 4 trials vs runs per trial (measured, and the planner's prediction)."""
    usable = [e for e in entries if (e.get("stats") or {}).get("max_gap")]
    if not usable:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(5.5, 3.5))
    for entry in usable:
        gaps = entry["stats"]["max_gap"]
        runs = sorted(int(k) for k in gaps)
        mean = [100 * gaps[str(r)]["mean_gap"] for r in runs]
        q95 = [100 * gaps[str(r)]["q95_gap"] for r in runs]
        (line,) = axis.plot(runs, mean, marker="o", label=f"{entry['model']} ({entry['protocol']})")
        axis.fill_between(runs, mean, q95, color=line.get_color(), alpha=0.15,
                          label="shaded: mean to 95th percentile of the gap over draws")  # fmt: skip
        plan = (entry["stats"].get("planner") or {}).get("plan") or []
        if plan:
            axis.plot([p["runs"] for p in plan], [100 * p["expected_max_gap"] for p in plan],
                      linestyle="--", color=line.get_color(), alpha=0.6, label="predicted (planner)")  # fmt: skip
    axis.set_xscale("log", base=2)
    axis.set_xlabel("runs per trial")
    axis.set_ylabel("max gap between 4 trials (points)")
    axis.set_title(f"{usable[0]['benchmark']}: score spread vs runs (dashed: predicted)", fontsize=8)
    axis.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path


def build_report(
    output_dir: str | Path,
    report_dir: str | Path | None = None,
    seed: int = 0,
    num_resamples: int = 1000,
    figures: bool = True,
    stores: Sequence[str | Path] | None = None,
    ks: Sequence[int] | None = None,
    taus: Sequence[float] | None = None,
) -> dict[str, Any]:
    """Summarise every store under `output_dir` (or the given ones) into report_dir (default output_dir/report)."""
    started = time.perf_counter()
    report_path = Path(report_dir) if report_dir is not None else Path(output_dir) / "report"
    report_path.mkdir(parents=True, exist_ok=True)
    paths = [Path(p) for p in stores] if stores is not None else find_stores(output_dir)
    views, skipped = [], []
    for path in paths:
        try:
            views.append(store_view(Store.read(path)))
        except (StoreError, KeyError, TypeError, ValueError) as error:  # one bad store never hides the others
            skipped.append({"store": str(path), "error": f"{type(error).__name__}: {error}"})
    greedy = {(v.model, v.benchmark): v for v in views if v.protocol == GREEDY_PROTOCOL}
    entries = []
    for view in views:
        data = (
            view.data
            if view.protocol == GREEDY_PROTOCOL
            else _with_greedy(view, greedy.get((view.model, view.benchmark)))
        )
        stats = summarize(data, default_metrics(data, seed, num_resamples, ks, taus)) if data else None
        accuracy_sum = float(data.accuracy.sum()) if data is not None else 0.0
        entries.append(
            {
                "model": view.model,
                "benchmark": view.benchmark,
                "protocol": view.protocol,
                "protocol_hash": view.protocol_hash,
                "store": str(view.path),
                "records": view.records,
                "errors": view.errors,
                "missing": view.missing,
                "problems": view.num_problems,
                "problems_without_result": view.problems_without_result,
                "conservative_avg_pass@1": accuracy_sum / view.num_problems if view.num_problems else None,
                "failures": view.failures,
                "finish_reasons": view.finish_reasons,
                "provenance": view.provenance,
                "stats": stats,
            }
        )
    rows = [table_row(entry) for entry in entries]
    files = {
        "summary.json": report_path / "summary.json",
        "summary.md": report_path / "summary.md",
        "summary.csv": report_path / "summary.csv",
    }
    settings = {"seed": seed, "num_resamples": num_resamples, "ks": ks, "taus": taus}
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    provenance = {
        **run_environment(),
        "created": stamp,
        "report_seconds": round(time.perf_counter() - started, 3),
    }
    summary = json.dumps(
        to_jsonable({"settings": settings, "provenance": provenance, "entries": entries, "skipped": skipped}),
        indent=1,
    )
    files["summary.json"].write_text(summary)
    # summary.json is the latest; every report also stays under history/ (never overwritten by the next).
    history = report_path / "history"
    history.mkdir(exist_ok=True)
    archived = history / f"summary-{stamp}.json"
    number = 1
    while archived.exists():
        number += 1
        archived = history / f"summary-{stamp}-{number}.json"
    archived.write_text(summary)
    files["history"] = archived
    files["summary.md"].write_text(markdown_table(rows))
    files["summary.csv"].write_text(csv_table(rows))
    figure_paths: list[str] = []
    if figures:
        figure_dir = report_path / "figures"
        figure_dir.mkdir(exist_ok=True)
        for entry in entries:
            if entry["stats"]:
                name = f"hist_{safe_filename(entry['model'])}_{safe_filename(entry['benchmark'])}_{safe_filename(entry['protocol'])}.png"
                figure_paths.append(str(plot_histogram(entry, figure_dir / name)))
        for benchmark in sorted({e["benchmark"] for e in entries}):
            for protocol in sorted({e["protocol"] for e in entries if e["benchmark"] == benchmark}):
                same = [
                    e
                    for e in entries
                    if e["benchmark"] == benchmark and e["protocol"] == protocol and e["stats"]
                ]
                drawn = plot_spread(
                    same, figure_dir / f"spread_{safe_filename(benchmark)}_{safe_filename(protocol)}.png"
                )
                if drawn is not None:
                    figure_paths.append(str(drawn))
    return {
        "entries": entries,
        "skipped": skipped,
        "rows": rows,
        "files": {k: str(v) for k, v in files.items()},
        "figures": figure_paths,
    }
