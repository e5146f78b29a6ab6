"""The task types autolabel labels, and the SageMaker instances each is pinned to.

This is the single source of the task-type table (ARCHITECTURE.md, contract):
the CDK stack pins these instances in the state machine, the Lambda functions
write Ground Truth's `type` metadata from it, and tests check the synthesized
template against it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TaskType:
    name: str
    training_instance: str
    inference_instance: str
    groundtruth_type: str
    # Where the data item lives in a manifest line: inline text or an S3 object.
    source_key: str
    # What a label is: one class ("classification") or boxes with classes ("bounding-box");
    # logic/label_kinds.py holds what differs between the two.
    label_kind: str
    # On-demand USD per hour, us-east-1 (SageMaker pricing page, 2026-11), for cost estimates.
    training_usd_per_hour: float
    inference_usd_per_hour: float
    # What the labeling page tells a worker when job.json gives no Instructions.
    default_instructions: str = ""


TASK_TYPES: dict[str, TaskType] = {
    t.name: t
    for t in (
        TaskType(
            "image-classification", "ml.p3.2xlarge", "ml.c5.xlarge",
            "groundtruth/image-classification", "source-ref", "classification", 3.825, 0.204,
            "Look at the image and choose the one class that fits it best.",
        ),
        TaskType(
            "object-detection", "ml.p3.2xlarge", "ml.c5.4xlarge",
            "groundtruth/object-detection", "source-ref", "bounding-box", 3.825, 0.816,
            "Draw a tight box around every object of the listed classes and give each box its class; "
            "submit no boxes when the image shows none.",
        ),
        TaskType(
            "text-classification", "ml.c5.2xlarge", "ml.m4.xlarge",
            "groundtruth/text-classification", "source", "classification", 0.408, 0.24,
            "Read the text and choose the one class that fits it best.",
        ),
    )
}


class UnknownTaskTypeError(ValueError):
    pass


def task_type(name: str) -> TaskType:
    try:
        return TASK_TYPES[name]
    except KeyError:
        known = ", ".join(sorted(TASK_TYPES))
        raise UnknownTaskTypeError(
            f"unknown task type {name!r}; set TaskType in job.json to one of: {known}"
        ) from None
