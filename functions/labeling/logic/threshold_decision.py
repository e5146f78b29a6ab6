"""What a threshold search decided, in one shape for both kinds of label, and threshold.json's content.

The classification search (threshold.py, a Clopper-Pearson bound on accuracy) and the box search
(box_quality.py, a betting bound on mean quality) are the same fixed-sequence search
(fixed_sequence.py) over a different bound. They return the same types, so ComputeThreshold,
the job-level promise (iteration_threshold.py) and the report read one decision whatever the
task, and nothing renames fields between two parallel sets of types on the way.

threshold.json (as_json) holds every number once. Its key names are the ones the readers used
before these types existed (threshold, accepted, calibration_size, estimate, lower_bound,
steps[].accepted, curve[].coverage / value / lower_bound / accepted): a job started before the
change and resumed after it keeps its old threshold.json files, and WriteOutput's plot
(report_plot.py) must still read them. The old files also hold the copies this shape dropped
(estimated_accuracy / estimated_quality beside estimate, target_accuracy / target_quality now
`target`, correct / quality_sum, which are estimate * accepted, and a curve point's accuracy /
mean_quality beside its value); no reader may rely on those.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from functools import cached_property
from typing import Any


@dataclass(frozen=True)
class SearchStep:
    """One grid threshold the search tested, and the evidence its test weighed."""

    threshold: float
    accepted: int  # calibration items at or above the threshold
    estimate: float  # the measure on them: accuracy, or mean quality
    required: float  # what the step had to show: the target, or a job-level promise's (logic/promise.py)
    # The test's evidence, one per kind (the other is None): the Clopper-Pearson bound, which passes at
    # `required` or more; the bettors' wealth against "mean below required" (bounded_mean.py), which passes
    # at 1 / alpha or more, capped so that it stays a JSON number.
    lower_bound: float | None = None
    wealth: float | None = None

    def as_json(self) -> dict[str, Any]:
        return {key: value for key, value in asdict(self).items() if value is not None}


@dataclass(frozen=True)
class CurvePoint:
    """The measure against coverage on the calibration set, for the report's plot (not a test)."""

    threshold: float
    accepted: int
    coverage: float  # share of the calibration set at or above the threshold
    value: float  # the measure on those items
    lower_bound: float  # at the job's confidence level, this point alone


@dataclass(frozen=True)
class ThresholdDecision:
    threshold: float | None  # None: no threshold passed, the model labels nothing
    measure: str  # "accuracy" or "mean IoU" (label_kinds.py)
    target: float
    confidence_level: float
    alpha: float  # the level the search was run at
    calibration_size: int
    accepted: int  # calibration items at or above the threshold (0 without one)
    estimate: float | None  # the measure on them
    lower_bound: float  # theirs at level 1 - alpha (0.0 without a threshold)
    steps: list[SearchStep]
    # The curve costs about a hundred times the search (a bound at every grid point) and only
    # threshold.json needs it, not the searches that out_of_reach.py repeats: drawn when first read.
    draw_curve: Callable[[], list[CurvePoint]] = field(repr=False, compare=False)

    @cached_property
    def curve(self) -> list[CurvePoint]:
        return self.draw_curve()

    def as_json(self) -> dict[str, Any]:
        """threshold.json (module doc)."""
        return {
            "threshold": self.threshold, "measure": self.measure, "target": self.target,
            "confidence_level": self.confidence_level, "alpha": self.alpha, "calibration_size": self.calibration_size,
            "accepted": self.accepted, "estimate": self.estimate, "lower_bound": self.lower_bound,
            "steps": [step.as_json() for step in self.steps], "curve": [asdict(point) for point in self.curve],
        }
