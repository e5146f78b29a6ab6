"""The audit of a job's machine labels (logic/audit.py): its sample, its interval, its place in the report."""

from __future__ import annotations

import random
from collections import Counter
from functools import cache

import pytest

from labeling.logic import audit
from labeling.logic.label_kinds import label_kind
from labeling.logic.labels import merged_by_id
from labeling.logic.output import Counters, output_lines
from labeling.logic.report import IterationLabels
from labeling.logic.report_summary import markdown
from labeling.models.job import JobConfig
from labeling.task_types import task_type
from tests.unit.test_report import COUNTERS, SETTINGS, report

CLASSES, BOXES = label_kind("classification"), label_kind("bounding-box")


def _machine_labels(count: int) -> list[dict]:
    return [{"id": i, "label": i % 3, "confidence": 0.9, "human": False, "createdAt": "t"} for i in range(count)]


class TestSample:
    def test_its_size_is_the_setting_or_every_machine_label_when_there_are_fewer(self):
        labels = _machine_labels(30)
        assert len(audit.audit_sample(labels, 10, audit.audit_rng(0))) == 10
        assert audit.audit_sample(labels, 50, audit.audit_rng(0)) == labels

    def test_it_is_drawn_without_replacement_in_id_order_and_the_seed_fixes_it(self):
        labels = _machine_labels(200)
        sample = audit.audit_sample(labels, 40, audit.audit_rng(7))
        ids = [record["id"] for record in sample]
        assert ids == sorted(set(ids)) and len(ids) == 40
        assert audit.audit_sample(labels, 40, audit.audit_rng(7)) == sample
        assert audit.audit_sample(labels, 40, audit.audit_rng(8)) != sample

    def test_every_machine_label_is_equally_likely_to_be_checked(self):
        # 4,000 seeds, 5 of 20 labels: each label is drawn 1,000 times in expectation. Chi-square with
        # 19 degrees of freedom stays below 43.8 with probability 0.999 when the draw is uniform; a
        # sample favouring the first (or the last) labels of the stream is far above it.
        counts: Counter[int] = Counter()
        labels = _machine_labels(20)
        for seed in range(4000):
            counts.update(record["id"] for record in audit.audit_sample(labels, 5, audit.audit_rng(seed)))
        expected = 4000 * 5 / 20
        chi_square = sum((counts[i] - expected) ** 2 / expected for i in range(20))
        assert chi_square < 43.8, counts

    def test_pairs_are_equally_likely_too(self):
        # Uniform over subsets, not only over items: each of the 15 pairs of 6 labels is drawn
        # 3,000 / 15 = 200 times in expectation (chi-square, 14 degrees of freedom, 0.999: 36.1).
        labels = _machine_labels(6)
        pairs = Counter(tuple(r["id"] for r in audit.audit_sample(labels, 2, audit.audit_rng(seed)))
                        for seed in range(3000))
        assert len(pairs) == 15
        chi_square = sum((count - 200) ** 2 / 200 for count in pairs.values())
        assert chi_square < 36.1, pairs


