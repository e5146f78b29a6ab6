"""Ground Truth's output manifest and job counters."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from labeling.logic.label_kinds import label_kind
from labeling.task_types import TaskType


class MissingLabelError(RuntimeError):
    pass


def creation_date(moment: datetime | None = None) -> str:
    """A label's `creation-date`, written the way Ground Truth writes it (UTC, microseconds)."""
    return (moment or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%S.%f")


def groundtruth_job_name(job_name: str) -> str:
    return f"labeling-job/{job_name}"


def labeled_line(
    record: dict[str, Any], label: dict[str, Any], *, attribute: str, label_names: list[str],
    task: TaskType, job_name: str,
) -> dict[str, Any]:
    """An input line plus `<attribute>` and `<attribute>-metadata`, as Ground Truth writes them.

    Classification: the class index, and `class-name` and `confidence` in the metadata.
    Boxes: {"image_size", "annotations"}, and `objects` (one confidence per box) and
    `class-map` in the metadata (logic/label_kinds.py).
    """
    kind = label_kind(task.label_kind)
    out = dict(record)
    out[attribute] = kind.attribute_value(label)
    out[f"{attribute}-metadata"] = {
        **kind.metadata(label, label_names),
        "type": task.groundtruth_type,
        "job-name": groundtruth_job_name(job_name),
        "human-annotated": "yes" if label["human"] else "no",
        "creation-date": label["createdAt"],
    }
    return out


def unlabeled_line(
    record: dict[str, Any], stop_reason: str, *, attribute: str, task: TaskType, job_name: str
) -> dict[str, Any]:
    """An input line the job did not label because a stopping condition ended it.

    Ground Truth writes such objects with no `<attribute>` and a `failure-reason` in
    `<attribute>-metadata`, so tools that read labels skip them and the reason shows.
    A stale `<attribute>` already in the input line is dropped: it is not this job's label.
    """
    out = {key: value for key, value in record.items() if key != attribute}
    out[f"{attribute}-metadata"] = {
        "failure-reason": f"StoppingConditionMet: the labeling job stopped at its stopping condition "
                          f"{stop_reason} before this object was labeled",
        "type": task.groundtruth_type,
        "job-name": groundtruth_job_name(job_name),
    }
    return out


@dataclass
class Counters:
    """Job counters as Ground Truth names them (DescribeLabelingJob's LabelCounters)."""

    TotalLabeled: int = 0
    HumanLabeled: int = 0
    MachineLabeled: int = 0
    FailedNonRetryableError: int = 0
    Unlabeled: int = 0


def output_lines(
    records: Iterable[dict[str, Any]], labels: Iterator[dict[str, Any]], counters: Counters, *,
    stop_reason: str | None = None, **fmt: Any,
) -> Iterator[dict[str, Any]]:
    """Join the input manifest with id-ordered labels, counting as it goes.

    Every input line comes out exactly once. An item without a label is an error,
    since the loop runs until every item is labeled, unless a stopping condition
    (`stop_reason`) ended the job: then it is written unlabeled and counted as Unlabeled.
    """
    pending = next(labels, None)
    for item_id, record in enumerate(records):
        if pending is not None and pending["id"] == item_id:
            label, pending = pending, next(labels, None)
            counters.TotalLabeled += 1
            if label["human"]:
                counters.HumanLabeled += 1
            else:
                counters.MachineLabeled += 1
            yield labeled_line(record, label, **fmt)
        elif stop_reason:
            counters.Unlabeled += 1
            yield unlabeled_line(record, stop_reason, attribute=fmt["attribute"], task=fmt["task"],
                                 job_name=fmt["job_name"])
        else:
            raise MissingLabelError(f"item {item_id} (item number {item_id + 1}, blank lines not counted) has no label")
    if pending is not None:
        raise MissingLabelError(f"label for item {pending['id']} matches no input line")
