"""How many calibration items a batch holds (logic/batches.py, CalibrationSampleSize "auto").

The promise (tests/unit/test_threshold.py) is stated for a calibration sample whose size is
fixed before its labels are seen. "auto" sizes the sample to the pool from item counts only,
so each iteration keeps the promise at its own size: with probability at least
ConfidenceLevel, the items it machine-labels are at least TargetAccuracy accurate. The
simulation below checks that over a run of shrinking pools sized by the rule, and that the
same simulation catches a size chosen by looking at the labels.
"""

import random
from collections import Counter

import numpy as np
import pytest
from scipy import stats

from labeling.logic import batches
from labeling.logic.batches import (
    AUTO,
    AUTO_MAX,
    AUTO_MIN,
    CALIBRATION,
    TRAIN,
    auto_calibration_size,
    calibration_sample_size,
    first_batch,
    iteration_rng,
    least_calibration,
    next_batch,
)
from labeling.logic.threshold import choose_threshold, min_trials_to_pass
from labeling.models.job import JobConfig

TARGET, CONFIDENCE = 0.95, 0.95


def pool(count, seed=0):
    rng = random.Random(seed)
    return [{"id": i, "source": f"s{i}", "ambiguity": rng.random()} for i in range(count)]


class TestSizingRule:
    def test_a_number_is_taken_as_it_is_whatever_the_pool(self):
        assert [calibration_sample_size(100, pool_size) for pool_size in (0, 150, 10_000, 10**6)] == [100] * 4

    def test_auto_grows_as_the_pool_to_the_two_thirds_between_its_bounds(self):
        assert auto_calibration_size(1_000) == AUTO_MIN
        assert auto_calibration_size(10**6) == AUTO_MAX
        for pool_size in range(500, 200_000, 997):
            size = auto_calibration_size(pool_size)
            assert AUTO_MIN <= size <= AUTO_MAX
            assert size == max(AUTO_MIN, min(AUTO_MAX, round(batches.AUTO_SCALE * pool_size ** (2 / 3))))
            assert auto_calibration_size(pool_size + 997) >= size

    def test_auto_takes_a_growing_share_of_small_pools_and_a_shrinking_one_of_large_ones(self):
        shares = [calibration_sample_size(AUTO, n) / n for n in (5_000, 20_000, 100_000)]
        assert shares == sorted(shares, reverse=True)
        assert calibration_sample_size(AUTO, 100_000) > calibration_sample_size(AUTO, 5_000)

    def test_auto_is_never_below_what_can_pass_the_bound(self):
        least = min_trials_to_pass(0.99, 0.05)  # 299: 299 of 299 right shows 0.99 at 95%
        assert least > AUTO_MIN
        assert calibration_sample_size(AUTO, 5_000, least=least) == least
        settings = JobConfig(TaskType="text-classification", TargetAccuracy=0.99, CalibrationSampleSize=AUTO)
        assert least_calibration(settings) == least

    def test_auto_spends_nothing_on_a_pool_too_small_to_pay_for_a_sample(self):
        smallest = int(batches.AUTO_MIN_POOL_RATIO * AUTO_MIN)
        assert calibration_sample_size(AUTO, smallest - 1) == 0
        assert calibration_sample_size(AUTO, smallest) == AUTO_MIN

    def test_job_json_takes_auto_or_a_number_and_old_files_keep_their_meaning(self):
        with pytest.raises(ValueError, match="MaxConcurrentTaskCount must be above 100"):
            JobConfig(TaskType="text-classification", CalibrationSampleSize=AUTO, MaxConcurrentTaskCount=100)
        assert JobConfig(TaskType="text-classification", CalibrationSampleSize=AUTO).CalibrationSampleSize == AUTO
        assert JobConfig(TaskType="text-classification", CalibrationSampleSize=120,
                         MaxConcurrentTaskCount=150).CalibrationSampleSize == 120
        with pytest.raises(ValueError, match="CalibrationSampleSize"):
            JobConfig(TaskType="text-classification", CalibrationSampleSize="half")


