"""Turning workers' answers for one item into one label."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence


def majority_vote(answers: Sequence[int]) -> tuple[int, float]:
    """The most common answer and the share of workers who gave it.

    Ties go to the lowest class index, so the result does not depend on the
    order answers arrived in.
    """
    if not answers:
        raise ValueError("no answers to consolidate")
    counts = Counter(answers)
    label = min(counts, key=lambda c: (-counts[c], c))
    return label, counts[label] / len(answers)
