"""When the target is out of this model's reach: the iterations that would train models to label nothing.

"Nothing passed the threshold" is not enough to say so: a good model fails too when its
calibration sample is small, since 100 items cost a margin (an iteration can only certify a
region where the model is ~99% right). The question here is the other side of the bound: does
the accuracy-coverage curve say that no threshold the search could certify reaches the target?

The rule, per iteration, on the same calibration sample and grid as the threshold (threshold.py,
box_quality.py):
  * The grid points tested are those the threshold search tests: holding at least as many
    calibration items as could ever pass (min_trials_to_pass: 59 at the defaults; for boxes,
    box_quality's start count). A region smaller than that cannot be certified with this
    calibration sample whatever its accuracy, so its accuracy does not bear on whether
    training more models will buy machine labels.
  * At each tested point t, the exact (Clopper-Pearson) one-sided UPPER confidence bound of the
    accuracy of the calibration items at or above t, at the job's confidence level (boxes: the
    betting bound of bounded_mean.py on 1 - quality, which is an upper bound of the mean quality
    by symmetry x -> 1 - x).
  * The target is out of reach when every tested point's upper bound is below the target.
    Nothing passes the threshold then either (each lower bound is below its upper bound).

Its false-alarm guarantee. Say the target IS reachable: some grid threshold t* has pool
accuracy at least the target. The rule can only fire if t*'s upper bound is below the
target, which has probability at most alpha = 1 - ConfidenceLevel (the bound is exact for a
binomial, whatever the count), or if t* was not tested because fewer than the needed items of
the calibration sample fell at or above it, in which case no search on this sample could have
certified it either. No correction for the many points is needed: the rule must reject every
point, t* included, and one test at t* already holds at alpha (an intersection of tests).
tests/unit/test_out_of_reach.py checks it by simulation. N iterations in a row
(OutOfReachIterations) must say so before the job acts; each iteration's sample is fresh.

What the job does then (job.json's StopTrainingWhenOutOfReach): no further model is trained;
humans label the rest in plain batches, as a human-only job does (SelectAmbiguous,
ConsolidateAnnotations). Either way the report says when the target looked out of reach, the
highest accuracy the curve leaves possible, and the highest lower target that the same search
would have certified on the same items, with the share of the pool it would have labeled.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from labeling.logic.bounded_mean import Wealth, mean_lower_bound
from labeling.logic.box_quality import DEFAULT_ORDER_SEED, choose_box_threshold, start_count
from labeling.logic.fixed_sequence import grid_curve_counts
from labeling.logic.threshold import (
    choose_threshold,
    clopper_pearson_lower,
    min_trials_to_pass,
    regularized_incomplete_beta,
)
from labeling.models.job import JobConfig
from labeling.models.state import OutOfReach

ACCURACY = "accuracy"
# The lower targets the report tries, a hundredth apart, from just below the job's target down to this
# floor: a promise weaker than a coin flip between two classes tells a user nothing.
LOWEST_TARGET = {ACCURACY: 0.5, "mean IoU": 0.1}
TARGET_STEP = 0.01


@dataclass(frozen=True)
class Assessment:
    """One iteration's answer: out of reach or not, and on how many grid points that rests."""

    out_of_reach: bool
    tested: int  # grid points holding enough calibration items to be certified at all
    calibration_size: int


def _ordered(calibration: Sequence[tuple[float, Any]]) -> list[tuple[float, float]]:
    return [(float(confidence), float(score)) for confidence, score in sorted(calibration, key=lambda p: -p[0])]


def _needed(measure: str, target: float, alpha: float) -> int:
    """The fewest calibration items at a grid point for the threshold search to test it."""
    if measure == ACCURACY:
        return min_trials_to_pass(target, alpha)
    return start_count(target, alpha)


def _tested_counts(scored: list[tuple[float, float]], needed: int) -> list[int]:
    return [count for _, count in grid_curve_counts([confidence for confidence, _ in scored]) if count >= needed]


def _binomial_cdf(successes: int, trials: int, p: float) -> float:
    """P(Binomial(trials, p) <= successes)."""
    if successes >= trials:
        return 1.0
    return regularized_incomplete_beta(trials - successes, successes + 1, 1.0 - p)


def assess(calibration: Sequence[tuple[float, Any]], measure: str, target: float,
           confidence_level: float) -> Assessment:
    """Whether every testable grid point's upper confidence bound is below `target` (module doc).

    calibration: (confidence, score) per calibration item, the score right/wrong (accuracy) or a box
    quality in [0, 1] (mean IoU), as ComputeThreshold scores them. No testable point (a calibration
    sample smaller than any pass needs, which ValidateJob refuses) says nothing: not out of reach.
    """
    alpha = 1.0 - confidence_level
    scored = _ordered(calibration)
    counts = _tested_counts(scored, _needed(measure, target, alpha))
    if not counts:
        return Assessment(False, 0, len(scored))
    if measure == ACCURACY:
        correct = [0]
        for _, right in scored:
            correct.append(correct[-1] + int(right))
        # The upper bound at level 1 - alpha is below the target exactly when seeing this few correct
        # items, or fewer, has probability below alpha at an accuracy of `target`.
        below = all(_binomial_cdf(correct[n], n, target) < alpha for n in counts)
    else:
        # The bettors against "mean of 1 - quality <= 1 - target" win: the mean quality is below the target.
        wealth = Wealth(1.0 - target)
        below = True
        for n in counts:
            while wealth.count < n:
                wealth.add(1.0 - scored[wealth.count][1])
            if not wealth.exceeds(alpha):
                below = False
                break
    return Assessment(below, len(counts), len(scored))


