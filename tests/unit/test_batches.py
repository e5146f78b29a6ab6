"""Which items go to human workers each iteration (logic/sampling.py, logic/batches.py).

The accuracy promise rests on the calibration part of each batch being a
uniform random sample of the items still unlabeled; active learning adds the
items the last model found most ambiguous.
"""

import itertools
import json
import math
import random
from collections import Counter

import pytest
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
from labeling.logic.sampling import CANDIDATES_PER_SLOT, ambiguity, most_ambiguous, reservoir_sample

# Below this p-value a frequency table is taken as evidence against uniformity.
P_MIN = 1e-3

MANIFEST = [json.dumps({"source": f"headline number {i}", "date": "2026-01-01"}) for i in range(2000)]


def manifest_items():
    return work_items(MANIFEST, "source")


def pool(count, seed=0):
    """Unlabeled items as ApplyThreshold leaves them: with the last model's ambiguity."""
    rng = random.Random(seed)
    return [{"id": i, "source": f"headline number {i}", "ambiguity": round(rng.random(), 6)} for i in range(count)]


def most_ambiguous_first(items):
    return sorted(items, key=lambda x: (-x["ambiguity"], x["id"]))


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


class TestAmbiguity:
    def test_margin_is_one_minus_top_score_minus_runner_up(self):
        assert ambiguity([0.1, 0.7, 0.2], "margin") == pytest.approx(1 - (0.7 - 0.2))
        assert ambiguity([0.5, 0.5], "margin") == 1.0
        assert ambiguity([0.0, 1.0, 0.0], "margin") == 0.0

    def test_single_score_margin_is_against_zero(self):
        assert ambiguity([0.8], "margin") == pytest.approx(0.2)

    def test_entropy_is_normalised_to_one_for_uniform_scores(self):
        assert ambiguity([0.25] * 4, "entropy") == pytest.approx(1.0)
        assert ambiguity([1.0, 0.0, 0.0, 0.0], "entropy") == 0.0
        assert ambiguity([0.5, 0.5, 0.0], "entropy") == pytest.approx(math.log(2) / math.log(3))

    def test_entropy_sees_spread_that_margin_does_not(self):
        # Same top two, but the second item spreads its remaining score over more classes.
        peaked, spread = [0.4, 0.4, 0.2, 0.0, 0.0], [0.4, 0.4, 0.1, 0.05, 0.05]
        assert ambiguity(peaked, "margin") == ambiguity(spread, "margin")
        assert ambiguity(spread, "entropy") > ambiguity(peaked, "entropy")

    def test_both_strategies_rank_a_confident_item_below_an_unsure_one(self):
        for strategy in ("margin", "entropy"):
            assert ambiguity([0.9, 0.05, 0.05], strategy) < ambiguity([0.45, 0.4, 0.15], strategy)

    def test_unknown_strategy_is_refused(self):
        with pytest.raises(ValueError, match="least-confidence"):
            ambiguity([0.5, 0.5], "least-confidence")

    def test_most_ambiguous_breaks_ties_by_id(self):
        items = [{"id": 4, "ambiguity": 0.9}, {"id": 2, "ambiguity": 0.9},
                 {"id": 0, "ambiguity": 0.5}, {"id": 9, "ambiguity": 0.95}]
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
        most = most_ambiguous_first(items)[:100]
        assert {x["id"] for x in batch if x["role"] == TRAIN} == {x["id"] for x in most}

    def test_adds_a_calibration_sample_disjoint_from_the_ambiguous_items(self):
        batch = self.batch(pool(1500))
        train = {x["id"] for x in batch if x["role"] == TRAIN}
        calibration = {x["id"] for x in batch if x["role"] == CALIBRATION}
        assert len(train) == 100 and len(calibration) == 100
        assert not train & calibration
        assert len(batch) == 200

    def test_items_are_sorted_by_id_and_lose_their_scores(self):
        batch = self.batch(pool(1500))
        assert [x["id"] for x in batch] == sorted(x["id"] for x in batch)
        assert all(set(x) == {"id", "source", "role"} for x in batch)

    def test_same_seed_same_batch(self):
        items = pool(1500)
        assert self.batch(items, seed=1) == self.batch(items, seed=1)
        assert self.batch(items, seed=1) != self.batch(items, seed=2)

    def test_calibration_is_a_uniform_sample_of_the_items_not_picked_as_ambiguous(self):
        items = pool(30, seed=3)
        ambiguous = {x["id"] for x in most_ambiguous_first(items)[:5]}
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
        assert all("ambiguity" not in x for x in batch)

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


# --- near-duplicates: items whose embedding sketches (128-bit SimHash) nearly agree ---------------------------

def sketch(value):
    return f"{value:032x}"


def flipped(value, bits):
    """`value` with its lowest `bits` bits flipped: `bits` bits away from it."""
    return value ^ ((1 << bits) - 1)