class TestInterval:
    def test_clopper_pearson_matches_the_known_exact_values(self):
        # 0 of 10 at 95%: the upper bound is 1 - 0.025 ** (1 / 10); 10 of 10: the lower bound is 0.025 ** (1 / 10).
        assert audit.clopper_pearson_interval(0, 10, 0.95) == pytest.approx((0.0, 1 - 0.025 ** 0.1), abs=1e-9)
        assert audit.clopper_pearson_interval(10, 10, 0.95) == pytest.approx((0.025 ** 0.1, 1.0), abs=1e-9)
        # 45 of 50 (R's binom.test(45, 50)$conf.int: 0.7818 to 0.9667)
        assert audit.clopper_pearson_interval(45, 50, 0.95) == pytest.approx((0.7818, 0.9667), abs=1e-4)

    @pytest.mark.parametrize(("population", "sampled", "accuracy"), [
        (1000, 50, 0.9), (200, 100, 0.96), (60, 50, 0.5), (400, 30, 0.99),
    ])
    def test_the_class_interval_covers_the_machine_labels_accuracy_at_the_confidence_level(
            self, population, sampled, accuracy):
        # The accuracy of a finite set of machine labels, sampled without replacement as the audit does.
        level, runs = 0.9, 3000
        correct = [True] * round(population * accuracy) + [False] * (population - round(population * accuracy))
        truth = sum(correct) / population
        interval = cache(lambda agreed: audit.clopper_pearson_interval(agreed, sampled, level))
        rng = random.Random(1)
        below = above = 0
        for _ in range(runs):
            low, high = interval(sum(rng.sample(correct, sampled)))
            below += truth < low
            above += truth > high
        # Each side misses at most (1 - level) / 2 of the time (plus 3 standard errors of the simulation).
        slack = 3 * ((0.05 * 0.95) / runs) ** 0.5
        assert below / runs <= 0.05 + slack and above / runs <= 0.05 + slack, (below, above)

    @pytest.mark.parametrize("scores", ["steady", "zeros-and-ones", "skewed"])
    def test_the_box_interval_covers_the_machine_boxes_mean_quality_at_the_confidence_level(self, scores):
        level, runs, sampled = 0.9, 600, 40
        rng = random.Random(2)
        population = {
            "steady": [min(1.0, max(0.0, rng.gauss(0.75, 0.12))) for _ in range(500)],
            "zeros-and-ones": [float(rng.random() < 0.8) for _ in range(500)],
            "skewed": [0.0 if rng.random() < 0.15 else rng.betavariate(8, 2) for _ in range(500)],
        }[scores]
        truth = sum(population) / len(population)
        below = above = 0
        for _ in range(runs):
            low, high = audit.bounded_mean_interval(rng.sample(population, sampled), level)
            below += truth < low
            above += truth > high
        slack = 3 * ((0.05 * 0.95) / runs) ** 0.5
        assert below / runs <= 0.05 + slack and above / runs <= 0.05 + slack, (below, above)

    def test_a_larger_sample_narrows_the_interval(self):
        narrow = audit.clopper_pearson_interval(900, 1000, 0.95)
        wide = audit.clopper_pearson_interval(45, 50, 0.95)
        assert narrow[1] - narrow[0] < (wide[1] - wide[0]) / 3


class TestSummary:
    def test_classes_count_the_agreements(self):
        machine = {"label": 1, "confidence": 0.9, "human": False}
        assert audit.score(CLASSES, machine, {"label": 1}) == 1.0
        assert audit.score(CLASSES, machine, {"label": 2}) == 0.0
        summary = audit.audit_summary(CLASSES, [1.0] * 45 + [0.0] * 5, iteration=4, machine_labeled=900,
                                      confidence_level=0.95, human_answers=150, price_per_answer=0.08)
        assert (summary["sampleSize"], summary["agreed"], summary["estimate"]) == (50, 45, 0.9)
        assert (summary["lowerBound"], summary["upperBound"]) == pytest.approx((0.7818, 0.9667), abs=1e-4)
        assert summary["costUSD"] == 12.0 and summary["machineLabeled"] == 900

    def test_boxes_score_the_image_quality_against_the_human_boxes(self):
        box = {"class_id": 0, "left": 0, "top": 0, "width": 10, "height": 10}
        half = {**box, "width": 5}
        machine = {"label": {"annotations": [half]}, "confidence": 0.8, "objects": [{"confidence": 0.8}]}
        assert audit.score(BOXES, machine, {"label": {"annotations": [box]}}) == pytest.approx(0.5)
        summary = audit.audit_summary(BOXES, [0.5, 1.0, 0.9, 0.6], iteration=2, machine_labeled=10,
                                      confidence_level=0.9, human_answers=4, price_per_answer=0.1)
        assert summary["agreed"] is None and summary["meanImageQuality"] == pytest.approx(0.75)
        assert summary["lowerBound"] < 0.75 < summary["upperBound"]


