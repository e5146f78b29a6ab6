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

The grid: half-percent steps from 0.995 down to 0.005, and above 0.995 finer points in
1-2-5 steps of 1 - t, up to 0.999999 (TOP). A network fine-tuned on a few hundred items
is sure of most of them: the first image model of a 20,000-image MNIST job put 83 of its
100 calibration digits at confidence >= 0.995, one of them wrong (at 0.99685, the 80th
most confident); at 0.995 the search could only test all 83 together (82 of 83 right:
bound 0.944 < 0.95) and labeled nothing. The finer points let it test the 66 above 0.9995
and go down to 0.997 (79 of 79 right: bound 0.963), where the wrong digit stops it. The
points are fixed in advance like the others, so the guarantee is unchanged.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator, Sequence

TOP = (0.999999, 0.999998, 0.999995, 0.99999, 0.99998, 0.99995, 0.9999, 0.9998, 0.9995, 0.999, 0.998, 0.997,
       0.996)  # 1 - t = 1e-6, 2e-6, 5e-6, ..., 1e-3, 2e-3, 3e-3, 4e-3
GRID = TOP + tuple(round(1.0 - step * 0.005, 3) for step in range(1, 200))  # then 0.995 .. 0.005
_ASCENDING = tuple(reversed(GRID))


def grid_counts(confidences: Sequence[float]) -> Iterator[tuple[float, int]]:
    """(threshold, number of confidences at or above it) per grid point, high to low.

    `confidences` must be sorted from high to low.
    """
    count = 0
    for threshold in GRID:
        while count < len(confidences) and confidences[count] >= threshold:
            count += 1
        yield threshold, count


def grid_tally(confidences: Iterable[float]) -> dict[float, int]:
    """How many confidences lie at or above each grid threshold, in one streaming pass (any order).

    The comparison is the same `confidence >= threshold` that ApplyThreshold makes, so the count at
    the chosen threshold is exactly what it will label.
    """
    below_or_at = [0] * (len(_ASCENDING) + 1)  # below_or_at[i]: confidences with exactly i grid points <= them
    for confidence in confidences:
        below_or_at[bisect_right(_ASCENDING, confidence)] += 1
    tally, running = {}, 0
    for i in range(len(_ASCENDING), 0, -1):  # from the top threshold down
        running += below_or_at[i]
        tally[_ASCENDING[i - 1]] = running
    return tally


def grid_curve_counts(confidences: Sequence[float]) -> Iterator[tuple[float, int]]:
    """Like grid_counts, one point per distinct non-zero count (the curve a report plots)."""
    last = 0
    for threshold, count in grid_counts(confidences):
        if count and count != last:
            last = count
            yield threshold, count


def lowest_passing(
    confidences: Sequence[float], needed: float | Callable[[float], float], passes: Callable[[float, int], bool]
) -> tuple[float | None, int]:
    """The lowest grid threshold reached by fixed-sequence testing, and how many items it accepts.

    `passes(threshold, count)` tests the `count` most confident items (count never
    decreases from one call to the next, so a test may keep a running total). Points with
    fewer than `needed` items (a count, or a count per threshold: a job-level promise asks
    more or less of each threshold, logic/promise.py) are skipped. (None, 0) when no point passes.
    """
    chosen: tuple[float | None, int] = (None, 0)
    for threshold, count in grid_counts(confidences):
        if count < (needed(threshold) if callable(needed) else needed):
            continue
        if not passes(threshold, count):
            break
        chosen = (threshold, count)
    return chosen