def perturbed(value, bits, rng):
    """`value` with `bits` bits, anywhere in it, flipped."""
    for position in rng.sample(range(128), bits):
        value ^= 1 << position
    return value


def random_sketches(count, seed=0):
    rng = random.Random(seed)
    return [rng.getrandbits(128) for _ in range(count)]


def scored(ambiguities, sketches=None):
    """Pool items, most ambiguous first, with the given sketches (None: no sketch)."""
    sketches = sketches or [None] * len(ambiguities)
    return [{"id": i, "source": f"s{i}", "ambiguity": a, **({"sketch": sketch(s)} if s is not None else {})}
            for i, (a, s) in enumerate(zip(ambiguities, sketches, strict=True))]


def greedy_brute_force(items, size, max_bits):
    """most_ambiguous's rule, comparing each candidate with every chosen sketch: its specification."""
    chosen, skipped = [], []
    for item in most_ambiguous_first(items)[:CANDIDATES_PER_SLOT * size]:
        if len(chosen) == size:
            break
        distances = ((int(item["sketch"], 16) ^ int(c["sketch"], 16)).bit_count() for c in chosen)
        (skipped if any(d <= max_bits for d in distances) else chosen).append(item)
    return [x["id"] for x in most_ambiguous_first(chosen + skipped[:size - len(chosen)])]


