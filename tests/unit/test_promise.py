"""The job-level promises (logic/promise.py): all machine labels, or the whole output, at the target.

The guarantee is checked by simulation, as tests/unit/test_threshold.py checks the per-iteration
one: jobs of several iterations, each with a fresh calibration sample, and the job's true accuracy
from the model's closed form.
"""

import random

import pytest
from scipy import stats

from labeling.logic import promise
from labeling.logic.fixed_sequence import GRID, grid_counts, grid_tally
from labeling.logic.iteration_threshold import decide
from labeling.logic.label_kinds import label_kind
from labeling.logic.output import Counters
from labeling.logic.report import kept_promise
from labeling.logic.threshold import choose_threshold
from labeling.models.job import JobConfig
from labeling.models.state import PromiseLedger


class TestGridTally:
    def test_counts_what_the_threshold_would_accept_in_any_order(self):
        rng = random.Random(3)
        confidences = [rng.random() for _ in range(2000)] + [0.995, 0.005, 0.5, 1.0, 0.0]
        tally = grid_tally(confidences)
        expected = dict(grid_counts(sorted(confidences, reverse=True)))
        assert tally == expected
        assert all(tally[t] == sum(c >= t for c in confidences) for t in (0.995, 0.5, 0.005))


class TestRequirement:
    def test_each_iteration_asks_the_target_everywhere(self):
        required = promise.requirement(promise.EACH_ITERATION, 0.95, PromiseLedger(), human_labeled=500,
                                       pool_accepted=lambda t: 100)
        assert required(0.9) == required(0.1) == 0.95

    def test_first_iteration_of_all_machine_labels_asks_the_target(self):
        required = promise.requirement(promise.ALL_MACHINE_LABELS, 0.95, PromiseLedger(), human_labeled=500,
                                       pool_accepted=lambda t: 400)
        assert required(0.9) == pytest.approx(0.95)

    def test_slack_left_by_earlier_iterations_lowers_what_is_asked(self):
        # 1,000 machine labels so far with at most 20 errors: 30 more errors fit the 5% budget.
        ledger = PromiseLedger(tests=1, machineAccepted=1000, errorBound=20.0)
        required = promise.requirement(promise.ALL_MACHINE_LABELS, 0.95, ledger, human_labeled=0,
                                       pool_accepted=lambda t: 200)
        # budget = 0.05 * (1000 + 200) - 20 = 40 errors among 200 -> 0.8
        assert required(0.5) == pytest.approx(0.8)

    def test_whole_dataset_counts_human_labels_as_right(self):
        required = promise.requirement(promise.WHOLE_DATASET, 0.95, PromiseLedger(), human_labeled=600,
                                       pool_accepted=lambda t: 400)
        # budget = 0.05 * (400 + 600) = 50 errors among 400 -> 0.875
        assert required(0.5) == pytest.approx(0.875)

    def test_a_threshold_that_labels_nothing_needs_nothing(self):
        required = promise.requirement(promise.ALL_MACHINE_LABELS, 0.95, PromiseLedger(), human_labeled=0,
                                       pool_accepted=lambda t: 0)
        assert required(0.99) == float("-inf")

    def test_confidence_is_split_so_that_the_levels_sum_to_alpha(self):
        levels = [promise.iteration_alpha(promise.ALL_MACHINE_LABELS, 0.05, k) for k in range(10_000)]
        assert levels[0] == pytest.approx(0.025) and levels[1] == pytest.approx(0.05 / 6)
        assert sum(levels) < 0.05 and sum(levels) == pytest.approx(0.05, rel=1e-3)
        assert promise.iteration_alpha(promise.EACH_ITERATION, 0.05, 7) == 0.05

    def test_the_ledger_charges_what_the_test_showed(self):
        ledger = promise.spend(PromiseLedger(), pool_accepted=200, required=0.9)
        assert (ledger.tests, ledger.machine_accepted, ledger.error_bound) == (1, 200, pytest.approx(20.0))
        # A threshold that needed nothing may hold nothing but errors.
        assert promise.spend(ledger, pool_accepted=50, required=-3.0).error_bound == pytest.approx(70.0)
        assert promise.spend(ledger, pool_accepted=0, required=1.0).tests == 2


