"""The oracle cut (benchmarks/oracle.py): the most one threshold could label at the target, knowing the answers.

The gap to the limit the benchmark reports is only as good as this count: it
must take the largest set above some threshold that is at least the target
accurate, move tied confidences together, and say 0 (and an undefined ratio)
when no threshold reaches the target.
"""

import json

from benchmarks import report
from benchmarks.loop import IterationResult, RunResult
from benchmarks.oracle import oracle_box_cut, oracle_cut, ratio
from labeling.models.job import JobConfig
from labeling.task_types import task_type

SETTINGS = JobConfig(TaskType="image-classification")


def test_the_largest_cut_at_target_by_hand():
    pool = [(0.9, True), (0.8, True), (0.7, False), (0.6, True), (0.5, True), (0.4, False), (0.3, False)]
    # From the top: 1/1, 2/2, 2/3, 3/4 = 0.75, 4/5 = 0.80, 4/6, 4/7; the largest at >= 0.75 is 5.
    assert oracle_cut(pool, 0.75) == 5
    assert oracle_cut(reversed(pool), 0.75) == 5  # the order given does not matter
    assert oracle_cut(pool, 0.8) == 5
    assert oracle_cut(pool, 0.81) == 2


def test_a_cut_exactly_at_target_counts_and_a_wrong_top_item_does_not_stop_the_search():
    # The most confident item is wrong, so the highest thresholds fail; 19 of 20 is exactly 95%.
    pool = [(0.99, False)] + [(0.9, True)] * 19 + [(0.5, False)]
    assert oracle_cut(pool, 0.95) == 20


def test_tied_confidences_are_taken_whole():
    # Taking the one right item at 0.8 alone would give 4 of 4, but a threshold cannot split a tie:
    # at 0.8 all three go, 4 of 6.
    for tie in ([(0.8, True), (0.8, False), (0.8, False)], [(0.8, False), (0.8, False), (0.8, True)]):
        assert oracle_cut([(0.9, True)] * 3 + tie, 0.75) == 3
    assert oracle_cut([(0.7, True)] * 19 + [(0.7, False)], 0.95) == 20


def test_no_threshold_reaching_the_target_labels_nothing_and_the_ratio_is_undefined():
    assert oracle_cut([(0.9, False), (0.8, True), (0.2, False)], 0.95) == 0
    assert oracle_cut([], 0.95) == 0
    assert ratio(0, 0) is None and ratio(12, 0) is None
    assert ratio(9, 10) == 0.9


def test_rows_and_table_report_the_gap_and_leave_an_undefined_ratio_undefined():
    run = RunResult("digits", "guarantee", 0, 1000, human_labeled=400, machine_labeled=600, machine_correct=580,
                    sagemaker_jobs=9)
    run.iterations = [
        IterationResult(0, 250, 0.8, 600, 580, pool=750, oracle_labeled=700),
        IterationResult(1, 150, None, 0, 0, pool=100, oracle_labeled=0),
        IterationResult(2, 0, None, 0, 0),  # the last human batch: no model was trained
    ]
    row = report.row(run, SETTINGS, task_type("image-classification"))
    first, empty, untrained = json.loads(row["per_iteration"])
    assert (first["oracleShare"], first["productShare"], first["oracleRatio"]) == (0.9333, 0.8, 0.8571)
    assert (empty["oracleShare"], empty["productShare"], empty["oracleRatio"]) == (0.0, 0.0, None)
    assert untrained["oracleLabeled"] is None and untrained["productShare"] is None
    assert (row["oracle_labeled"], row["oracle_share_first"], row["product_share_first"]) == (700, 0.9333, 0.8)
    assert row["oracle_ratio"] == 0.8571

    nothing = RunResult("digits", "guarantee", 1, 1000, human_labeled=1000, sagemaker_jobs=3)
    nothing.iterations = [IterationResult(0, 250, None, 0, 0, pool=750, oracle_labeled=0)]
    empty_row = report.row(nothing, SETTINGS, task_type("image-classification"))
    assert empty_row["oracle_ratio"] is None
    table = report.markdown([row, empty_row], SETTINGS)
    # First iterations: oracle 93.3% and 0%; all iterations 93.3%, 0%, 0%; the job ratio defined in one run of two.
    assert "| 46.7 (0.0-93.3) | 40.0 (0.0-80.0) | 31.1 (0.0-93.3) | 85.7 (85.7-85.7), undefined in 1 | 85.7 |" in table
    assert "| digits | 0 | 2 | 750 | 46.7 (0.0-93.3) | 40.0 (0.0-80.0) | 85.7 | 1 |" in table
    assert "| digits | 1 | 1 | 100 | 0.0 (0.0-0.0) | 0.0 (0.0-0.0) | undefined | 1 |" in table


def test_the_box_cut_takes_the_largest_set_whose_mean_quality_reaches_the_target():
    pool = [(0.9, 1.0), (0.8, 0.3), (0.7, 0.9), (0.6, 0.5), (0.5, 0.0), (0.4, 0.2)]
    # Running means from the top: 1.0, 0.65, 0.733, 0.675, 0.54, 0.483.
    assert oracle_box_cut(pool, 0.6) == 4
    assert oracle_box_cut(reversed(pool), 0.6) == 4
    assert oracle_box_cut(pool, 0.7) == 3  # a poor second image does not stop the search
    assert oracle_box_cut(pool, 0.5) == 5
    assert oracle_box_cut(pool, 1.0) == 1


def test_the_box_cut_counts_a_mean_exactly_at_target_takes_ties_whole_and_may_label_nothing():
    assert oracle_box_cut([(0.9, 0.7), (0.8, 0.5)], 0.6) == 2  # mean 0.6 exactly, despite float rounding
    # At 0.8 the three images go together: mean (3 + 1.0 + 0 + 0) / 6 = 0.667 < 0.75, so only the top three.
    assert oracle_box_cut([(0.9, 1.0)] * 3 + [(0.8, 0.0), (0.8, 1.0), (0.8, 0.0)], 0.75) == 3
    assert oracle_box_cut([(0.9, 0.2), (0.5, 0.4)], 0.6) == 0
    assert oracle_box_cut([], 0.6) == 0
