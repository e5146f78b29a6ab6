"""The oracle cut: the most a single confidence threshold could label at the target, knowing the answers.

For one iteration's model and its pool (the items still unlabeled when the
threshold is applied), the oracle looks at every threshold t and the pool items
with confidence >= t, and keeps the largest such set whose true accuracy is at
least the target. No rule that sees only a calibration sample can do better
with the same model and one threshold, so the product's share divided by the
oracle's is how close it comes to the limit. Items tied in confidence fall on
the same side of every threshold, so the oracle can only take a tie whole.
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import groupby


def oracle_cut(pool: Iterable[tuple[float, bool]], target: float) -> int:
    """How many pool items (confidence, correct) the best single threshold labels at >= `target` accuracy.

    0 when no threshold reaches the target (including an empty pool).
    """
    labeled = correct = best = 0
    ranked = sorted(pool, key=lambda item: item[0], reverse=True)
    for _, tied in groupby(ranked, key=lambda item: item[0]):
        for _, right in tied:
            labeled += 1
            correct += bool(right)
        # The slack keeps 95 of 100 at a 0.95 target from failing on float rounding.
        if correct >= target * labeled - 1e-9:
            best = labeled
    return best


def oracle_box_cut(pool: Iterable[tuple[float, float]], target: float) -> int:
    """The box analogue: how many pool images (confidence, true image quality in [0, 1]) the best single
    threshold labels at a mean quality >= `target` (labeling.logic.box_quality's measure and target).

    0 when no threshold reaches the target (including an empty pool). Ties are taken whole, as above.
    """
    labeled = best = 0
    quality_sum = 0.0
    ranked = sorted(pool, key=lambda item: item[0], reverse=True)
    for _, tied in groupby(ranked, key=lambda item: item[0]):
        for _, quality in tied:
            labeled += 1
            quality_sum += quality
        if quality_sum >= target * labeled - 1e-9:  # the same float slack as oracle_cut's
            best = labeled
    return best


def ratio(product: int, oracle: int) -> float | None:
    """The product's labels over the oracle's; None (undefined) when the oracle labels nothing."""
    return product / oracle if oracle else None
