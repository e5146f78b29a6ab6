"""Ground Truth's stopping conditions (job.json StoppingConditions): when the loop ends early.

Both are checked by SelectAmbiguous, the one place that decides whether another
human batch goes out; the condition that ends the job becomes the state's stopReason.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from labeling.models.job import LabelingJobStoppingConditions

MAX_HUMAN_LABELED = "MaxHumanLabeledObjectCount"
MAX_PERCENTAGE_LABELED = "MaxPercentageOfInputDatasetLabeled"


def human_budget(conditions: LabelingJobStoppingConditions | None, human_labeled: int) -> int | None:
    """How many more items humans may label; None when there is no cap."""
    if conditions is None or conditions.MaxHumanLabeledObjectCount is None:
        return None
    return max(0, conditions.MaxHumanLabeledObjectCount - human_labeled)


def percentage_reached(conditions: LabelingJobStoppingConditions | None, labeled: int, total: int) -> bool:
    """(human + machine labeled) / total >= MaxPercentageOfInputDatasetLabeled, in integers (no rounding)."""
    if conditions is None or conditions.MaxPercentageOfInputDatasetLabeled is None:
        return False
    return labeled * 100 >= conditions.MaxPercentageOfInputDatasetLabeled * total


def next_batch_or_stop(
    conditions: LabelingJobStoppingConditions | None, *, human_labeled: int, machine_labeled: int, total: int,
    unlabeled: int, select: Callable[[int | None], list[dict[str, Any]]],
) -> tuple[list[dict[str, Any]], str | None]:
    """The next human batch, `select(human_budget)`, or none and the condition that ends the job.

    MaxPercentageOfInputDatasetLabeled is checked first: once enough is labeled no batch is
    chosen. A batch that comes back empty while items remain means the human budget is spent
    (without one, a batch is never empty while items remain: logic/batches.py). A job with
    nothing left unlabeled simply completes: no condition ended it.
    """
    if unlabeled and percentage_reached(conditions, human_labeled + machine_labeled, total):
        return [], MAX_PERCENTAGE_LABELED
    batch = select(human_budget(conditions, human_labeled))
    if unlabeled and not batch:
        return [], MAX_HUMAN_LABELED
    return batch, None
