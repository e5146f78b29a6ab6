"""The benchmark's simulated loop applies the pipeline's out-of-reach rule (logic/out_of_reach.py):
on digits whose labels were shuffled it stops training after OutOfReachIterations models, and humans
label the rest; on the digits as they are it never stops."""

import dataclasses

import numpy as np
import pytest

from benchmarks import datasets, loop, report
from labeling.models.job import JobConfig
from labeling.task_types import task_type

SETTINGS = JobConfig(TaskType="image-classification")


@pytest.fixture(scope="module")
def digits():
    return datasets.load("digits")


@pytest.fixture(scope="module")
def shuffled_digits(digits):
    labels = np.array(datasets.shuffled_labels(digits.labels.tolist(), 1.0, seed=3))
    return dataclasses.replace(digits, name="digits-shuffled", labels=labels)


def test_shuffling_keeps_the_class_shares_and_moves_the_chosen_share_of_labels():
    labels = [k % 5 for k in range(1000)]
    shuffled = datasets.shuffled_labels(labels, 0.4, seed=1)
    assert sorted(shuffled) == sorted(labels)
    changed = sum(a != b for a, b in zip(labels, shuffled, strict=True))
    assert 0.4 * 1000 * 0.7 < changed <= 0.4 * 1000  # a moved label lands on its own class 1 time in 5


def test_a_hopeless_job_stops_training_after_three_models_and_humans_label_the_rest(shuffled_digits):
    result = loop.simulate(shuffled_digits, "guarantee", 0, SETTINGS)
    assert result.out_of_reach_iteration == 2 and result.sagemaker_jobs == 3 * 3
    assert [it.out_of_reach for it in result.iterations[:3]] == [True] * 3
    assert result.human_labeled == len(shuffled_digits) and result.machine_labeled == 0
    assert sorted(result.human_items) == list(range(len(shuffled_digits)))  # each item once
    # After the stop: plain batches of MaxConcurrentTaskCount, none trained a model.
    after = result.iterations[3:]
    assert after and all(it.oracle_labeled is None for it in after)
    assert [it.human_batch for it in after[:-1]] == [SETTINGS.MaxConcurrentTaskCount] * (len(after) - 1)
    row = report.row(result, SETTINGS, task_type(SETTINGS.TaskType))
    assert row["out_of_reach_iteration"] == 2 and row["models_trained"] == 3


def test_with_the_setting_off_it_goes_on_training_models_that_label_nothing(shuffled_digits):
    settings = SETTINGS.model_copy(update={"StopTrainingWhenOutOfReach": False})
    result = loop.simulate(shuffled_digits, "guarantee", 0, settings)
    assert result.out_of_reach_iteration == 2 and result.sagemaker_jobs > 3 * 3
    assert result.human_labeled == len(shuffled_digits) and result.machine_labeled == 0


@pytest.mark.parametrize("seed", range(3))
def test_digits_as_they_are_are_never_declared_out_of_reach(digits, seed):
    result = loop.simulate(digits, "guarantee", seed, SETTINGS)
    assert result.out_of_reach_iteration is None and result.machine_labeled > 0