SUMMARY = audit.audit_summary(CLASSES, [1.0] * 47 + [0.0] * 3, iteration=4, machine_labeled=1000,
                              confidence_level=0.95, human_answers=50, price_per_answer=0.08)
AUDITED = JobConfig(**{**SETTINGS.model_dump(), "AuditSampleSize": 50})


class TestReport:
    def test_the_audit_sits_next_to_the_promise_with_its_interval_and_its_cost(self):
        audited = report(settings=AUDITED, audit=SUMMARY)
        keys = list(audited)
        assert keys.index("audit") == keys.index("promise") + 1
        section = audited["audit"]
        assert section["status"] == "Completed" and section["requested"] == 50
        assert (section["sampleSize"], section["agreed"], section["estimate"]) == (50, 47, 0.94)
        assert section["lowerBound"] < 0.94 < section["upperBound"] and section["confidenceLevel"] == 0.95
        assert "before the audit replaced the audited ones" in section["intervalIsAbout"]
        # The audit's answers are paid: in the job's cost beside the loop's.
        assert audited["cost"]["humanAnswers"] == report()["cost"]["humanAnswers"] + 50
        assert audited["cost"]["humanUSD"] == pytest.approx(report()["cost"]["humanUSD"] + 4.0)

    def test_report_md_states_the_audit_in_words(self):
        text = markdown(report(settings=AUDITED, audit=SUMMARY))
        assert ("Audit: humans checked 50 machine labels drawn uniformly at random from the 1,000 the loop "
                "produced; humans agreed with 47 of them. Estimated accuracy of those machine labels: 94.0%, "
                "between 83.5% and 98.7% with 95% confidence") in text
        assert "The interval is about the machine labels as the labeling loop produced them" in text
        assert "The audit cost 50 human answers, $4.00" in text

    def test_a_job_without_an_audit_says_nothing_of_one(self):
        assert report()["audit"] is None
        assert "Audit" not in markdown(report())

    def test_a_human_only_job_has_no_machine_labels_to_audit(self):
        human_only = report(settings=AUDITED, automated=False, counters=Counters(TotalLabeled=60, HumanLabeled=60),
                            labels=[IterationLabels(human=60, human_answers=60)], summaries=[None])
        assert human_only["audit"] == {"requested": 50, "status": "Skipped", "reason": "no machine labels to audit",
                                       "sampleSize": 0}
        assert "Audit: no machine labels to audit." in markdown(human_only)

    def test_a_job_that_ended_during_its_audit_says_so(self):
        ended = report(settings=AUDITED, status="Stopped", counters=COUNTERS)
        assert ended["audit"]["status"] == "NotFinished"
        assert "resuming the job finishes the audit" in markdown(ended)


def test_the_audits_human_labels_replace_the_machine_labels_they_checked_in_the_output():
    text = task_type("text-classification")
    machine = [{"id": i, "label": 0, "confidence": 0.9, "human": False, "createdAt": "t"} for i in (1, 2, 3)]
    human = [{"id": 0, "label": 1, "confidence": 1.0, "human": True, "workers": 1, "createdAt": "t"}]
    checked = [{"id": 2, "label": 1, "confidence": 1.0, "human": True, "workers": 1, "createdAt": "t"}]
    counters = Counters()
    lines = list(output_lines(
        [f'{{"source": "item {i}"}}' for i in range(4)],
        merged_by_id(audit.replaced_by_audit(human, {2}), audit.replaced_by_audit(machine, {2}), iter(checked)),
        counters, attribute="label", label_names=["a", "b"], task=text, job_name="j"))
    assert [line["label-metadata"]["human-annotated"] for line in lines] == ["yes", "no", "yes", "no"]
    assert lines[2]["label"] == 1 and lines[2]["label-metadata"]["class-name"] == "b"
    assert (counters.HumanLabeled, counters.MachineLabeled, counters.TotalLabeled) == (2, 2, 4)
