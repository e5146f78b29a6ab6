"""Benchmark rows (one per run) and the summary table per data set and rule."""

from __future__ import annotations

import json
import statistics
from collections import defaultdict

from benchmarks.loop import BILLED_MINUTES_PER_SAGEMAKER_JOB, RunResult
from labeling.models.job import JobConfig
from labeling.task_types import TaskType


def cost(result: RunResult, settings: JobConfig, task: TaskType) -> tuple[float, float]:
    """(the run's cost, labeling everything by hand), USD: human answers plus SageMaker instance time."""
    hours = BILLED_MINUTES_PER_SAGEMAKER_JOB / 60
    trainings = result.sagemaker_jobs // 3
    sagemaker = hours * (trainings * task.training_usd_per_hour + 2 * trainings * task.inference_usd_per_hour)
    per_item = settings.NumberOfHumanWorkersPerDataObject * settings.HumanPricePerAnswerUSD
    return result.human_labeled * per_item + sagemaker, result.items * per_item


def row(result: RunResult, settings: JobConfig, task: TaskType) -> dict:
    spent, all_human = cost(result, settings, task)
    per_iteration = [
        {"iteration": it.iteration, "humanBatch": it.human_batch, "threshold": it.threshold,
         "machineLabeled": it.machine_labeled, "machineCorrect": it.machine_correct}
        for it in result.iterations
    ]
    return {
        "dataset": result.dataset, "rule": result.rule, "seed": result.seed, "items": result.items,
        "human_labeled": result.human_labeled, "machine_labeled": result.machine_labeled,
        "machine_share": round(result.machine_labeled / result.items, 4),
        "machine_accuracy": None if result.machine_accuracy is None else round(result.machine_accuracy, 4),
        "output_accuracy": round(result.output_accuracy, 4),
        "iterations": len(result.iterations),
        # Iterations whose accepted labels fell below target, of those that accepted any.
        "iterations_below_target": sum(
            1 for it in result.iterations
            if it.machine_labeled and it.machine_correct / it.machine_labeled < settings.TargetAccuracy
        ),
        "iterations_accepting": sum(1 for it in result.iterations if it.machine_labeled),
        "cost_usd": round(spent, 2), "all_human_usd": round(all_human, 2),
        "saved_share": round(1 - spent / all_human, 4),
        "seconds": round(result.seconds, 2),
        "per_iteration": json.dumps(per_iteration),
    }


def _pct(values: list[float]) -> str:
    return f"{100 * statistics.mean(values):.1f} ({100 * min(values):.1f}-{100 * max(values):.1f})"


def markdown(rows: list[dict], settings: JobConfig) -> str:
    groups: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for r in rows:
        groups[(r["dataset"], r["rule"])].append(r)
    lines = [
        f"Target accuracy {settings.TargetAccuracy:.0%} at {settings.ConfidenceLevel:.0%} confidence; "
        f"human batches of {settings.MaxConcurrentTaskCount} with {settings.CalibrationSampleSize} "
        "calibration items. Percentages: mean (min-max) over seeds.",
        "",
        "| data set | rule | runs | machine-labeled % | machine-label accuracy % | runs at target | "
        "iterations below target | output accuracy % | human labels | cost saved vs all-human % | wall s |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for (dataset, rule), group in groups.items():
        accuracies = [r["machine_accuracy"] for r in group if r["machine_accuracy"] is not None]
        at_target = sum(1 for a in accuracies if a >= settings.TargetAccuracy)
        lines.append(
            f"| {dataset} | {rule} | {len(group)} | {_pct([r['machine_share'] for r in group])} | "
            f"{_pct(accuracies) if accuracies else '-'} | {at_target}/{len(accuracies)} | "
            f"{sum(r['iterations_below_target'] for r in group)}/{sum(r['iterations_accepting'] for r in group)} | "
            f"{_pct([r['output_accuracy'] for r in group])} | "
            f"{statistics.mean(r['human_labeled'] for r in group):.0f} | "
            f"{_pct([r['saved_share'] for r in group])} | {statistics.mean(r['seconds'] for r in group):.1f} |"
        )
    return "\n".join(lines) + "\n"
