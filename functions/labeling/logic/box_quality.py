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
independent draws in [0, 1]. The betting lower confidence bound of their mean quality
(bounded_mean.py) must reach the target; thresholds are tested from high to low on
threshold.GRID and the search stops at the first failure (fixed-sequence testing), so
the chance that the chosen threshold's true mean quality is below target stays at most
1 - confidence level.

Where the search starts: a grid point is tested only once it holds as many images as
would pass if every one of them scored start_score(target), a quarter of the way from
the target to 1 (0.7 at the default target: 29 images at confidence 0.95). Starting
where images could just pass if all were perfect (9 images) spends the one failure the
search is allowed on a handful of images, none of them perfect: in the simulation of
tests/unit/test_box_quality.py (400 samples of 100-200 images, confidence 0.9) that start
certified a threshold in none of them, this one in about half. The rule depends on the
target, the confidence level and the confidences only, never on the qualities, so the
guarantee holds.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence

from labeling.logic.bounded_mean import Wealth, mean_lower_bound, min_count_to_pass
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


def _ordered(calibration: Iterable[tuple[float, float]]) -> list[tuple[float, float]]:
    return sorted(calibration, key=lambda pair: -pair[0])


def quality_curve(calibration: Iterable[tuple[float, float]], confidence_level: float) -> list[CurvePoint]:
    """One point per grid threshold that accepts at least one more calibration image than the last."""
    scored = _ordered(calibration)
    alpha = 1.0 - confidence_level
    curve: list[CurvePoint] = []
    for threshold, accepted in grid_curve_counts([confidence for confidence, _ in scored]):
        qualities = [quality for _, quality in scored[:accepted]]
        curve.append(CurvePoint(threshold, accepted, accepted / len(scored), sum(qualities) / accepted,
                                mean_lower_bound(qualities, alpha)))
    return curve


def choose_box_threshold(
    calibration: Iterable[tuple[float, float]], target_quality: float = TARGET_QUALITY, *, confidence_level: float,
    alpha: float | None = None, required: Callable[[float], float] | None = None,
) -> ThresholdDecision:
    """Lowest grid threshold whose calibration images (confidence, quality) pass the bound (module doc).

    alpha and required(threshold): as in threshold.choose_threshold, for a job-level promise
    (logic/promise.py); without them every threshold must show target_quality at 1 - confidence_level.
    """
    scored = _ordered(calibration)
    alpha = 1.0 - confidence_level if alpha is None else alpha
    needs: Callable[[float], float] = required or (lambda threshold: target_quality)
    wealth = Wealth(target_quality)
    steps: list[SearchStep] = []

    def passes(threshold: float, accepted: int) -> bool:
        m = needs(threshold)
        if required is not None:  # each threshold tests its own mean: the running wealth is for one mean only
            if m <= 0.0 or m >= 1.0:
                steps.append(SearchStep(threshold, accepted, _mean(scored, accepted), m, wealth=0.0))
                return m <= 0.0
            wealth_here = Wealth(m)
            for _, quality in scored[:accepted]:
                wealth_here.add(quality)
        else:
            while wealth.count < accepted:
                wealth.add(scored[wealth.count][1])
            wealth_here = wealth
        steps.append(SearchStep(threshold, accepted, wealth_here.total / accepted, m,
                                wealth=math.exp(min(wealth_here.log_wealth, 700.0))))
        return wealth_here.exceeds(alpha)

    def needed_for(m: float) -> float:
        if m <= 0.0:
            return 1
        if m >= 1.0:
            return math.inf
        return min_count_to_pass(m, alpha, start_score(m))

    # Without a job-level promise every threshold needs the same count: one call, not one per grid point.
    needed: float | Callable[[float], float] = (
        needed_for(target_quality) if required is None else lambda threshold: needed_for(needs(threshold)))
    chosen, accepted = lowest_passing([confidence for confidence, _ in scored], needed, passes)
    estimate: float | None = None
    lower_bound = 0.0
    if chosen is not None:
        qualities = [quality for _, quality in scored[:accepted]]
        estimate = sum(qualities) / accepted
        # The test passed, so the exact bound is at least what it had to show; the bisection may land a
        # hair under it.
        lower_bound = max(mean_lower_bound(qualities, alpha), min(max(needs(chosen), 0.0), 1.0))
    return ThresholdDecision(chosen, MEASURE, target_quality, confidence_level, alpha, len(scored), accepted,
                             estimate, lower_bound, steps, draw_curve=lambda: quality_curve(scored, confidence_level))


def _mean(scored: list[tuple[float, float]], count: int) -> float:
    return sum(quality for _, quality in scored[:count]) / count
