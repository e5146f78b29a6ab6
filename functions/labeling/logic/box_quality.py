"""Bounding boxes: the confidence above which a model's boxes are accepted.

Ground Truth's quality target for bounding boxes is a mean IoU of 0.6; here it is a mean
*image quality* (box_metric.py) of TARGET_QUALITY.

The image-level confidence comes from the model container; this module only receives
it, and the promise holds whatever it is (the threshold is tested on quality measured
against human boxes). A confidence that ranks images by quality buys coverage. The
object-detection container sends the image's expected quality under its own estimates
(containers/object-detection/object_detector/confidence.py), which ranked held-out scenes
better than the lowest kept box score did (Spearman 0.42 against 0.22 after 1,000 scenes).

The threshold (same promise as threshold.py and the same search, fixed_sequence.py, with a
mean in place of a proportion): for a grid threshold t, the calibration images with confidence >= t are a
random sample of the pool images the model would label at t, and their qualities are
independent draws in [0, 1]. The hedged betting bound of their mean quality (bounded_mean.py)
must reach the target; thresholds are tested from high to low on threshold.GRID and the search
stops at the first failure (fixed-sequence testing), so the chance that the chosen threshold's
true mean quality is below target stays at most 1 - confidence level.

The betting order: the hedged bettor's wealth depends on the order of the draws, and the images
above t sorted by confidence (or as stored, by item id) are not in a random order: confidence and
quality go together. betting_order puts the calibration images in a canonical order (sorted, so
the input's own order cannot matter) and then gives each a place from a permutation drawn from
random.Random(order_seed), independent of the qualities; every test bets on its images in that
order. ComputeThreshold's order_seed comes from the job's Seed and the iteration
(batches.calibration_order_seed): the same seeded randomness that draws the calibration sample
itself, so the promise rests on nothing more than it did. The bettor that needs no order
(bounded_mean's mixture) certified less: on the simulated detector of tests/unit/test_box_quality.py
at the defaults (100 images, confidence 0.95), 91 of 600 samples against 148 for the hedged one
(1 and 2 of them too low; a 5% rate allows 30).

Where the search starts: a grid point is tested only once it holds as many images as
would pass if every one of them scored start_score(target), a quarter of the way from
the target to 1 (0.7 at the default target: 26 images at confidence 0.95). Starting
where images could just pass if all were perfect (8 images) spends the one failure the
search is allowed on a handful of images, none of them perfect: in the simulation of
tests/unit/test_box_quality.py (400 samples of 100-200 images, confidence 0.9) that start
certified a threshold in none of them, this one in about half. The rule depends on the
target, the confidence level and the confidences only, never on the qualities, so the
guarantee holds.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterable

from labeling.logic.bounded_mean import hedged_log_wealth, hedged_lower_bound, hedged_min_count
from labeling.logic.fixed_sequence import grid_curve_counts, lowest_passing
from labeling.logic.threshold_decision import CurvePoint, SearchStep, ThresholdDecision

TARGET_QUALITY = 0.6  # Ground Truth's quality target for bounding boxes (mean IoU)
MEASURE = "mean IoU"  # what the promise measures (label_kinds.py), threshold.json's "measure"


def start_score(target_quality: float) -> float:
    """The score whose count starts the search (module doc): a quarter of the way from the target to 1."""
    return target_quality + (1.0 - target_quality) / 4


DEFAULT_ORDER_SEED = "autolabel:calibration-order"  # studies and tests; a job's: batches.calibration_order_seed

# (confidence, quality, place in the betting order), most confident first
Scored = list[tuple[float, float, int]]


def betting_order(calibration: Iterable[tuple[float, float]], order_seed: str = DEFAULT_ORDER_SEED) -> Scored:
    """Each calibration image with its place in a random betting order (module doc), most confident first."""
    canonical = sorted((float(confidence), float(quality)) for confidence, quality in calibration)
    places = list(range(len(canonical)))
    random.Random(order_seed).shuffle(places)
    placed = [(confidence, quality, place) for (confidence, quality), place in zip(canonical, places, strict=True)]
    return sorted(placed, key=lambda image: -image[0])


def in_betting_order(scored: Scored, count: int) -> list[float]:
    """The qualities of the `count` most confident images, in their betting order."""
    return [quality for _, quality, _ in sorted(scored[:count], key=lambda image: image[2])]


def start_count(target_quality: float, alpha: float) -> int:
    """The fewest images at a grid point for the search to test it (module doc); out_of_reach.py asks the same."""
    return hedged_min_count(target_quality, alpha, start_score(target_quality))


def quality_curve(calibration: Iterable[tuple[float, float]], confidence_level: float,
                  order_seed: str = DEFAULT_ORDER_SEED) -> list[CurvePoint]:
    """One point per grid threshold that accepts at least one more calibration image than the last."""
    return _curve(betting_order(calibration, order_seed), confidence_level)


def _curve(scored: Scored, confidence_level: float) -> list[CurvePoint]:
    alpha = 1.0 - confidence_level
    curve: list[CurvePoint] = []
    for threshold, accepted in grid_curve_counts([confidence for confidence, _, _ in scored]):
        qualities = in_betting_order(scored, accepted)
        curve.append(CurvePoint(threshold, accepted, accepted / len(scored), sum(qualities) / accepted,
                                hedged_lower_bound(qualities, alpha)))
    return curve


def choose_box_threshold(
    calibration: Iterable[tuple[float, float]], target_quality: float = TARGET_QUALITY, *, confidence_level: float,
    alpha: float | None = None, required: Callable[[float], float] | None = None,
    order_seed: str = DEFAULT_ORDER_SEED,
) -> ThresholdDecision:
    """Lowest grid threshold whose calibration images (confidence, quality) pass the bound (module doc).

    alpha and required(threshold): as in threshold.choose_threshold, for a job-level promise
    (logic/promise.py); without them every threshold must show target_quality at 1 - confidence_level.
    order_seed: the betting order's stream (module doc).
    """
    scored = betting_order(calibration, order_seed)
    alpha = 1.0 - confidence_level if alpha is None else alpha
    needs: Callable[[float], float] = required or (lambda threshold: target_quality)
    steps: list[SearchStep] = []

    def passes(threshold: float, accepted: int) -> bool:
        m = needs(threshold)
        qualities = in_betting_order(scored, accepted)
        estimate = sum(qualities) / accepted
        if m <= 0.0 or m >= 1.0:  # a job-level requirement nothing can fail, or nothing can meet
            steps.append(SearchStep(threshold, accepted, estimate, m, wealth=0.0))
            return m <= 0.0
        log_wealth = hedged_log_wealth(qualities, m, alpha)
        steps.append(SearchStep(threshold, accepted, estimate, m, wealth=math.exp(min(log_wealth, 700.0))))
        return log_wealth >= math.log(1.0 / alpha)

    def needed_for(m: float) -> float:
        if m <= 0.0:
            return 1
        if m >= 1.0:
            return math.inf
        return start_count(m, alpha)

    # Without a job-level promise every threshold needs the same count: one call, not one per grid point.
    needed: float | Callable[[float], float] = (
        needed_for(target_quality) if required is None else lambda threshold: needed_for(needs(threshold)))
    chosen, accepted = lowest_passing([confidence for confidence, _, _ in scored], needed, passes)
    estimate: float | None = None
    lower_bound = 0.0
    if chosen is not None:
        qualities = in_betting_order(scored, accepted)
        estimate = sum(qualities) / accepted
        # The test passed, so the exact bound is at least what it had to show; the bisection may land a
        # hair under it.
        lower_bound = max(hedged_lower_bound(qualities, alpha), min(max(needs(chosen), 0.0), 1.0))
    return ThresholdDecision(chosen, MEASURE, target_quality, confidence_level, alpha, len(scored), accepted,
                             estimate, lower_bound, steps,
                             draw_curve=lambda: _curve(scored, confidence_level))
