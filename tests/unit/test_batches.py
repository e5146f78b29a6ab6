"""Which items go to human workers each iteration (logic/sampling.py, logic/batches.py).

The accuracy promise rests on the calibration part of each batch being a
uniform random sample of the items still unlabeled; active learning adds the
items the last model found most ambiguous.
"""

import itertools
import json
import random
from collections import Counter

from scipy import stats

from labeling.logic.batches import (
    CALIBRATION,
    TRAIN,
    first_batch,
    iteration_rng,
    next_batch,
    without,
)
from labeling.logic.manifest import work_items
from labeling.logic.sampling import margin, most_ambiguous, reservoir_sample

# Below this p-value a frequency table is taken as evidence against uniformity.
P_MIN = 1e-3

MANIFEST = [json.dumps({"source": f"headline number {i}", "date": "2026-01-01"}) for i in range(2000)]


def manifest_items():
    return work_items(MANIFEST, "source")


def pool(count, seed=0):
    """Unlabeled items as ApplyThreshold leaves them: with the last model's margin."""
    rng = random.Random(seed)
    return [{"id": i, "source": f"headline number {i}", "margin": round(rng.random(), 6)} for i in range(count)]


def assert_uniform(counts, categories, draws):
    observed = [counts.get(c, 0) for c in categories]
    assert sum(observed) == draws
    p = stats.chisquare(observed).pvalue
    assert p > P_MIN, f"frequencies look non-uniform (p={p:.2g}): {observed}"


class TestReservoirSample:
    def test_every_subset_is_equally_likely(self):
        items = [{"id": i} for i in range(6)]
        runs = 6000
        counts = Counter(
            frozenset(x["id"] for x in reservoir_sample(iter(items), 2, random.Random(seed))) for seed in range(runs)
        )
        subsets = [frozenset(s) for s in itertools.combinations(range(6), 2)]
        assert set(counts) == set(subsets)
        assert_uniform(counts, subsets, runs)

    def test_every_item_is_equally_likely_from_a_long_stream(self):
        runs, size, n = 2000, 10, 100
        counts = Counter()
        for seed in range(runs):
            sample = reservoir_sample(({"id": i} for i in range(n)), size, random.Random(seed))
            assert len(sample) == size and len({x["id"] for x in sample}) == size
            counts.update(x["id"] for x in sample)
        assert_uniform(counts, range(n), runs * size)

    def test_same_seed_same_sample(self):
        items = [{"id": i} for i in range(500)]
        assert reservoir_sample(items, 50, random.Random(7)) == reservoir_sample(items, 50, random.Random(7))
        assert reservoir_sample(items, 50, random.Random(7)) != reservoir_sample(items, 50, random.Random(8))

    def test_short_stream_is_taken_whole(self):
        items = [{"id": i} for i in range(5)]
        assert reservoir_sample(items, 10, random.Random(0)) == items


class TestMargin:
    def test_margin_is_top_score_minus_runner_up(self):
        assert margin([0.1, 0.7, 0.2]) == 0.7 - 0.2
        assert margin([0.5, 0.5]) == 0.0

    def test_single_score_is_its_own_margin(self):
        assert margin([0.8]) == 0.8

    def test_most_ambiguous_breaks_ties_by_id(self):
        items = [{"id": 4, "margin": 0.1}, {"id": 2, "margin": 0.1},
                 {"id": 0, "margin": 0.5}, {"id": 9, "margin": 0.05}]
        assert [x["id"] for x in most_ambiguous(items, 3)] == [9, 2, 4]


class TestIterationRng:
    def test_runs_repeat_for_a_seed_and_iterations_differ(self):
        assert iteration_rng(3, 1).random() == iteration_rng(3, 1).random()
        assert iteration_rng(3, 1).random() != iteration_rng(3, 2).random()
        assert iteration_rng(3, 1).random() != iteration_rng(4, 1).random()


class TestFirstBatch:
    def batch(self, seed=0, **overrides):
        args = dict(size=200, calibration_size=100, automated=True, rng=iteration_rng(seed, 0))
        args.update(overrides)
        return first_batch(manifest_items, **args)

    def test_holds_a_full_batch_to_train_on_plus_the_calibration_sample(self):
        batch = self.batch()
        roles = Counter(item["role"] for item in batch)
        assert len(batch) == 300
        assert roles == {CALIBRATION: 100, TRAIN: 200}

    def test_items_are_sorted_by_id_without_duplicates(self):
        ids = [item["id"] for item in self.batch()]
        assert ids == sorted(ids)
        assert len(set(ids)) == len(ids)
        assert set(ids) <= set(range(2000))

    def test_items_carry_their_data_and_role_only(self):
        for item in self.batch():
            assert item == {"id": item["id"], "source": f"headline number {item['id']}", "role": item["role"]}

    def test_is_a_random_sample_not_the_first_items(self):
        ids = [item["id"] for item in self.batch()]
        assert ids != list(range(200))
        assert max(ids) > 1000

    def test_same_seed_same_batch_other_seed_other_batch(self):
        assert self.batch(seed=5) == self.batch(seed=5)
        assert self.batch(seed=5) != self.batch(seed=6)

    def test_calibration_part_is_a_uniform_sample_of_all_items(self):
        lines = [json.dumps({"source": f"t{i}"}) for i in range(50)]
        runs, counts = 2000, Counter()
        for seed in range(runs):
            batch = first_batch(lambda: work_items(lines, "source"), size=20, calibration_size=10,
                                automated=True, rng=iteration_rng(seed, 0))
            counts.update(item["id"] for item in batch if item["role"] == CALIBRATION)
        assert_uniform(counts, range(50), runs * 10)

    def test_human_only_job_takes_items_in_order_for_training(self):
        batch = self.batch(automated=False)
        assert [item["id"] for item in batch] == list(range(200))
        assert {item["role"] for item in batch} == {TRAIN}

    def test_human_only_job_smaller_than_a_batch_takes_everything(self):
        lines = MANIFEST[:30]
        batch = first_batch(lambda: work_items(lines, "source"), size=200, calibration_size=100,
                            automated=False, rng=iteration_rng(0, 0))
        assert [item["id"] for item in batch] == list(range(30))


