"""The confidence threshold above which machine labels are accepted.

Method (documented in README.md, "The accuracy promise"):
  * The calibration set is a uniform random sample of the items the threshold
    will be applied to, labeled by humans and held out of the model's training.
  * For a threshold t, the items of the calibration set with confidence >= t
    are a random sample of the pool items the model would accept at t, so the
    number of correct ones is binomial. Its exact (Clopper-Pearson) one-sided
    lower confidence bound must reach the target accuracy.
  * Thresholds are tested in a fixed order, from high to low on a fixed grid,
    and the search stops at the first failure (fixed-sequence testing, in
    fixed_sequence.py, shared with the bounding-box search), so the chance that
    the chosen threshold's true accuracy is below target stays at most
    1 - confidence level although many thresholds are looked at.
  * Grid points with fewer calibration items than could ever pass the bound are
    not tested; that count depends on the confidences only, not on the labels.
No threshold passing means the model labels nothing this iteration.

A job-level promise (logic/promise.py) runs the same search at a smaller level (`alpha`) and asks
each threshold for its own accuracy (`required`), from the pool's counts; the default asks every
threshold for the target at 1 - confidence level.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

from labeling.logic.fixed_sequence import GRID, grid_curve_counts, lowest_passing
from labeling.logic.threshold_decision import CurvePoint, SearchStep, ThresholdDecision

MEASURE = "accuracy"  # what the promise measures (label_kinds.py), threshold.json's "measure"

__all__ = ["GRID", "MEASURE", "accuracy_curve", "choose_threshold", "clopper_pearson_lower", "min_trials_to_pass"]


def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta function (modified Lentz)."""
    tiny, eps = 1e-300, 3e-16
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 10_000):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < eps:
            break
    return h


def regularized_incomplete_beta(a: float, b: float, x: float) -> float:
    """I_x(a, b), the CDF of Beta(a, b) at x."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = (
        math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    )
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _betacf(a, b, x) / a
    return 1.0 - math.exp(log_front) * _betacf(b, a, 1.0 - x) / b


def clopper_pearson_lower(successes: int, trials: int, alpha: float) -> float:
    """Exact one-sided lower confidence bound, level 1 - alpha, for a binomial proportion."""
    if trials <= 0 or successes <= 0:
        return 0.0
    if successes == trials:
        return alpha ** (1.0 / trials)
    a, b = successes, trials - successes + 1
    low, high = 0.0, 1.0
    for _ in range(100):  # bisection: Beta(a, b).ppf(alpha)
        mid = (low + high) / 2
        if regularized_incomplete_beta(a, b, mid) < alpha:
            low = mid
        else:
            high = mid
    return low


def min_trials_to_pass(target: float, alpha: float) -> int:
    """Fewest items, all correct, whose lower bound can reach the target."""
    return math.ceil(math.log(alpha) / math.log(target))


def min_trials_for(required: float, alpha: float) -> float:
    """min_trials_to_pass for any requirement: one item when nothing is required, never at 1 or more."""
    if required <= 0.0:
        return 1
    if required >= 1.0:
        return math.inf
    return min_trials_to_pass(required, alpha)


def accuracy_curve(calibration: Iterable[tuple[float, bool]], confidence_level: float) -> list[CurvePoint]:
    """One point per grid threshold that accepts at least one more calibration item than the last."""
    scored = _ordered(calibration)
    correct = _running_correct(scored)
    alpha = 1.0 - confidence_level
    return [
        CurvePoint(threshold, accepted, accepted / len(scored), correct[accepted] / accepted,
                   clopper_pearson_lower(correct[accepted], accepted, alpha))
        for threshold, accepted in grid_curve_counts([confidence for confidence, _ in scored])
    ]


def _ordered(calibration: Iterable[tuple[float, bool]]) -> list[tuple[float, bool]]:
    return sorted(calibration, key=lambda pair: -pair[0])


def _running_correct(scored: list[tuple[float, bool]]) -> list[int]:
    """correct[n]: how many of the n most confident items are correct."""
    correct = [0]
    for _, right in scored:
        correct.append(correct[-1] + bool(right))
    return correct


def choose_threshold(
    calibration: Iterable[tuple[float, bool]], target_accuracy: float, confidence_level: float, *,
    alpha: float | None = None, required: Callable[[float], float] | None = None,
) -> ThresholdDecision:
    """Lowest grid threshold whose accepted calibration items pass the bound (see module doc).

    alpha: the test's level, 1 - confidence_level unless a job-level promise spends less;
    required(threshold): the accuracy the bound must reach there, target_accuracy unless given.
    """
    scored = _ordered(calibration)
    correct = _running_correct(scored)
    alpha = 1.0 - confidence_level if alpha is None else alpha
    needs: Callable[[float], float] = required or (lambda threshold: target_accuracy)
    steps: list[SearchStep] = []

    def passes(threshold: float, accepted: int) -> bool:
        bound = clopper_pearson_lower(correct[accepted], accepted, alpha)
        steps.append(SearchStep(threshold, accepted, correct[accepted] / accepted, needs(threshold), lower_bound=bound))
        return bound >= needs(threshold)

    chosen, accepted = lowest_passing(
        [confidence for confidence, _ in scored], lambda threshold: min_trials_for(needs(threshold), alpha), passes)
    return ThresholdDecision(
        chosen, MEASURE, target_accuracy, confidence_level, alpha, len(scored), accepted,
        estimate=correct[accepted] / accepted if chosen is not None else None,
        lower_bound=clopper_pearson_lower(correct[accepted], accepted, alpha) if chosen is not None else 0.0,
        steps=steps, draw_curve=lambda: accuracy_curve(scored, confidence_level),
    )
