"""ComputeThreshold's decision: the threshold the job's promise allows (logic/promise.py).

Under the per-iteration promise it is the search of threshold.py / box_quality.py at the job's
confidence. Under a job-level promise the search runs at this iteration's share of the confidence,
asks of each threshold what the job's error budget leaves for the pool items it would label, and
records beside it what the per-iteration promise would have chosen, for the report's cost in coverage.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from labeling.logic import promise
from labeling.logic.fixed_sequence import grid_tally
from labeling.logic.label_kinds import BoundingBoxes, Classification, ThresholdChoice
from labeling.models.job import JobConfig
from labeling.models.state import PromiseLedger, Threshold


@dataclass(frozen=True)
class IterationThreshold:
    threshold: Threshold
    details: dict[str, Any]  # threshold.json
    ledger: PromiseLedger


def decide(
    kind: Classification | BoundingBoxes, calibration: Sequence[tuple[float, Any]], settings: JobConfig,
    ledger: PromiseLedger, *, human_labeled: int, pool_confidences: Callable[[], Iterable[float]],
) -> IterationThreshold:
    """pool_confidences: the model's confidence of each pool item, read only for a job-level promise."""
    alpha = 1.0 - settings.ConfidenceLevel
    each = kind.choose_threshold(calibration, settings)
    if settings.Promise == promise.EACH_ITERATION:
        return IterationThreshold(_threshold(kind, each, settings.Promise, alpha), each.details, ledger)
    pool = grid_tally(pool_confidences())
    accepted_at = promise.pool_counter(pool)
    level = promise.iteration_alpha(settings.Promise, alpha, ledger.tests)
    required = promise.requirement(settings.Promise, kind.target(settings), ledger,
                                   human_labeled=human_labeled, pool_accepted=accepted_at)
    choice = kind.choose_threshold(calibration, settings, alpha=level, required=required)
    accepted = accepted_at(choice.value) if choice.value is not None else 0
    tested_at = required(choice.value) if choice.value is not None else 1.0
    each_accepted = accepted_at(each.value) if each.value is not None else 0
    threshold = _threshold(kind, choice, settings.Promise, level).model_copy(update={
        "pool_accepted": accepted, "error_bound": promise.error_bound(accepted, tested_at),
        "each_iteration_value": each.value, "each_iteration_pool_accepted": each_accepted,
    })
    details = {**choice.details, "promise": settings.Promise, "alpha": level,
               "ledgerBefore": ledger.model_dump(by_alias=True),
               "eachIteration": {"threshold": each.value, "poolAccepted": each_accepted}}
    return IterationThreshold(threshold, details,
                              promise.spend(ledger, pool_accepted=accepted, required=tested_at,
                                            tested=bool(choice.details["steps"])))


def _threshold(kind: Classification | BoundingBoxes, choice: ThresholdChoice, name: str, alpha: float) -> Threshold:
    return Threshold(
        value=choice.value, measure=kind.measure, calibrationSize=choice.calibration_size,
        calibrationAccepted=choice.accepted, estimate=choice.estimate, lowerBound=choice.lower_bound,
        promise=name, alpha=alpha,
    )
