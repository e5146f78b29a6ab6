"""Ground Truth's output manifest and job counters."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from labeling.logic import jsonl
from labeling.logic.label_kinds import label_kind
from labeling.logic.manifest import InvalidLine, ManifestLine, manifest_lines
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
    `class-map` (the classes of the image's boxes) in the metadata (logic/label_kinds.py).
    A human label one worker gave has confidence 0.0 here, as Ground Truth writes it
    (label_kinds.output_confidence). The output manifest and ConsolidateAnnotations'
    intermediate manifests both write their lines through this function.
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


def _without_label(record: dict[str, Any], failure_reason: str, *, attribute: str, task: TaskType,
                   job_name: str) -> dict[str, Any]:
    """An input line the job did not label: no `<attribute>`, a `failure-reason` in its metadata.

    Ground Truth writes such objects this way, so tools that read labels skip them and the
    reason shows. A stale `<attribute>` already in the input line is dropped: it is not this job's label.
    """
    out = {key: value for key, value in record.items() if key != attribute}
    out[f"{attribute}-metadata"] = {
        "failure-reason": failure_reason,
        "type": task.groundtruth_type,
        "job-name": groundtruth_job_name(job_name),
    }
    return out


def stopping_condition_reason(stop_reason: str) -> str:
    """The failure-reason of an input line the job did not label because a stopping condition ended it."""
    return (f"StoppingConditionMet: the labeling job stopped at its stopping condition {stop_reason} "
            "before this object was labeled")


# Where an invalid line that is no JSON object keeps its text in the output manifest (our own
# key: Ground Truth has no line it cannot read in its output).
INVALID_LINE_TEXT = "invalid-line"


def invalid_line(
    line: ManifestLine, invalid: InvalidLine, *, attribute: str, task: TaskType, job_name: str
) -> dict[str, Any]:
    """A manifest line the job could not label (logic/manifest.py), written back with its reason.

    A JSON object comes back as it was input; any other line's text is kept under
    INVALID_LINE_TEXT, so that every output line is an object.
    """
    try:
        record = json.loads(line.text)
    except json.JSONDecodeError:
        record = None
    return _without_label(
        record if isinstance(record, dict) else {INVALID_LINE_TEXT: line.text},
        f"InvalidInput: input line {invalid.number}: {invalid.reason}",
        attribute=attribute, task=task, job_name=job_name,
    )


@dataclass
class Counters:
    """Job counters as Ground Truth names them (DescribeLabelingJob's LabelCounters)."""

    TotalLabeled: int = 0
    HumanLabeled: int = 0
    MachineLabeled: int = 0
    FailedNonRetryableError: int = 0
    Unlabeled: int = 0


def output_lines(
    lines: Iterable[str], labels: Iterator[dict[str, Any]], counters: Counters, *,
    invalid: Iterable[InvalidLine] = (), stop_reason: str | None = None, unlabeled_reason: str | None = None,
    **fmt: Any,
) -> Iterator[dict[str, Any]]:
    """Join the input manifest's lines with id-ordered labels and invalid lines, counting as it goes.

    Every non-blank input line comes out exactly once. An invalid line comes out with its
    reason and counts as FailedNonRetryableError. An item without a label is an error,
    since the loop runs until every item is labeled, unless a stopping condition
    (`stop_reason`) ended the job, or it ended before its loop did (a failure or a stop:
    `unlabeled_reason` is the failure-reason to give): then it is written unlabeled and
    counted as Unlabeled.
    """
    if unlabeled_reason is None and stop_reason:
        unlabeled_reason = stopping_condition_reason(stop_reason)
    pending = next(labels, None)
    invalid_lines = iter(invalid)
    next_invalid = next(invalid_lines, None)
    for line in manifest_lines(lines):
        item_id = line.item_id
        if next_invalid is not None and next_invalid.item_id == item_id:
            counters.FailedNonRetryableError += 1
            yield invalid_line(line, next_invalid, attribute=fmt["attribute"], task=fmt["task"],
                               job_name=fmt["job_name"])
            next_invalid = next(invalid_lines, None)
            continue
        record = jsonl.loads(line.text)
        if pending is not None and pending["id"] == item_id:
            label, pending = pending, next(labels, None)
            counters.TotalLabeled += 1
            if label["human"]:
                counters.HumanLabeled += 1
            else:
                counters.MachineLabeled += 1
            yield labeled_line(record, label, **fmt)
        elif unlabeled_reason:
            counters.Unlabeled += 1
            yield _without_label(record, unlabeled_reason, attribute=fmt["attribute"], task=fmt["task"],
                                 job_name=fmt["job_name"])
        else:
            raise MissingLabelError(f"item {item_id} (input line {line.number}) has no label")
    if pending is not None:
        raise MissingLabelError(f"label for item {pending['id']} matches no input line")
    if next_invalid is not None:
        raise MissingLabelError(f"invalid line {next_invalid.number} (item {next_invalid.item_id}) "
                                "matches no input line: the manifest changed after it was checked")
