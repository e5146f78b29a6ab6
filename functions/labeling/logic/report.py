"""report.json: what humans labeled, what models labeled, the accuracy estimate and the cost."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from labeling.logic.output import Counters
from labeling.models.job import JobConfig
from labeling.task_types import TaskType


def _weighted(iterations: list[dict[str, Any]], key: str) -> float | None:
    weight = sum(it["machineLabeled"] for it in iterations)
    if not weight:
        return None
    return sum(it["threshold"][key] * it["machineLabeled"] for it in iterations if it["machineLabeled"]) / weight


def cost_estimate(
    iterations: list[dict[str, Any]], human_answers: int, total_items: int, settings: JobConfig, task: TaskType
) -> dict[str, float]:
    training_hours = sum(it["trainingSeconds"] for it in iterations) / 3600
    inference_hours = sum(it["transformSeconds"] for it in iterations) / 3600
    human = human_answers * settings.HumanPricePerAnswerUSD
    training = training_hours * task.training_usd_per_hour
    inference = inference_hours * task.inference_usd_per_hour
    all_human = total_items * settings.NumberOfHumanWorkersPerDataObject * settings.HumanPricePerAnswerUSD
    total = human + training + inference
    return {
        "humanAnswers": human_answers,
        "humanUSD": round(human, 4),
        "trainingInstanceHours": round(training_hours, 4),
        "trainingUSD": round(training, 4),
        "inferenceInstanceHours": round(inference_hours, 4),
        "inferenceUSD": round(inference, 4),
        "totalUSD": round(total, 4),
        "allHumanUSD": round(all_human, 4),
        "savedUSD": round(all_human - total, 4),
    }


def build_report(
    *, job_name: str, settings: JobConfig, task: TaskType, automated: bool, counters: Counters,
    iterations: list[dict[str, Any]], human_answers: int,
) -> dict[str, Any]:
    machine_accuracy = _weighted(iterations, "estimatedAccuracy")
    machine_bound = _weighted(iterations, "lowerBound")
    total = counters.TotalLabeled or 1
    return {
        "job": job_name,
        "status": "Completed",
        "taskType": settings.TaskType,
        "labelAttributeName": settings.LabelAttributeName,
        "automatedLabeling": automated,
        "counters": asdict(counters),
        "iterations": iterations,
        "accuracy": {
            "target": settings.TargetAccuracy,
            "confidenceLevel": settings.ConfidenceLevel,
            # Human labels count as correct; machine labels at their calibration estimate.
            "machineLabelsEstimated": machine_accuracy,
            "machineLabelsLowerBound": machine_bound,
            "overallEstimated": (
                counters.HumanLabeled + (machine_accuracy or 0.0) * counters.MachineLabeled
            ) / total,
        },
        "cost": cost_estimate(iterations, human_answers, counters.TotalLabeled, settings, task),
        "settings": settings.model_dump(),
    }