class TestNextBatch:
    def batch(self, items, seed=0, **overrides):
        args = dict(size=200, calibration_size=100, scored=True, rng=iteration_rng(seed, 1))
        args.update(overrides)
        return next_batch(lambda: iter(items), len(items), **args)

    def test_holds_the_most_ambiguous_items_for_training(self):
        items = pool(1500)
        batch = self.batch(items)
        smallest = sorted(items, key=lambda x: (x["margin"], x["id"]))[:100]
        assert {x["id"] for x in batch if x["role"] == TRAIN} == {x["id"] for x in smallest}

    def test_adds_a_calibration_sample_disjoint_from_the_ambiguous_items(self):
        batch = self.batch(pool(1500))
        train = {x["id"] for x in batch if x["role"] == TRAIN}
        calibration = {x["id"] for x in batch if x["role"] == CALIBRATION}
        assert len(train) == 100 and len(calibration) == 100
        assert not train & calibration
        assert len(batch) == 200

    def test_items_are_sorted_by_id_and_lose_their_margin(self):
        batch = self.batch(pool(1500))
        assert [x["id"] for x in batch] == sorted(x["id"] for x in batch)
        assert all(set(x) == {"id", "source", "role"} for x in batch)

    def test_same_seed_same_batch(self):
        items = pool(1500)
        assert self.batch(items, seed=1) == self.batch(items, seed=1)
        assert self.batch(items, seed=1) != self.batch(items, seed=2)

    def test_calibration_is_a_uniform_sample_of_the_items_not_picked_as_ambiguous(self):
        items = pool(30, seed=3)
        ambiguous = {x["id"] for x in sorted(items, key=lambda x: (x["margin"], x["id"]))[:5]}
        rest = [x["id"] for x in items if x["id"] not in ambiguous]
        runs, counts = 2000, Counter()
        for seed in range(runs):
            batch = next_batch(lambda: iter(items), 30, size=10, calibration_size=5, scored=True,
                               rng=iteration_rng(seed, 1))
            assert {x["id"] for x in batch if x["role"] == TRAIN} == ambiguous
            counts.update(x["id"] for x in batch if x["role"] == CALIBRATION)
        assert set(counts) == set(rest)
        assert_uniform(counts, rest, runs * 5)

    def test_when_what_remains_fits_in_one_batch_humans_label_all_of_it(self):
        items = pool(200)
        batch = self.batch(items)
        assert [x["id"] for x in batch] == list(range(200))
        assert {x["role"] for x in batch} == {TRAIN}
        assert all("margin" not in x for x in batch)

    def test_when_too_few_would_be_left_to_calibrate_on_humans_label_everything(self):
        # 200 in the batch would leave 99 for the model, fewer than a calibration sample of 100
        batch = self.batch(pool(299))
        assert len(batch) == 299 and {x["role"] for x in batch} == {TRAIN}
        assert len(self.batch(pool(301))) == 200

    def test_without_a_model_the_next_items_go_in_order(self):
        items = [{"id": i, "source": f"s{i}"} for i in range(10, 1000)]
        batch = self.batch(items, scored=False)
        assert [x["id"] for x in batch] == list(range(10, 210))
        assert {x["role"] for x in batch} == {TRAIN}


class TestWithout:
    def test_drops_the_batch_items_and_keeps_the_order(self):
        items = pool(10)
        batch = [{"id": 2, "role": TRAIN}, {"id": 7, "role": CALIBRATION}]
        left = list(without(items, batch))
        assert [x["id"] for x in left] == [0, 1, 3, 4, 5, 6, 8, 9]
        assert left[0] == {"id": 0, "source": "headline number 0"}

    def test_batch_and_rest_partition_the_items(self):
        items = pool(1500)
        batch = next_batch(lambda: iter(items), 1500, size=200, calibration_size=100, scored=True,
                           rng=iteration_rng(0, 1))
        left = list(without(items, batch))
        assert len(left) == 1300
        assert sorted([x["id"] for x in left] + [x["id"] for x in batch]) == list(range(1500))