class TestAutoBatches:
    def test_a_later_batch_holds_size_less_100_ambiguous_items_plus_a_sample_sized_to_the_rest(self):
        items = pool(20_000)
        batch = next_batch(lambda: iter(items), len(items), size=150, calibration_size=AUTO, scored=True,
                           rng=iteration_rng(0, 1))
        roles = Counter(x["role"] for x in batch)
        assert roles == {TRAIN: 50, CALIBRATION: calibration_sample_size(AUTO, 20_000 - 50)}
        assert roles[CALIBRATION] > 100

    def test_the_size_depends_on_the_count_only(self):
        first = pool(8_000, seed=1)
        second = [{**item, "ambiguity": 1 - item["ambiguity"], "label": "anything"} for item in pool(8_000, seed=2)]
        sizes = [
            sum(x["role"] == CALIBRATION for x in next_batch(lambda items=items: iter(items), 8_000, size=150,
                                                            calibration_size=AUTO, scored=True,
                                                            rng=iteration_rng(seed, 3)))
            for items, seed in ((first, 0), (second, 9))
        ]
        assert sizes[0] == sizes[1] == calibration_sample_size(AUTO, 7_950)

    def test_humans_label_what_remains_once_it_cannot_pay_for_a_sample(self):
        smallest = int(batches.AUTO_MIN_POOL_RATIO * AUTO_MIN)
        batch = next_batch(lambda: iter(pool(smallest + 49)), smallest + 49, size=150, calibration_size=AUTO,
                           scored=True, rng=iteration_rng(0, 1))
        assert len(batch) == smallest + 49 and {x["role"] for x in batch} == {TRAIN}
        batch = next_batch(lambda: iter(pool(smallest + 50)), smallest + 50, size=150, calibration_size=AUTO,
                           scored=True, rng=iteration_rng(0, 1))
        assert Counter(x["role"] for x in batch) == {TRAIN: 50, CALIBRATION: AUTO_MIN}

    def test_a_budget_cuts_the_ambiguous_part_and_keeps_the_sample_whole(self):
        items = pool(20_000)
        sample = calibration_sample_size(AUTO, 20_000 - 50)
        batch = next_batch(lambda: iter(items), len(items), size=150, calibration_size=AUTO, scored=True,
                           rng=iteration_rng(0, 1), human_budget=sample + 10)
        assert Counter(x["role"] for x in batch) == {TRAIN: 10, CALIBRATION: sample}
        assert next_batch(lambda: iter(items), len(items), size=150, calibration_size=AUTO, scored=True,
                          rng=iteration_rng(0, 1), human_budget=sample - 1) == []

    def test_a_budget_below_what_remains_of_a_small_pool_labels_what_it_allows(self):
        items = pool(150)
        batch = next_batch(lambda: iter(items), 150, size=150, calibration_size=AUTO, scored=True,
                           rng=iteration_rng(0, 1), human_budget=40)
        assert [x["id"] for x in batch] == list(range(40)) and {x["role"] for x in batch} == {TRAIN}

    def test_the_first_batch_trains_on_size_items_and_sizes_its_sample_to_the_rest(self):
        items = [{"id": i, "source": f"s{i}"} for i in range(10_000)]
        batch = first_batch(lambda: iter(items), size=150, calibration_size=AUTO, automated=True,
                            rng=iteration_rng(0, 0))
        assert Counter(x["role"] for x in batch) == {TRAIN: 150, CALIBRATION: calibration_sample_size(AUTO, 9_850)}
        given = first_batch(lambda: iter(items), size=150, calibration_size=AUTO, automated=True,
                            rng=iteration_rng(0, 0), total=10_000)
        assert given == batch


# --- The promise under the rule's sizes --------------------------------------------------------------------
#
# A model's confidence c ~ Beta(SHAPE, 1), right with probability c (tests/unit/test_threshold.py): above t
# its accuracy crosses 0.95 near t = 0.845. Each simulated job starts from a pool and runs like the product:
# the calibration sample (its size from the rule) is a uniform random sample of the pool, the threshold is
# chosen on it, and the pool items outside the sample at or above it are machine-labeled; what is left
# (below the threshold) is the next iteration's pool, harder than the last, with a fresh sample sized to it.
# An iteration breaks the promise when the items it machine-labeled are below the target; the promise is
# that this happens with probability at most 1 - ConfidenceLevel in each iteration.

SHAPE = 15


def _run_job(rng, pool_size, size_of, accuracy=None):
    """Per iteration: did it machine-label items that are, together, below target?

    `accuracy`: a model right with this probability at every confidence (None: right with probability c).
    """
    c = rng.beta(SHAPE, 1, pool_size)
    right = rng.random(pool_size) < (c if accuracy is None else accuracy)
    left = np.arange(pool_size)
    broke = []
    while left.size:
        order = left[rng.permutation(left.size)]  # the sample is the first n in a random order
        n = size_of(order.size, c[order], right[order])
        if not n:
            break
        sample, rest = order[:n], order[n:]
        decision = choose_threshold(zip(c[sample].tolist(), right[sample].tolist(), strict=True), TARGET, CONFIDENCE)
        accepted = rest[c[rest] >= decision.threshold] if decision.threshold is not None else rest[:0]
        broke.append(bool(accepted.size) and bool(right[accepted].mean() < TARGET))
        if not accepted.size:
            break
        left = rest[c[rest] < decision.threshold]
    return broke


def _rule(pool_size, confidences, correct):
    return calibration_sample_size(AUTO, pool_size, least=min_trials_to_pass(TARGET, 1 - CONFIDENCE))


def _peeking(pool_size, confidences, correct):
    """A size chosen from the labels: the sample grows until a threshold passes, and stops there."""
    for n in range(60, pool_size, 20):
        if choose_threshold(zip(confidences[:n].tolist(), correct[:n].tolist(), strict=True), TARGET,
                            CONFIDENCE).threshold is not None:
            return n
    return 200  # never passed: any size, the iteration labels nothing either way


def test_the_rule_keeps_the_promise_in_every_iteration():
    rng = np.random.default_rng(13)
    broke = []
    for job in range(90):
        broke += _run_job(rng, (2_000, 10_000, 40_000)[job % 3], _rule)
    misses, iterations = sum(broke), len(broke)
    allowed = stats.binom.ppf(0.999, iterations, 1 - CONFIDENCE)
    assert misses <= allowed, f"{misses}/{iterations} iterations broke the promise (allowed {allowed:.0f})"
    # Not vacuous: the jobs run several iterations, on pools and samples of every size the rule gives.
    assert iterations >= 120, iterations


def test_the_simulation_catches_a_size_chosen_from_the_labels():
    # A model 94% right everywhere: any machine labels it gives break the promise, so a valid sample size
    # passes a threshold at most 5% of the time, and growing the sample until one passes does so far more.
    rng = np.random.default_rng(13)
    fixed = [_run_job(rng, 3_000, _rule, accuracy=0.94)[0] for _ in range(150)]
    peeking = [_run_job(rng, 3_000, _peeking, accuracy=0.94)[0] for _ in range(150)]
    allowed = stats.binom.ppf(0.999, 150, 1 - CONFIDENCE)
    assert sum(fixed) <= allowed < sum(peeking), (sum(fixed), sum(peeking), allowed)
