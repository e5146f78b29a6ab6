"""report.json: who labeled what in each iteration, the promise (accuracy, or mean IoU for boxes) and the cost.

report.md (logic/report_summary.py) is rendered from this report alone, so the two
never disagree.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from itertools import islice
from typing import Any

from labeling.logic.audit import audit_section
from labeling.logic.label_kinds import label_kind
from labeling.logic.manifest import InvalidLine
from labeling.logic.out_of_reach import report_section
from labeling.logic.output import Counters
from labeling.logic.promise import ALL_MACHINE_LABELS, EACH_ITERATION
from labeling.models.job import JobConfig
from labeling.models.state import ActiveLearningModel
from labeling.task_types import TaskType

# What the instance-hours below measure, stated in the report so nobody mistakes them for a bill.
INSTANCE_HOURS_ARE = (
    "the run time of the job's SageMaker training and transform jobs, one instance each (start to end "
    "as SageMaker reports it, which is what it bills, in AWS; wall time of the local processes on the local cloud)"
)


@dataclass
class IterationLabels:
    """What one iteration's label files hold, counted while WriteOutput streams them."""

    human: int = 0
    human_answers: int = 0
    machine: int = 0

    def counting(self, records: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        for record in records:
            if record["human"]:
                self.human += 1
                self.human_answers += record.get("workers", 0)
            else:
                self.machine += 1
            yield record


def iteration_rows(
    labels: list[IterationLabels], summaries: list[dict[str, Any] | None], items: int,
) -> list[dict[str, Any]]:
    """One row per iteration: labels counted in the label files, the model's part from ApplyThreshold's summary.

    An iteration without a summary trained no model: humans labeled its batch alone
    (a small job, or the last batch of a job when too few items were left to calibrate on).
    One without labels too never ran: a stopping condition ended the job before its batch.
    One whose summary says `initialModel` trained none either: job.json's InitialActiveLearningModelArn
    labeled it.
    """
    rows, unlabeled = [], items
    for k, (counted, summary) in enumerate(zip(labels, summaries, strict=True)):
        if summary is None and not counted.human + counted.machine:
            continue
        unlabeled -= counted.human + counted.machine
        rows.append({
            "iteration": k,
            "humanLabeled": counted.human,
            # The random part of humanLabeled that calibrated the threshold (held out of training).
            "calibrationSampleSize": summary["calibrationSampleSize"] if summary else 0,
            "humanAnswers": counted.human_answers,
            "modelTrained": summary is not None and not summary.get("initialModel", False),
            "initialModel": bool(summary and summary.get("initialModel", False)),
            "machineLabeled": counted.machine,
            # value, measure, estimate, lowerBound, calibrationAccepted, calibrationSize (models/state.py Threshold)
            "threshold": summary["threshold"] if summary else None,
            "leftUnlabeled": unlabeled,
            "trainingSeconds": summary["trainingSeconds"] if summary else 0.0,
            "transformSeconds": summary["transformSeconds"] if summary else 0.0,
        })
    return rows


def totals(rows: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "iterations": len(rows),
        "modelsTrained": sum(row["modelTrained"] for row in rows),
        **{key: sum(row[key] for row in rows) for key in (
            "humanLabeled", "calibrationSampleSize", "humanAnswers", "machineLabeled",
            "trainingSeconds", "transformSeconds",
        )},
    }


def _machine_labeled(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [row for row in rows if row["machineLabeled"]]


def _weighted(rows: list[dict[str, Any]], key: str) -> float | None:
    labeled = _machine_labeled(rows)
    weight = sum(row["machineLabeled"] for row in labeled)
    if not weight:
        return None
    return sum(row["threshold"][key] * row["machineLabeled"] for row in labeled) / weight


def promise(rows: list[dict[str, Any]], counters: Counters, settings: JobConfig, task: TaskType) -> dict[str, Any]:
    """What the thresholds promise about the machine labels, in the task's measure (accuracy or mean IoU)."""
    kind = label_kind(task.label_kind)
    machine_estimate = _weighted(rows, "estimate")
    labeled = _machine_labeled(rows)
    return {
        "measure": kind.measure,
        "target": kind.target(settings),
        "confidenceLevel": settings.ConfidenceLevel,
        # Each iteration's bound holds at the confidence level for that iteration's machine labels;
        # the weighted mean is what the bounds say about all machine labels together.
        "machineLabelsEstimated": machine_estimate,
        "machineLabelsLowerBound": _weighted(rows, "lowerBound"),
        "lowestIterationLowerBound": min((row["threshold"]["lowerBound"] for row in labeled), default=None),
        # Human labels count as correct (quality 1); machine labels at their calibration estimate.
        "overallEstimated": (
            counters.HumanLabeled + (machine_estimate or 0.0) * counters.MachineLabeled
        ) / (counters.TotalLabeled or 1),
        **kept_promise(rows, counters, settings.Promise),
    }


def kept_promise(rows: list[dict[str, Any]], counters: Counters, name: str) -> dict[str, Any]:
    """Which promise the job kept (job.json Promise, logic/promise.py), what it certifies, and its cost.

    A job-level promise's bound: at most `errorBound` errors (1 - quality, for boxes) among the
    `certifiedMachineLabels` the loop accepted, with the confidence level; so all those machine
    labels (AllMachineLabels), or all labels with human ones counted as right (WholeDataset), are
    at least `certifiedLowerBound`. Its cost in coverage: what the per-iteration promise would
    have labeled in the same iterations, with the same models and calibration samples (a later
    iteration's pool would have differed, so it is a per-iteration comparison, not a rerun).
    """
    if name == EACH_ITERATION:
        return {"kept": name}
    searched = [row["threshold"] for row in rows
                if row["threshold"] and row["threshold"].get("poolAccepted") is not None]
    accepted = sum(t["poolAccepted"] for t in searched)
    errors = sum(t["errorBound"] for t in searched)
    counted = accepted if name == ALL_MACHINE_LABELS else counters.TotalLabeled
    return {
        "kept": name,
        "certifiedMachineLabels": accepted,
        "errorBound": round(errors, 4),
        "certifiedLowerBound": (1.0 - errors / counted) if counted else None,
        "eachIterationWouldHaveLabeled": sum(t["eachIterationPoolAccepted"] for t in searched),
        "confidenceSpent": [t["alpha"] for t in searched],
    }


def _instance_use(job: str, instance_type: str, seconds: float, usd_per_hour: float) -> dict[str, Any]:
    hours = seconds / 3600
    return {
        "job": job, "instanceType": instance_type, "instanceHours": round(hours, 4),
        "onDemandUSDPerHour": usd_per_hour, "costUSD": round(hours * usd_per_hour, 4),
    }


def cost_estimate(
    rows: list[dict[str, Any]], human_answers: int, labeled_items: int, settings: JobConfig, task: TaskType
) -> dict[str, Any]:
    """Human answers at the job's price per answer, SageMaker instance-hours at each pinned type's on-demand price."""
    instances = [
        _instance_use("training", task.training_instance, sum(row["trainingSeconds"] for row in rows),
                      task.training_usd_per_hour),
        _instance_use("transform", task.inference_instance, sum(row["transformSeconds"] for row in rows),
                      task.inference_usd_per_hour),
    ]
    human = human_answers * settings.HumanPricePerAnswerUSD
    total = human + sum(use["costUSD"] for use in instances)
    all_human_answers = labeled_items * settings.NumberOfHumanWorkersPerDataObject
    all_human = all_human_answers * settings.HumanPricePerAnswerUSD
    return {
        "humanAnswers": human_answers,
        "humanPricePerAnswerUSD": settings.HumanPricePerAnswerUSD,
        "humanUSD": round(human, 4),
        "instances": instances,
        "instanceHoursAre": INSTANCE_HOURS_ARE,
        "totalUSD": round(total, 4),
        # The items this job labeled, every one answered by NumberOfHumanWorkersPerDataObject workers.
        "allHumanAnswers": all_human_answers,
        "allHumanUSD": round(all_human, 4),
        "savedUSD": round(all_human - total, 4),
    }


# How many invalid lines report.json lists (the output manifest and the invalid-lines file hold all).
MAX_LISTED_INVALID_LINES = 1000


def invalid_lines_section(invalid_lines: Iterable[InvalidLine], count: int) -> dict[str, Any]:
    """The manifest lines the job could not label: each line's number and reason, up to a limit."""
    listed = [{"line": line.number, "reason": line.reason} for line in islice(invalid_lines, MAX_LISTED_INVALID_LINES)]
    return {"count": count, "listed": listed, "allListed": len(listed) == count}


def final_model_section(model: ActiveLearningModel | None, task: TaskType) -> dict[str, Any] | None:
    """report.json's finalActiveLearningModel: the job's latest model (models/state.py, latest_model),
    what `autolabel model deploy` deploys and a later job's InitialActiveLearningModelArn names;
    None when the job had no model (a human-only job)."""
    if model is None:
        return None
    return {
        "iteration": model.iteration, "modelName": model.model_name, "modelArn": model.model_arn,
        "modelArtifacts": model.model_artifacts, "taskType": task.name,
        # What the model is served on: the instance its transforms ran on (the task-type table).
        "inferenceInstanceType": task.inference_instance,
    }


def build_report(
    *, job_name: str, settings: JobConfig, task: TaskType, automated: bool, counters: Counters,
    labels: list[IterationLabels], summaries: list[dict[str, Any] | None], stop_reason: str | None = None,
    invalid_lines: Iterable[InvalidLine] = (), status: str | None = None, failure: dict[str, Any] | None = None,
    label_names: list[str] | None = None, final_model: ActiveLearningModel | None = None,
    output_manifest_uri: str | None = None, audit: dict[str, Any] | None = None,
    out_of_reach: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """labels and summaries: one per iteration, in order (a summary is None where no model was trained).

    final_model: the job's latest model (None: it had none); label_names: labels.json's classes, in
    the order the model's class indexes follow (a later job that starts from the model needs the same).

    `status`: how a job ended before its loop did ("Failed", with `failure`'s error and cause,
    or "Stopped"); None for a job whose loop ended.

    audit: audit.json (logic/audit.py) once the job's audit is done. The iterations, totals and
    promise are the loop's labels as it produced them; the counters are the output manifest's, where
    the audit's human labels have replaced the machine labels they checked; the cost counts the
    audit's answers too.
    """
    rows = iteration_rows(labels, summaries, counters.TotalLabeled + counters.Unlabeled)
    summed = totals(rows)
    return {
        "job": job_name,
        # Stopped: a stopping condition of job.json ended the job with counters.Unlabeled items left.
        # Failed or Stopped (`status`): the job ended early, and can be resumed.
        "status": status or ("Stopped" if stop_reason else "Completed"),
        "stopReason": stop_reason or ("StopRequested" if status == "Stopped" else None),
        **({"failure": failure} if failure else {}),
        "taskType": settings.TaskType,
        "labelAttributeName": settings.LabelAttributeName,
        "automatedLabeling": automated,
        "labelNames": list(label_names or []),
        "finalActiveLearningModel": final_model_section(final_model, task),
        # Ground Truth's DescribeLabelingJob LabelingJobOutput.
        "labelingJobOutput": {
            "outputDatasetS3Uri": output_manifest_uri,
            "finalActiveLearningModelArn": final_model.model_arn if final_model else None,
        },
        "counters": asdict(counters),
        # counters.FailedNonRetryableError counts these: lines of the input manifest that no one labels.
        "invalidLines": invalid_lines_section(invalid_lines, counters.FailedNonRetryableError),
        "iterations": rows,
        "totals": summed,
        "promise": promise(rows, counters, settings, task),
        "audit": audit_section(settings.AuditSampleSize, audit, summed["machineLabeled"]),
        # When the target looked out of the model's reach, and what the models after that cost (out_of_reach.py).
        "outOfReach": report_section(out_of_reach, rows, stop_setting=settings.StopTrainingWhenOutOfReach,
                                     training_usd_per_hour=task.training_usd_per_hour,
                                     inference_usd_per_hour=task.inference_usd_per_hour),
        "cost": cost_estimate(rows, summed["humanAnswers"] + (audit["humanAnswers"] if audit else 0),
                              counters.TotalLabeled, settings, task),
        "settings": settings.model_dump(),
    }
