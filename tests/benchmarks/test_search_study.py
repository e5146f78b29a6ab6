"""The search study's rules (benchmarks/search_study.py): the product's is ComputeThreshold's search, and
each variant tests the points it says it does, so its table compares what it claims to compare."""

from benchmarks import search_study
from labeling.logic.threshold import choose_threshold

ALPHA = 1 - search_study.CONFIDENCE


def _sample(size: int, wrong_at: set[int]) -> list[tuple[float, bool]]:
    """`size` calibration items with distinct confidences, high to low; the ones at `wrong_at` (0-based) wrong."""
    return [(round(0.999 - rank * 0.004, 4), rank not in wrong_at) for rank in range(size)]


def test_the_ladder_holds_the_counts_where_one_more_error_is_tolerated():
    assert search_study.ladder(100, ALPHA) == [59, 93]
    assert search_study.ladder(200, ALPHA)[:4] == [59, 93, 124, 153]
    assert search_study.ladder(100, ALPHA, midpoints=True) == [59, 76, 93]


def test_one_error_after_the_first_test_ends_the_product_search_but_not_the_ladder():
    sample = _sample(100, wrong_at={60})
    chosen = search_study.rules(sample)
    # The product passes 59 of 59 and fails at 60 of 61: it keeps the point with 59 items ...
    assert chosen["product"] == choose_threshold(sample, search_study.TARGET, search_study.CONFIDENCE).threshold
    assert sum(confidence >= chosen["product"] for confidence, _ in sample) < 61
    # ... the ladder tests next at 93 items, where one error passes.
    assert sum(confidence >= chosen["ladder"] for confidence, _ in sample) >= 93


def test_a_later_start_never_labels_a_cut_smaller_than_its_start():
    sample = _sample(100, wrong_at={65})  # the product stops at 65; the later start (70 items) fails at once
    chosen = search_study.rules(sample)
    assert chosen["product"] is not None
    assert chosen["later-start"] is None
