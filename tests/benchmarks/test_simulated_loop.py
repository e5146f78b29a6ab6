"""The benchmark's simulated loop (benchmarks/loop.py), on scikit-learn's digits.

The benchmark's figures are only worth committing if its loop labels every item
once, keeps the promise it claims, and tells the rules apart; these runs take
about a second each.
"""

import json

import pytest

from benchmarks import datasets, loop, report
from labeling.logic.threshold import GRID
from labeling.models.job import JobConfig
from labeling.task_types import task_type

SETTINGS = JobConfig(TaskType="image-classification")


@pytest.fixture(scope="module")
def digits():
    return datasets.load("digits")


@pytest.fixture(scope="module")
def runs(digits):
    # Seed 1 runs three iterations, so the selection rules have a batch to differ in.
    return {rule: loop.simulate(digits, rule, 1, SETTINGS) for rule in loop.RULES}


def test_every_item_is_labeled_once_by_a_human_or_the_model(runs, digits):
    for result in runs.values():
        assert result.human_labeled + result.machine_labeled == len(digits) == 1797
        assert sum(it.human_batch for it in result.iterations) == result.human_labeled


def test_product_rule_labels_most_digits_above_target(runs):
    result = runs["guarantee"]
    assert result.machine_labeled / result.items > 0.6
    assert result.machine_accuracy >= SETTINGS.TargetAccuracy
    assert all(it.threshold is None or it.threshold in GRID for it in result.iterations)


def test_guarantee_auto_sizes_the_first_sample_to_the_pool_through_the_products_batches(runs, digits):
    # 1,797 digits: 150 to train on, and a sample of round(1,647^(2/3)) = 139 from the rest.
    fixed, auto = runs["guarantee"].iterations[0], runs["guarantee-auto"].iterations[0]
    assert (fixed.human_batch, auto.human_batch) == (250, 150 + 139)
    assert auto.pool == len(digits) - 289
    # (Its machine labels are 94.8% right on this seed: the one digits run in ten below target.)


def test_random_sampling_sends_other_items_to_humans_than_active_learning(runs):
    ambiguous, random_ = runs["guarantee"], runs["random-sampling"]
    # Same first batch and first threshold: only the later selection differs.
    assert ambiguous.iterations[0].threshold == random_.iterations[0].threshold
    first = ambiguous.iterations[0].human_batch
    assert ambiguous.human_items[:first] == random_.human_items[:first]
    assert ambiguous.human_items[first:] != random_.human_items[first:]


def test_point_estimate_rule_is_the_lowest_threshold_at_target_accuracy():
    calibration = [(0.99, True)] * 90 + [(0.7, False)] * 5 + [(0.6, True)] * 5 + [(0.3, False)]
    # Down to 0.6, 95 of 100 are right, exactly the target; the wrong item at 0.3 breaks it.
    assert loop.point_estimate_threshold(calibration, 0.95) == 0.305
    assert loop.point_estimate_threshold([(0.9, False)] * 10, 0.95) is None


def test_rows_price_human_answers_and_sagemaker_time(runs):
    result = runs["guarantee"]
    row = report.row(result, SETTINGS, task_type("image-classification"))
    human = result.human_labeled * SETTINGS.HumanPricePerAnswerUSD
    assert row["all_human_usd"] == pytest.approx(1797 * SETTINGS.HumanPricePerAnswerUSD)
    assert human < row["cost_usd"] < human + 5  # a few trainings at ~0.32 USD each
    assert len(json.loads(row["per_iteration"])) == len(result.iterations)
    table = report.markdown([row], SETTINGS)
    assert "| digits | guarantee | 1 |" in table


def test_the_oracle_cut_bounds_every_iteration_that_kept_the_target(runs):
    # The product's accepted items are one threshold's cut of the pool; where they are at least the
    # target accurate, the oracle, the largest such cut, labels at least as many.
    for result in runs.values():
        for it in result.iterations:
            if it.oracle_labeled is None:
                continue
            assert 0 <= it.oracle_labeled <= it.pool
            if it.machine_labeled and it.machine_correct / it.machine_labeled >= SETTINGS.TargetAccuracy:
                assert it.oracle_labeled >= it.machine_labeled
    first = runs["guarantee"].iterations[0]
    assert first.pool == 1797 - first.human_batch
    assert first.oracle_labeled > first.machine_labeled  # the bound costs coverage: the gap is real
