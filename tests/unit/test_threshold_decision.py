"""One decision type for both threshold searches, and threshold.json with every number once
(logic/threshold_decision.py)."""

import json
import random

import pytest

from labeling.logic.iteration_threshold import decide
from labeling.logic.label_kinds import BoundingBoxes, Classification
from labeling.logic.threshold_decision import ThresholdDecision
from labeling.models.job import JobConfig
from labeling.models.state import PromiseLedger

# The copies threshold.json held before (module doc): none may come back.
DROPPED = {"estimated_accuracy", "estimated_quality", "target_accuracy", "target_quality", "quality_sum", "correct"}
TOP_KEYS = {"threshold", "measure", "target", "confidence_level", "alpha", "calibration_size", "accepted", "estimate",
            "lower_bound", "steps", "curve"}
CURVE_KEYS = {"threshold", "accepted", "coverage", "value", "lower_bound"}


def _classification():
    rng = random.Random(3)
    calibration = [(c, rng.random() < min(1.0, c + 0.08)) for c in (rng.uniform(0.3, 1.0) for _ in range(400))]
    settings = JobConfig(TaskType="image-classification", TargetAccuracy=0.9, ConfidenceLevel=0.95)
    return Classification(), calibration, settings


def _boxes():
    rng = random.Random(0)
    calibration = []
    for _ in range(150):
        confidence = rng.random()
        calibration.append((confidence, min(1.0, max(0.0, rng.gauss(0.4 + 0.6 * confidence, 0.1)))))
    return BoundingBoxes(), calibration, JobConfig(TaskType="object-detection")


KINDS = {"classification": _classification, "boxes": _boxes}


@pytest.fixture(params=KINDS, scope="module")
def kind_decision(request):
    kind, calibration, settings = KINDS[request.param]()
    return kind, kind.choose_threshold(calibration, settings), settings


def test_both_kinds_decide_in_the_one_type(kind_decision):
    kind, decision, settings = kind_decision
    assert isinstance(decision, ThresholdDecision)
    assert decision.threshold is not None, "the fixture's model should earn a threshold"
    assert decision.measure == kind.measure and decision.target == kind.target(settings)


def test_threshold_json_holds_each_number_once(kind_decision):
    _, decision, _ = kind_decision
    details = json.loads(json.dumps(decision.as_json()))  # as S3 stores it: plain JSON, every number finite
    assert set(details) == TOP_KEYS and not DROPPED & set(details)
    assert details["estimate"] == decision.estimate and details["lower_bound"] == decision.lower_bound
    assert details["target"] == decision.target and details["accepted"] == decision.accepted
    assert details["curve"] and all(set(point) == CURVE_KEYS for point in details["curve"])
    for step in details["steps"]:
        # One piece of evidence per step, the kind's own: a bound for classes, the bettors' wealth for boxes.
        evidence = {"lower_bound"} if decision.measure == "accuracy" else {"wealth"}
        assert set(step) == {"threshold", "accepted", "estimate", "required"} | evidence


def test_the_chosen_point_of_the_curve_is_the_decision(kind_decision):
    _, decision, _ = kind_decision
    (point,) = [point for point in decision.curve if point.accepted == decision.accepted]
    assert point.value == pytest.approx(decision.estimate)
    assert point.coverage == decision.accepted / decision.calibration_size


def test_a_step_records_the_measure_on_its_items(kind_decision):
    _, decision, _ = kind_decision
    by_count = {point.accepted: point.value for point in decision.curve}
    for step in decision.steps:
        assert step.estimate == pytest.approx(by_count[step.accepted])


def test_the_job_level_promise_writes_the_same_shape_and_its_own_level(kind_decision):
    kind, _, settings = kind_decision
    _, calibration, _ = KINDS["classification" if kind.measure == "accuracy" else "boxes"]()
    settings = settings.model_copy(update={"Promise": "WholeDataset"})
    result = decide(kind, calibration, settings, PromiseLedger(), human_labeled=len(calibration),
                    pool_confidences=lambda: (confidence for confidence, _ in calibration * 10), order_seed="test")
    details = result.details
    assert TOP_KEYS <= set(details) and not DROPPED & set(details)
    assert details["alpha"] == result.threshold.alpha < 1 - settings.ConfidenceLevel
    assert details["estimate"] == result.threshold.estimate and details["threshold"] == result.threshold.value
