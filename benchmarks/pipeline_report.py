"""Rows (one per pipeline run) and the table over seeds, for benchmarks/pipeline.py.

A row joins what the job says about itself (report.json: counters, iterations and
their thresholds, the cost estimate) with what scoring against the known answers
finds (benchmarks/scoring.py). Fractions stay fractions in the rows; the table shows
percentages.
"""

from __future__ import annotations

import csv
import json
import statistics
from collections import defaultdict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from benchmarks.machine import cpu_description
from benchmarks.scoring import Score
from labeling.logic.box_quality import TARGET_QUALITY

COLUMNS = (
    "dataset", "task_type", "seed", "status", "items", "human_labeled", "machine_labeled", "unlabeled",
    "machine_share", "machine_accuracy", "output_accuracy", "mean_quality", "share_at_target_quality",
    "mean_matched_iou", "target", "met_target", "estimated_by_job", "lower_bound_by_job", "iterations",
    "thresholds", "human_usd", "sagemaker_usd", "cost_usd", "all_human_usd", "saved_share",
    "training_seconds", "transform_seconds", "wall_seconds", "error",
    # Detection runs: the oracle cut read from the job's output folder (benchmarks/box_oracle.py).
    "oracle_labeled", "oracle_share_first", "oracle_ratio", "per_iteration_oracle",
    # The CPU the run trained on (benchmarks/machine.py: the same seed gives other models on other CPUs).
    "cpu",
)


# Columns a row holds as text: the JSON lists stay JSON text, as row() writes them.
_TEXT = {"dataset", "task_type", "status", "error", "thresholds", "per_iteration_oracle", "cpu"}


def read_rows(path: Path) -> list[dict[str, Any]]:
    """The rows of a pipeline-runs.csv, with the types row() gave them (csv writes every value as text)."""
    with path.open(newline="") as f:
        return [{column: _typed(column, value) for column, value in written.items()} for written in csv.DictReader(f)]


def _typed(column: str, value: str) -> Any:
    if value == "":
        return None
    if column in _TEXT:
        return value
    if value in ("True", "False"):
        return value == "True"
    number = float(value)
    return int(number) if number.is_integer() and "." not in value else number


