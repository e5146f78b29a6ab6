"""Bounding boxes: how good a model's boxes are, and the confidence above which they are accepted.

Ground Truth's quality target for bounding boxes is a mean IoU of 0.6; here it is a
mean *image quality* of TARGET_QUALITY, with these definitions:

  * IoU of two boxes ({"class_id", "left", "top", "width", "height"}, pixels): area of
    the intersection over area of the union; the class is not part of it.
  * Image quality of the model's boxes against the human boxes: boxes are matched one
    to one within a class, greedily by IoU (the pair of highest IoU first, then the
    highest among the boxes left, as PASCAL VOC and COCO match detections); quality =
    sum of the matched IoUs / max(#model boxes, #human boxes). A missed box and a
    spurious box both count as IoU 0, so an image scores 1 only when every box is
    drawn exactly and nothing else is. Greedy matching can sum to less than the best
    one-to-one assignment (Hungarian), never more, so a promise kept on greedy quality
    is kept on the best assignment's too.
  * An image without boxes on either side scores 1: the model saw correctly that there
    is nothing to draw, which is exactly the human's answer (and 0 / 0 needs a value;
    0 would send every empty image to humans).

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
from collections.abc import Callable, Iterable, Mapping, Sequence

from labeling.logic.bounded_mean import hedged_log_wealth, hedged_lower_bound, hedged_min_count
from labeling.logic.fixed_sequence import grid_curve_counts, lowest_passing
from labeling.logic.threshold_decision import CurvePoint, SearchStep, ThresholdDecision

TARGET_QUALITY = 0.6  # Ground Truth's quality target for bounding boxes (mean IoU)
MEASURE = "mean IoU"  # what the promise measures (label_kinds.py), threshold.json's "measure"

Box = Mapping[str, float]


def start_score(target_quality: float) -> float:
    """The score whose count starts the search (module doc): a quarter of the way from the target to 1."""
    return target_quality + (1.0 - target_quality) / 4


def iou(a: Box, b: Box) -> float:
    """Intersection over union of two boxes; 0 when they do not overlap or have no area."""
    width = min(a["left"] + a["width"], b["left"] + b["width"]) - max(a["left"], b["left"])
    height = min(a["top"] + a["height"], b["top"] + b["height"]) - max(a["top"], b["top"])
    if width <= 0 or height <= 0:
        return 0.0
    intersection = width * height
    union = a["width"] * a["height"] + b["width"] * b["height"] - intersection
    return intersection / union


def match_boxes(predicted: Sequence[Box], human: Sequence[Box]) -> list[tuple[int, int, float]]:
    """One-to-one (predicted index, human index, IoU) pairs of the same class, greedily by IoU."""
    pairs = sorted(
        ((overlap, p, h) for p, box in enumerate(predicted) for h, truth in enumerate(human)
         if box["class_id"] == truth["class_id"] and (overlap := iou(box, truth)) > 0.0),
        key=lambda pair: (-pair[0], pair[1], pair[2]),  # ties by position, so the result is reproducible
    )
    used_predicted: set[int] = set()
    used_human: set[int] = set()
    matches = []
    for overlap, p, h in pairs:
        if p not in used_predicted and h not in used_human:
            used_predicted.add(p)
            used_human.add(h)
            matches.append((p, h, overlap))
    return matches


def image_quality(predicted: Sequence[Box], human: Sequence[Box]) -> float:
    """Sum of matched IoUs / max(#predicted, #human); 1 when neither side has a box (module doc)."""
    if not predicted and not human:
        return 1.0
    matched = sum(overlap for _, _, overlap in match_boxes(predicted, human))
    return matched / max(len(predicted), len(human))


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