# --- The guarantee, by simulation -----------------------------------------------------------
#
# The model of test_threshold.py: confidence c uniform on [LOW, 1], right with probability c, so
# the true accuracy above t is (max(t, LOW) + 1) / 2. Each iteration has a fresh pool of POOL items
# (its counts from the closed form) and a fresh calibration sample; HUMANS items are human-labeled
# per iteration (right, as the promise assumes).

LOW, TARGET, CONFIDENCE, POOL, HUMANS, ITERATIONS = 0.3, 0.8, 0.9, 2000, 150, 4


def _accuracy_above(threshold):
    return (max(threshold, LOW) + 1) / 2


def _pool_above(threshold):
    return round(POOL * (1 - max(threshold, LOW)) / (1 - LOW))


def _point_estimate(calibration, required):
    """A broken search: the lowest threshold whose calibration accuracy (no bound) reaches required(t)."""
    scored, chosen = sorted(calibration, reverse=True), None
    for t in GRID:
        above = [right for c, right in scored if c >= t]
        if above and sum(above) / len(above) >= required(t):
            chosen = t
    return chosen


def _job(rng, name, *, bounded=True):
    """(errors, machine labels, human labels) of one simulated job under promise `name`."""
    ledger, errors, machine, humans = PromiseLedger(), 0.0, 0, 0
    for _ in range(ITERATIONS):
        humans += HUMANS
        calibration = [(c, rng.random() < c) for c in (rng.uniform(LOW, 1) for _ in range(100))]
        required = promise.requirement(name, TARGET, ledger, human_labeled=humans, pool_accepted=_pool_above)
        level = promise.iteration_alpha(name, 1 - CONFIDENCE, ledger.tests)
        threshold = (choose_threshold(calibration, TARGET, CONFIDENCE, alpha=level, required=required).threshold
                     if bounded else _point_estimate(calibration, required))
        accepted = _pool_above(threshold) if threshold is not None else 0
        errors += accepted * (1 - _accuracy_above(threshold)) if accepted else 0.0
        machine += accepted
        ledger = promise.spend(ledger, pool_accepted=accepted, required=required(threshold) if accepted else 1.0)
    return errors, machine, humans


def _misses(name, *, bounded=True, trials=300, seed=11):
    rng = random.Random(seed)
    misses = labeled = 0
    for _ in range(trials):
        errors, machine, humans = _job(rng, name, bounded=bounded)
        labeled += machine
        counted = machine + (humans if name == promise.WHOLE_DATASET else 0)
        misses += bool(machine) and errors > (1 - TARGET) * counted + 1e-9
    return misses, labeled / trials


ALLOWED = stats.binom.ppf(0.999, 300, 1 - CONFIDENCE)


@pytest.mark.parametrize("name", [promise.ALL_MACHINE_LABELS, promise.WHOLE_DATASET])
def test_job_level_promise_holds_with_the_stated_confidence(name):
    misses, labeled = _misses(name)
    assert misses <= ALLOWED, f"{misses}/300 jobs broke the {name} promise (allowed {ALLOWED:.0f})"
    assert labeled > POOL / 5  # not vacuous: it labels a good part of a pool on average


@pytest.mark.parametrize("name", [promise.ALL_MACHINE_LABELS, promise.WHOLE_DATASET])
def test_the_same_budget_without_a_confidence_bound_breaks_the_promise(name):
    # The simulation can tell a broken method: trusting the calibration accuracy against the budget.
    misses, _ = _misses(name, bounded=False)
    assert misses > ALLOWED


def test_whole_dataset_labels_more_than_all_machine_labels():
    _, whole = _misses(promise.WHOLE_DATASET, trials=60)
    _, machine = _misses(promise.ALL_MACHINE_LABELS, trials=60)
    assert whole > machine * 1.2