def _rounded(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(value, digits)


def failed_row(dataset: str, task_type: str, seed: int, error: str, wall_seconds: float) -> dict[str, Any]:
    row = dict.fromkeys(COLUMNS)
    row.update(dataset=dataset, task_type=task_type, seed=seed, status="failed", error=error,
               wall_seconds=round(wall_seconds, 1), cpu=cpu_description())
    return row


def row(dataset: str, seed: int, score: Score, report: Mapping[str, Any], wall_seconds: float,
        oracle: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """`oracle`: box_oracle.oracle_figures of the run (detection only); its columns stay empty without it."""
    # The job's own promise: its measure (accuracy, or mean IoU for boxes) and target.
    cost, promise, totals = report["cost"], report["promise"], report["totals"]
    target = promise["target"]
    return {
        "dataset": dataset, "task_type": score.task_type, "seed": seed, "status": report["status"],
        "items": score.items, "human_labeled": score.human_labeled, "machine_labeled": score.machine_labeled,
        "unlabeled": score.unlabeled, "machine_share": round(score.machine_labeled / score.items, 4),
        "machine_accuracy": _rounded(score.machine_accuracy), "output_accuracy": _rounded(score.output_accuracy),
        "mean_quality": _rounded(score.mean_quality),
        "share_at_target_quality": _rounded(score.share_at_target_quality),
        "mean_matched_iou": _rounded(score.mean_matched_iou),
        "target": target, "met_target": score.met_target(target),
        # What the job's calibration said of its machine labels, beside what the answers say.
        "estimated_by_job": _rounded(promise["machineLabelsEstimated"]),
        "lower_bound_by_job": _rounded(promise["machineLabelsLowerBound"]),
        "iterations": len(report["iterations"]),
        "thresholds": json.dumps([(it["threshold"] or {}).get("value") for it in report["iterations"]]),
        "human_usd": cost["humanUSD"],
        "sagemaker_usd": round(sum(use["costUSD"] for use in cost["instances"]), 4),
        "cost_usd": cost["totalUSD"], "all_human_usd": cost["allHumanUSD"],
        "saved_share": round(cost["savedUSD"] / cost["allHumanUSD"], 4) if cost["allHumanUSD"] else None,
        "training_seconds": round(totals["trainingSeconds"], 1),
        "transform_seconds": round(totals["transformSeconds"], 1),
        "wall_seconds": round(wall_seconds, 1), "error": None,
        **dict.fromkeys(("oracle_labeled", "oracle_share_first", "oracle_ratio", "per_iteration_oracle")),
        **(oracle or {}),
        "cpu": cpu_description(),
    }


def _spread(values: list[float], scale: float = 100, digits: int = 1) -> str:
    """mean (min-max), '-' when no run has the value."""
    if not values:
        return "-"
    mean, low, high = (scale * v for v in (statistics.fmean(values), min(values), max(values)))
    return f"{mean:.{digits}f} ({low:.{digits}f}-{high:.{digits}f})"


def _present(group: list[dict[str, Any]], key: str) -> list[float]:
    return [r[key] for r in group if r[key] is not None]


def markdown(rows: list[dict[str, Any]]) -> str:
    groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        groups[(r["dataset"], r["task_type"])].append(r)
    lines = [
        "Real local pipeline (`autolabel run`), simulated workforce answering from the known labels. "
        "Target: the job's own, machine-label accuracy >= TargetAccuracy (classification) or mean image "
        "quality >= TargetMeanIoU (detection, IoU-based, `labeling.logic.box_quality`); "
        f"*images at quality >= {TARGET_QUALITY}* uses Ground Truth's box target whatever the job's. "
        "Values: mean (min-max) over seeds; cost from report.json (local instance time priced as the pinned "
        "SageMaker instances). *machine-labeled / oracle* (detection runs): the job's machine labels over "
        "the most one confidence threshold per iteration could have labeled from the same pool at the "
        "target, knowing the answers (`benchmarks/box_oracle.py`). pipeline-runs.csv's *cpu* names the CPU "
        "each run trained on (empty for runs before 2026-12-03): the same seed gives other models on "
        "other CPUs (`benchmarks/machine.py`).",
        "",
        "| data set | task type | target | runs | items | machine-labeled % | human labels | "
        "machine-label accuracy % | mean image quality | images at quality >= 0.6 % | matched-box IoU | "
        "runs at target | iterations | "
        "cost USD | saved vs all-human % | machine-labeled / oracle % | wall s |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for (dataset, task_type), group in groups.items():
        done = [r for r in group if r["status"] != "failed"]
        failed = len(group) - len(done)
        runs = f"{len(done)}" + (f" (+{failed} failed)" if failed else "")
        if not done:
            lines.append(f"| {dataset} | {task_type} | - | {runs} |" + " - |" * 13)
            continue
        judged = [r["met_target"] for r in done if r["met_target"] is not None]
        targets = " / ".join(sorted({f"{r['target']:g}" for r in done}))
        lines.append(
            f"| {dataset} | {task_type} | {targets} | {runs} | "
            f"{statistics.fmean(r['items'] for r in done):.0f} | "
            f"{_spread(_present(done, 'machine_share'))} | "
            f"{statistics.fmean(r['human_labeled'] for r in done):.0f} | "
            f"{_spread(_present(done, 'machine_accuracy'))} | "
            f"{_spread(_present(done, 'mean_quality'), scale=1, digits=3)} | "
            f"{_spread(_present(done, 'share_at_target_quality'))} | "
            f"{_spread(_present(done, 'mean_matched_iou'), scale=1, digits=3)} | "
            f"{sum(judged)}/{len(judged)} | {_spread(_present(done, 'iterations'), scale=1)} | "
            f"{_spread(_present(done, 'cost_usd'), scale=1, digits=2)} | "
            f"{_spread(_present(done, 'saved_share'))} | {_spread(_present(done, 'oracle_ratio'))} | "
            f"{statistics.fmean(r['wall_seconds'] for r in done):.0f} |"
        )
    return "\n".join(lines) + "\n"
