"""Fixed-sequence testing on the threshold grid: the search that both promises share.

Classification (threshold.py, a binomial bound on accuracy) and bounding boxes
(box_quality.py, a betting bound on mean quality) ask the same question of a different
bound: what is the lowest confidence threshold whose calibration items still pass?
Testing every grid point and keeping the lowest that passes would look at ~200 tests
and keep the luckiest. Testing them in a fixed order, from high to low, and stopping at
the first failure keeps the chance of a wrong pick at the level of a single test
(fixed-sequence testing), because a point is only ever reached if every point above it
passed. Points holding fewer items than could ever pass are skipped, not failed: that
rule looks at counts only, never at the labels, so it keeps the guarantee and saves the
search's one failure for a test that could succeed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

GRID = tuple(round(1.0 - step * 0.005, 3) for step in range(1, 200))  # 0.995 .. 0.005


def grid_counts(confidences: Sequence[float]) -> Iterator[tuple[float, int]]:
    """(threshold, number of confidences at or above it) per grid point, high to low.

    `confidences` must be sorted from high to low.
    """
    count = 0
    for threshold in GRID:
        while count < len(confidences) and confidences[count] >= threshold:
            count += 1
        yield threshold, count


def grid_curve_counts(confidences: Sequence[float]) -> Iterator[tuple[float, int]]:
    """Like grid_counts, one point per distinct non-zero count (the curve a report plots)."""
    last = 0
    for threshold, count in grid_counts(confidences):
        if count and count != last:
            last = count
            yield threshold, count


def lowest_passing(
    confidences: Sequence[float], needed: int, passes: Callable[[float, int], bool]
) -> tuple[float | None, int]:
    """The lowest grid threshold reached by fixed-sequence testing, and how many items it accepts.

    `passes(threshold, count)` tests the `count` most confident items (count never
    decreases from one call to the next, so a test may keep a running total). Points with
    fewer than `needed` items are skipped. (None, 0) when no point passes.
    """
    chosen: tuple[float | None, int] = (None, 0)
    for threshold, count in grid_counts(confidences):
        if count < needed:
            continue
        if not passes(threshold, count):
            break
        chosen = (threshold, count)
    return chosen
