"""One label per item from the workers' answers (logic/consolidation.py)."""

import itertools

import pytest

from labeling.logic.consolidation import majority_vote


def test_single_worker_answer_is_the_label_with_full_agreement():
    assert majority_vote([3]) == (3, 1.0)


def test_most_common_answer_wins_with_its_share_of_workers():
    assert majority_vote([1, 0, 1]) == (1, pytest.approx(2 / 3))
    assert majority_vote([2, 2, 2, 0, 1]) == (2, pytest.approx(0.6))


def test_unanimous_answers_agree_fully():
    assert majority_vote([4, 4, 4, 4]) == (4, 1.0)


def test_tie_goes_to_the_lowest_class_index():
    assert majority_vote([2, 1]) == (1, 0.5)
    assert majority_vote([3, 0, 3, 0, 5]) == (0, pytest.approx(0.4))


def test_result_does_not_depend_on_the_order_answers_arrived_in():
    answers = [2, 5, 5, 2, 1]
    results = {majority_vote(list(order)) for order in itertools.permutations(answers)}
    assert results == {(2, 0.4)}


def test_no_answers_raises():
    with pytest.raises(ValueError, match="no answers to consolidate"):
        majority_vote([])