class TestNearDuplicates:
    def test_of_items_with_identical_sketches_only_the_most_ambiguous_is_chosen_and_the_batch_still_fills(self):
        a, b, c, d, e = random_sketches(5)
        items = scored([0.99, 0.98, 0.97, 0.96, 0.95, 0.94, 0.93], [a, a, a, b, c, d, e])
        assert [x["id"] for x in most_ambiguous(items, 4, max_bits=8)] == [0, 3, 4, 5]

    def test_near_means_within_max_bits(self):
        (base,) = random_sketches(1)
        items = scored([0.9, 0.8, 0.7], [base, flipped(base, 8), flipped(base, 9)])
        assert [x["id"] for x in most_ambiguous(items, 2, max_bits=8)] == [0, 2]
        assert [x["id"] for x in most_ambiguous(items, 2, max_bits=9)] == [0, 1]  # window of 8 candidates: filled

    def test_zero_bits_turns_the_guard_off(self):
        (a,) = random_sketches(1)
        items = scored([0.9, 0.8, 0.7], [a, a, a])
        assert [x["id"] for x in most_ambiguous(items, 3, max_bits=0)] == [0, 1, 2]

    def test_items_without_a_sketch_are_never_duplicates(self):
        (a,) = random_sketches(1)
        items = scored([0.9, 0.8, 0.7, 0.6], [None, None, a, a])
        assert [x["id"] for x in most_ambiguous(items, 3, max_bits=8)] == [0, 1, 2]

    def test_unrelated_items_are_not_taken_for_duplicates(self):
        items = scored([round(1 - i / 1000, 4) for i in range(500)], random_sketches(500, seed=3))
        assert most_ambiguous(items, 100, max_bits=8) == most_ambiguous(items, 100)

    def test_when_the_guard_skips_too_many_the_next_most_ambiguous_fill_the_batch(self):
        (a,) = random_sketches(1)
        items = scored([1 - i / 100 for i in range(30)], [a] * 30)
        assert [x["id"] for x in most_ambiguous(items, 3, max_bits=8)] == [0, 1, 2]

    def test_looks_only_a_bounded_window_down_the_ranking(self):
        # 2 places keep 8 candidates: the unique 9th item is out of reach, duplicates fill the batch.
        a, b = random_sketches(2)
        items = scored([1 - i / 100 for i in range(9)], [a] * 8 + [b])
        assert [x["id"] for x in most_ambiguous(iter(items), 2, max_bits=8)] == [0, 1]

    def test_agrees_with_comparing_every_pair(self):
        rng = random.Random(11)
        bases = random_sketches(40, seed=5)
        sketches = [perturbed(rng.choice(bases), rng.randint(0, 24), rng) for _ in range(400)]
        items = scored([round(rng.random(), 6) for _ in range(400)], sketches)
        for max_bits in (1, 8, 20, 64):
            expected = greedy_brute_force(items, 30, max_bits)
            assert [x["id"] for x in most_ambiguous(items, 30, max_bits=max_bits)] == expected, max_bits
            assert len(expected) == 30

    def test_next_batch_keeps_near_duplicates_out_of_its_ambiguous_part(self):
        groups = random_sketches(60, seed=8)
        items = scored([round(1 - i / 3000, 6) for i in range(1500)], [groups[i % 60] for i in range(1500)])
        batch = next_batch(lambda: iter(items), 1500, size=50, calibration_size=20, scored=True,
                           rng=iteration_rng(0, 1), max_duplicate_bits=8)
        ambiguous = [x["id"] for x in batch if x["role"] == TRAIN]
        assert ambiguous == list(range(30))  # one per sketch group: ids 0..29 are 30 different groups
        unguarded = next_batch(lambda: iter(items), 1500, size=50, calibration_size=20, scored=True,
                               rng=iteration_rng(0, 1))
        assert [x["id"] for x in unguarded if x["role"] == TRAIN] == list(range(30))
        duplicated = scored([round(1 - i / 3000, 6) for i in range(1500)], [groups[i // 2 % 60] for i in range(1500)])
        batch = next_batch(lambda: iter(duplicated), 1500, size=50, calibration_size=20, scored=True,
                           rng=iteration_rng(0, 1), max_duplicate_bits=8)
        assert [x["id"] for x in batch if x["role"] == TRAIN] == list(range(0, 60, 2))
        assert all(set(x) == {"id", "source", "role"} for x in batch)


# --- a human budget: StoppingConditions.MaxHumanLabeledObjectCount, what is left of it -------------------------

class TestHumanBudget:
    def batch(self, items, budget, **overrides):
        args = dict(size=200, calibration_size=100, scored=True, rng=iteration_rng(0, 1), human_budget=budget)
        args.update(overrides)
        return next_batch(lambda: iter(items), len(items), **args)

    def test_cuts_the_ambiguous_part_and_keeps_the_calibration_sample_whole(self):
        items = pool(1500)
        batch = self.batch(items, 150)
        roles = Counter(x["role"] for x in batch)
        assert roles == {TRAIN: 50, CALIBRATION: 100}
        assert {x["id"] for x in batch if x["role"] == TRAIN} == {x["id"] for x in most_ambiguous_first(items)[:50]}

    def test_a_budget_of_one_calibration_sample_buys_only_the_calibration_sample(self):
        assert Counter(x["role"] for x in self.batch(pool(1500), 100)) == {CALIBRATION: 100}

    def test_a_budget_below_a_calibration_sample_sends_no_batch(self):
        assert self.batch(pool(1500), 99) == []
        assert self.batch(pool(1500), 0) == []

    def test_a_larger_budget_changes_nothing(self):
        items = pool(1500)
        assert self.batch(items, 5000) == self.batch(items, None)

    def test_what_remains_is_labeled_whole_when_it_fits_the_budget(self):
        assert [x["id"] for x in self.batch(pool(60), 60)] == list(range(60))
        assert self.batch(pool(60), 59) == []  # cannot finish, and cannot hold a calibration sample

    def test_what_remains_beyond_the_budget_gets_a_cut_batch(self):
        # 250 would all go to humans, but only 150 may: 50 ambiguous plus a calibration sample.
        assert Counter(x["role"] for x in self.batch(pool(250), 150)) == {TRAIN: 50, CALIBRATION: 100}

    def test_without_a_model_the_budget_cuts_the_in_order_batch(self):
        items = [{"id": i, "source": f"s{i}"} for i in range(500)]
        assert [x["id"] for x in self.batch(items, 30, scored=False)] == list(range(30))
        assert self.batch(items, 0, scored=False) == []

    def test_calibration_stays_a_uniform_sample_of_the_rest_under_a_budget(self):
        items = pool(30, seed=4)
        ambiguous = {x["id"] for x in most_ambiguous_first(items)[:2]}
        rest = [x["id"] for x in items if x["id"] not in ambiguous]
        runs, counts = 2000, Counter()
        for seed in range(runs):
            batch = next_batch(lambda: iter(items), 30, size=10, calibration_size=5, scored=True,
                               rng=iteration_rng(seed, 1), human_budget=7)
            assert {x["id"] for x in batch if x["role"] == TRAIN} == ambiguous
            counts.update(x["id"] for x in batch if x["role"] == CALIBRATION)
        assert_uniform(counts, rest, runs * 5)


class TestFirstBatchUnderABudget:
    def batch(self, budget, **overrides):
        args = dict(size=200, calibration_size=100, automated=True, rng=iteration_rng(0, 0), human_budget=budget)
        args.update(overrides)
        return first_batch(manifest_items, **args)

    def test_a_budget_above_the_first_batch_changes_nothing(self):
        assert self.batch(300) == self.batch(None)

    def test_a_smaller_budget_shrinks_the_training_part_only(self):
        assert Counter(x["role"] for x in self.batch(130)) == {CALIBRATION: 100, TRAIN: 30}

    def test_a_budget_without_room_for_calibration_and_training_labels_random_items(self):
        batch = self.batch(100)
        ids = [x["id"] for x in batch]
        assert len(ids) == 100 and {x["role"] for x in batch} == {TRAIN}
        assert ids == sorted(ids) and ids != list(range(100))

    def test_human_only_jobs_label_the_first_items_up_to_the_budget(self):
        assert [x["id"] for x in self.batch(42, automated=False)] == list(range(42))