class TestDecide:
    """ComputeThreshold's decision (logic/iteration_threshold.py) under each promise."""

    CALIBRATION = [(0.99, True)] * 90 + [(0.6, True)] * 5 + [(0.6, False)] * 5
    POOL_CONFIDENCES = [0.99] * 900 + [0.6] * 100

    def _decide(self, name, human_labeled=150):
        ledger = PromiseLedger()
        settings = JobConfig(TaskType="text-classification", Promise=name)
        read = []
        decision = decide(label_kind("classification"), self.CALIBRATION, settings, ledger,
                          human_labeled=human_labeled,
                          pool_confidences=lambda: read.append(1) or iter(self.POOL_CONFIDENCES), order_seed="test")
        return decision, read

    def test_each_iteration_reads_no_pool_and_spends_nothing(self):
        decision, read = self._decide(promise.EACH_ITERATION)
        assert read == [] and decision.ledger == PromiseLedger()
        assert decision.threshold.promise == promise.EACH_ITERATION and decision.threshold.alpha == pytest.approx(0.05)
        assert decision.threshold.value is not None and decision.threshold.pool_accepted is None

    def test_all_machine_labels_records_its_spending_and_the_per_iteration_choice(self):
        decision, read = self._decide(promise.ALL_MACHINE_LABELS)
        threshold = decision.threshold
        assert read == [1] and threshold.alpha == pytest.approx(0.025)
        assert threshold.pool_accepted == sum(c >= threshold.value for c in self.POOL_CONFIDENCES)
        assert threshold.each_iteration_pool_accepted >= threshold.pool_accepted
        assert decision.ledger.tests == 1 and decision.ledger.machine_accepted == threshold.pool_accepted
        assert decision.ledger.error_bound == pytest.approx(threshold.error_bound)
        assert decision.details["promise"] == promise.ALL_MACHINE_LABELS

    def test_whole_dataset_accepts_the_uncertain_items_that_human_labels_make_up_for(self):
        # 90% right at 0.6: below the 95% target on their own, within it beside 3,000 human labels.
        per_machine, _ = self._decide(promise.ALL_MACHINE_LABELS, human_labeled=3000)
        whole, _ = self._decide(promise.WHOLE_DATASET, human_labeled=3000)
        assert per_machine.threshold.pool_accepted == 900
        assert whole.threshold.pool_accepted == 1000


def test_grid_is_the_threshold_grid():
    assert set(grid_tally([0.5])) == set(GRID)


class TestReport:
    ROWS = [{"threshold": {"poolAccepted": 800, "errorBound": 30.0, "eachIterationPoolAccepted": 900,
                           "alpha": 0.025}},
            {"threshold": None},
            {"threshold": {"poolAccepted": 200, "errorBound": 15.0, "eachIterationPoolAccepted": 150,
                           "alpha": 0.05 / 6}}]

    def test_all_machine_labels_certifies_the_loops_machine_labels(self):
        counters = Counters(TotalLabeled=2000, HumanLabeled=1000, MachineLabeled=1000)
        kept = kept_promise(self.ROWS, counters, promise.ALL_MACHINE_LABELS)
        assert kept["certifiedMachineLabels"] == 1000 and kept["errorBound"] == 45.0
        assert kept["certifiedLowerBound"] == pytest.approx(1 - 45 / 1000)
        assert kept["eachIterationWouldHaveLabeled"] == 1050
        assert kept["confidenceSpent"] == [0.025, pytest.approx(0.05 / 6)]

    def test_whole_dataset_certifies_every_label(self):
        counters = Counters(TotalLabeled=2000, HumanLabeled=1000, MachineLabeled=1000)
        kept = kept_promise(self.ROWS, counters, promise.WHOLE_DATASET)
        assert kept["certifiedLowerBound"] == pytest.approx(1 - 45 / 2000)

    def test_each_iteration_names_itself_only(self):
        assert kept_promise(self.ROWS, Counters(), promise.EACH_ITERATION) == {"kept": promise.EACH_ITERATION}


def test_a_search_that_could_test_nothing_spends_no_confidence():
    settings = JobConfig(TaskType="text-classification", Promise=promise.ALL_MACHINE_LABELS)
    too_few = [(0.99, True)] * 10  # fewer than any test at the target needs
    decision = decide(label_kind("classification"), too_few, settings, PromiseLedger(), human_labeled=100,
                      pool_confidences=lambda: iter([0.99] * 50), order_seed="test")
    assert decision.threshold.value is None and decision.ledger.tests == 0
