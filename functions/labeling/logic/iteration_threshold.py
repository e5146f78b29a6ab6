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
from labeling.logic.label_kinds import BoundingBoxes, Classification
from labeling.logic.threshold_decision import ThresholdDecision
from labeling.models.job import JobConfig
from labeling.models.state import PromiseLedger, Threshold


@dataclass(frozen=True)
class IterationThreshold:
    threshold: Threshold
    details: dict[str, Any]  # threshold.json
    ledger: PromiseLedger


def decide(
    kind: Classification | BoundingBoxes, calibration: Sequence[tuple[float, Any]], settings: JobConfig,
    ledger: PromiseLedger, *, human_labeled: int, pool_confidences: Callable[[], Iterable[float]], order_seed: str,
) -> IterationThreshold:
    """pool_confidences: the model's confidence of each pool item, read only for a job-level promise.
    order_seed: the box bound's betting order (batches.calibration_order_seed)."""
    alpha = 1.0 - settings.ConfidenceLevel
    each = kind.choose_threshold(calibration, settings, order_seed=order_seed)
    if settings.Promise == promise.EACH_ITERATION:
        return IterationThreshold(_threshold(each, settings.Promise), each.as_json(), ledger)
    pool = grid_tally(pool_confidences())
    accepted_at = promise.pool_counter(pool)
    level = promise.iteration_alpha(settings.Promise, alpha, ledger.tests)
    required = promise.requirement(settings.Promise, kind.target(settings), ledger,
                                   human_labeled=human_labeled, pool_accepted=accepted_at)
    choice = kind.choose_threshold(calibration, settings, alpha=level, required=required, order_seed=order_seed)
    accepted = accepted_at(choice.threshold) if choice.threshold is not None else 0
    tested_at = required(choice.threshold) if choice.threshold is not None else 1.0
    each_accepted = accepted_at(each.threshold) if each.threshold is not None else 0
    threshold = _threshold(choice, settings.Promise).model_copy(update={
        "pool_accepted": accepted, "error_bound": promise.error_bound(accepted, tested_at),
        "each_iteration_value": each.threshold, "each_iteration_pool_accepted": each_accepted,
    })
    details = {**choice.as_json(), "promise": settings.Promise, "ledgerBefore": ledger.model_dump(by_alias=True),
               "eachIteration": {"threshold": each.threshold, "poolAccepted": each_accepted}}
    return IterationThreshold(threshold, details,
                              promise.spend(ledger, pool_accepted=accepted, required=tested_at,
                                            tested=bool(choice.steps)))


def _threshold(decision: ThresholdDecision, name: str) -> Threshold:
    return Threshold(
        value=decision.threshold, measure=decision.measure, calibrationSize=decision.calibration_size,
        calibrationAccepted=decision.accepted, estimate=decision.estimate, lowerBound=decision.lower_bound,
        promise=name, alpha=decision.alpha,
    )