def highest_upper_bound(calibration: Sequence[tuple[float, Any]], measure: str, target: float,
                        confidence_level: float) -> float | None:
    """The most the curve allows at any testable point: the highest upper confidence bound among them."""
    alpha = 1.0 - confidence_level
    scored = _ordered(calibration)
    bounds = []
    for n in _tested_counts(scored, _needed(measure, target, alpha)):
        scores = [score for _, score in scored[:n]]
        if measure == ACCURACY:
            right = int(sum(scores))
            bounds.append(1.0 - clopper_pearson_lower(n - right, n, alpha))
        else:
            bounds.append(1.0 - mean_lower_bound([1.0 - score for score in scores], alpha))
    return max(bounds, default=None)


def reachable_target(calibration: Sequence[tuple[float, Any]], measure: str, target: float,
                     confidence_level: float, order_seed: str = DEFAULT_ORDER_SEED) -> tuple[float | None, float]:
    """The highest lower target (a hundredth apart) that the job's own threshold search certifies on these
    calibration items (boxes: in the iteration's betting order), and the share of them it accepts (an
    estimate of the share of the pool it would label); (None, 0.0) when none down to LOWEST_TARGET does."""
    scored = _ordered(calibration)
    steps = round((target - LOWEST_TARGET[measure]) / TARGET_STEP)
    for k in range(1, steps + 1):
        lower = round(target - k * TARGET_STEP, 2)
        if measure == ACCURACY:
            accepted = choose_threshold([(c, bool(s)) for c, s in scored], lower, confidence_level).accepted
        else:
            accepted = choose_box_threshold(scored, lower, confidence_level=confidence_level,
                                            order_seed=order_seed).accepted
        if accepted:
            return lower, accepted / len(scored)
    return None, 0.0


def streak_after(streak: int, assessment: Assessment) -> int:
    """Out-of-reach iterations in a row: one more, or back to 0 on an iteration that is not."""
    return streak + 1 if assessment.out_of_reach else 0


def after_iteration(calibration: Sequence[tuple[float, Any]], streak: int, *, measure: str, target: float,
                    settings: JobConfig, order_seed: str = DEFAULT_ORDER_SEED) -> tuple[int, dict[str, Any] | None]:
    """ComputeThreshold's call: the new streak, and, when it reaches OutOfReachIterations, what the job
    declares (models/state.py OutOfReach's fields, by alias; the caller adds the iteration).

    The declaration's figures are computed only then (once a job): they cost more than the rule.
    """
    assessment = assess(calibration, measure, target, settings.ConfidenceLevel)
    streak = streak_after(streak, assessment)
    if streak < settings.OutOfReachIterations:
        return streak, None
    lower, share = reachable_target(calibration, measure, target, settings.ConfidenceLevel, order_seed)
    return streak, {
        "iterations": streak, "measure": measure, "target": target,
        "highestUpperBound": highest_upper_bound(calibration, measure, target, settings.ConfidenceLevel),
        "reachableTarget": lower, "reachableShare": share,
        "trainingStopped": settings.StopTrainingWhenOutOfReach,
    }


def training_stopped(declaration: OutOfReach | None) -> bool:
    """Whether the job stopped training: JobState.out_of_reach says so (None: not declared)."""
    return declaration is not None and declaration.training_stopped


def describe(declaration: dict[str, Any]) -> str:
    """The declaration in a sentence, for the run's output and the log."""
    measure, target = declaration["measure"], declaration["target"]
    level = (lambda x: f"{x:.0%}") if measure == ACCURACY else (lambda x: f"{x:.2f}")
    setting = "TargetAccuracy" if measure == ACCURACY else "TargetMeanIoU"
    upper = declaration.get("highestUpperBound")
    text = (f"the target {measure} {level(target)} looks out of reach for this model "
            f"({declaration['iterations']} iterations in a row"
            + (f"; at most {level(upper)} wherever it could label enough items to certify" if upper is not None else "")
            + ")")
    lower = declaration.get("reachableTarget")
    if lower is not None:
        text += (f"; a {setting} of {level(lower)} would have labeled about "
                 f"{declaration['reachableShare']:.0%} of the pool")
    return text + ("; training stopped: humans label the rest" if declaration["trainingStopped"]
                   else "; StopTrainingWhenOutOfReach is off: training goes on")


def report_section(declaration: dict[str, Any] | None, rows: list[dict[str, Any]], *, stop_setting: bool,
                   training_usd_per_hour: float, inference_usd_per_hour: float) -> dict[str, Any] | None:
    """report.json's outOfReach: the declaration (JobState.out_of_reach, by alias) and what came after it.

    rows: report.json's iterations. The models trained after the declaration are what the setting
    would have saved (none when it stopped training), with their SageMaker time, its cost at the
    task type's on-demand prices, and the machine labels they bought all the same.
    """
    if declaration is None:
        return None
    after = [row for row in rows if row["iteration"] > declaration["iteration"]]
    training = sum(row["trainingSeconds"] for row in after)
    transform = sum(row["transformSeconds"] for row in after)
    return {
        **declaration,
        "stopTrainingWhenOutOfReach": stop_setting,
        "modelsTrainedAfter": sum(1 for row in after if row["modelTrained"]),
        "machineLabeledAfter": sum(row["machineLabeled"] for row in after),
        "humanLabeledAfter": sum(row["humanLabeled"] for row in after),
        "trainingSecondsAfter": training,
        "transformSecondsAfter": transform,
        "sageMakerUSDAfter": round(training / 3600 * training_usd_per_hour + transform / 3600 * inference_usd_per_hour,
                                   4),
    }
