"""Ground Truth's stopping conditions: when the loop ends early, and what the output says about
the items it left unlabeled (logic/stopping.py, logic/output.py)."""

import json

import pytest

from labeling.logic.output import Counters, MissingLabelError, output_lines
from labeling.logic.stopping import (
    MAX_HUMAN_LABELED,
    MAX_PERCENTAGE_LABELED,
    human_budget,
    next_batch_or_stop,
    percentage_reached,
)
from labeling.models.job import LabelingJobStoppingConditions as Conditions
from labeling.task_types import task_type


class TestHumanBudget:
    def test_is_what_is_left_of_the_cap(self):
        conditions = Conditions(MaxHumanLabeledObjectCount=500)
        assert human_budget(conditions, 0) == 500
        assert human_budget(conditions, 350) == 150
        assert human_budget(conditions, 500) == 0
        assert human_budget(conditions, 620) == 0  # never negative

    def test_no_cap_no_budget(self):
        assert human_budget(None, 10_000) is None
        assert human_budget(Conditions(MaxPercentageOfInputDatasetLabeled=50), 10_000) is None


class TestPercentage:
    def test_reached_at_exactly_the_percentage(self):
        conditions = Conditions(MaxPercentageOfInputDatasetLabeled=80)
        assert not percentage_reached(conditions, 1599, 2000)
        assert percentage_reached(conditions, 1600, 2000)
        assert percentage_reached(conditions, 1601, 2000)

    def test_no_rounding_at_the_boundary(self):
        # 1 of 3 is 33.33...%: it reaches 33 but not 34.
        assert percentage_reached(Conditions(MaxPercentageOfInputDatasetLabeled=33), 1, 3)
        assert not percentage_reached(Conditions(MaxPercentageOfInputDatasetLabeled=34), 1, 3)

    def test_without_the_condition_never_reached(self):
        assert not percentage_reached(None, 100, 100)
        assert not percentage_reached(Conditions(MaxHumanLabeledObjectCount=5), 100, 100)


class TestNextBatchOrStop:
    BATCH = [{"id": 7, "role": "train"}]

    def decide(self, conditions, *, human=0, machine=0, total=2000, unlabeled=1000, batch=BATCH):
        budgets = []

        def select(budget):
            budgets.append(budget)
            return batch if budget is None else batch[:budget]

        result = next_batch_or_stop(conditions, human_labeled=human, machine_labeled=machine, total=total,
                                    unlabeled=unlabeled, select=select)
        return result, budgets

    def test_without_conditions_the_batch_goes_out(self):
        assert self.decide(None) == ((self.BATCH, None), [None])

    def test_the_budget_left_is_handed_to_the_batch_choice(self):
        (batch, reason), budgets = self.decide(Conditions(MaxHumanLabeledObjectCount=400), human=250)
        assert (batch, reason, budgets) == (self.BATCH, None, [150])

    def test_a_spent_budget_with_items_left_stops_the_job(self):
        (batch, reason), _ = self.decide(Conditions(MaxHumanLabeledObjectCount=250), human=250)
        assert (batch, reason) == ([], MAX_HUMAN_LABELED)

    def test_enough_labeled_stops_the_job_before_any_batch_is_chosen(self):
        (batch, reason), budgets = self.decide(Conditions(MaxPercentageOfInputDatasetLabeled=60),
                                               human=300, machine=900, unlabeled=800)
        assert (batch, reason, budgets) == ([], MAX_PERCENTAGE_LABELED, [])

    def test_below_the_percentage_the_job_goes_on(self):
        (batch, reason), _ = self.decide(Conditions(MaxPercentageOfInputDatasetLabeled=60),
                                         human=300, machine=899, unlabeled=801)
        assert (batch, reason) == (self.BATCH, None)

    def test_a_job_with_nothing_left_completes_without_a_stop_reason(self):
        conditions = Conditions(MaxHumanLabeledObjectCount=250, MaxPercentageOfInputDatasetLabeled=50)
        (batch, reason), _ = self.decide(conditions, human=250, machine=1750, unlabeled=0, batch=[])
        assert (batch, reason) == ([], None)


# --- the output manifest of a stopped job --------------------------------------------------------------------

TEXT = task_type("text-classification")
FMT = dict(attribute="topic", label_names=["business", "sport", "tech"], task=TEXT, job_name="bbc-news")
MANIFEST = [
    '{"source": "Shares fell sharply.", "origin": "bbc"}',
    '{"source": "United won 2-0.", "topic": 2}',
    '{"source": "A new phone was launched."}',
]


def label(item_id, value, human):
    return {"id": item_id, "label": value, "confidence": 0.97, "human": human,
            "createdAt": "2026-03-01T10:00:00.000000"}


def lines(labels, counters, **extra):
    return list(output_lines(MANIFEST, iter(labels), counters, **FMT, **extra))


class TestUnlabeledOutput:
    def test_items_left_unlabeled_keep_their_input_and_carry_the_failure_reason(self):
        counters = Counters()
        out = lines([label(0, 0, True), label(2, 2, False)], counters, stop_reason=MAX_HUMAN_LABELED)
        assert [line.get("topic") for line in out] == [0, None, 2]
        assert out[1] == {
            "source": "United won 2-0.",  # a stale "topic" in the input is not this job's label: dropped
            "topic-metadata": {
                "failure-reason": "StoppingConditionMet: the labeling job stopped at its stopping condition "
                                  "MaxHumanLabeledObjectCount before this object was labeled",
                "type": "groundtruth/text-classification",
                "job-name": "labeling-job/bbc-news",
            },
        }
        assert json.loads(json.dumps(out)) == out

    def test_counters_count_them_as_unlabeled(self):
        counters = Counters()
        lines([label(1, 1, False)], counters, stop_reason=MAX_PERCENTAGE_LABELED)
        assert counters == Counters(TotalLabeled=1, HumanLabeled=0, MachineLabeled=1, Unlabeled=2)

    def test_without_a_stop_a_missing_label_is_still_an_error(self):
        with pytest.raises(MissingLabelError, match=r"^item 1 \(input line 2\)"):
            lines([label(0, 0, True), label(2, 2, False)], Counters())

    def test_a_label_for_no_input_line_is_still_an_error(self):
        with pytest.raises(MissingLabelError, match=r"^label for item 3 matches no input line$"):
            lines([label(0, 0, True), label(3, 1, True)], Counters(), stop_reason=MAX_HUMAN_LABELED)
