"""Object detection's labels: workers' boxes consolidated, answers checked, Ground Truth's bounding-box
output, the mean-IoU promise in the report (logic/box_consolidation.py, logic/label_kinds.py)."""

import itertools
import json
import random

import pytest

from autolabel.images import write_shapes
from autolabel.localcloud.workforce import AnswersError, load_answers
from labeling.logic.box_consolidation import consolidate_boxes
from labeling.logic.label_kinds import AnswerError, BoundingBoxes, label_kind, labels_of
from labeling.logic.output import Counters, output_lines
from labeling.logic.report import IterationLabels, build_report
from labeling.logic.report_plot import accuracy_coverage_figure
from labeling.logic.report_summary import markdown
from labeling.models.job import JobConfig
from labeling.task_types import task_type

DETECTION = task_type("object-detection")
NAMES = ["circle", "square", "triangle"]
BOXES = BoundingBoxes()


def box(class_id, left, top, width, height):
    return {"class_id": class_id, "left": left, "top": top, "width": width, "height": height}


class TestConsolidation:
    def test_one_workers_boxes_are_the_label_each_drawn_by_every_worker(self):
        drawn = [box(0, 10, 10, 20, 20), box(2, 60, 60, 30, 25)]
        result = consolidate_boxes({"w1": drawn})
        assert result.annotations == drawn and result.confidences == [1.0, 1.0]
        assert result.image_confidence == 1.0

    def test_boxes_of_one_object_become_their_mean_box_with_the_share_of_workers_who_drew_it(self):
        result = consolidate_boxes({
            "w1": [box(1, 10, 10, 20, 20)],
            "w2": [box(1, 12, 10, 20, 22)],
            "w3": [],
        })
        assert result.annotations == [box(1, 11, 10, 20, 21)]
        assert result.confidences == [pytest.approx(2 / 3, abs=1e-4)]
        assert result.image_confidence == pytest.approx(2 / 3, abs=1e-4)

    def test_a_box_only_a_minority_drew_is_dropped(self):
        result = consolidate_boxes({
            "w1": [box(0, 10, 10, 20, 20), box(0, 80, 80, 10, 10)],
            "w2": [box(0, 11, 11, 20, 20)],
            "w3": [box(0, 10, 12, 20, 20)],
        })
        assert len(result.annotations) == 1 and result.confidences == [1.0]

    def test_overlapping_boxes_of_different_classes_stay_apart(self):
        result = consolidate_boxes({"w1": [box(0, 10, 10, 20, 20)], "w2": [box(1, 10, 10, 20, 20)]})
        assert sorted(a["class_id"] for a in result.annotations) == [0, 1]
        assert result.confidences == [0.5, 0.5]

    def test_result_does_not_depend_on_the_order_answers_arrived_in(self):
        answers = {"w1": [box(0, 10, 10, 20, 20)], "w2": [box(0, 14, 10, 20, 20)], "w3": [box(0, 9, 9, 22, 22)]}
        results = {
            repr(consolidate_boxes(dict(order)))
            for order in itertools.permutations(answers.items())
        }
        assert len(results) == 1

    def test_no_answers_is_an_error(self):
        with pytest.raises(ValueError, match="no answers"):
            consolidate_boxes({})


class TestWorkerAnswers:
    def answer(self, boxes, size=(128, 96)):
        return {"boundingBoxes": boxes, "inputImageProperties": {"width": size[0], "height": size[1]}}

    def test_class_names_become_class_ids(self):
        stored = BOXES.answer(None, self.answer([{"label": "triangle", "left": 1, "top": 2, "width": 3,
                                                  "height": 4}]), NAMES)
        assert stored == {"boundingBoxes": [box(2, 1, 2, 3, 4)],
                          "inputImageProperties": {"width": 128, "height": 96}}

    def test_an_unknown_class_names_the_box_and_the_labels(self):
        with pytest.raises(AnswerError, match=r"box 2: label 'hexagon' is not one of \['circle'"):
            BOXES.answer(None, self.answer([{"label": "circle", "left": 0, "top": 0, "width": 5, "height": 5},
                                            {"label": "hexagon", "left": 0, "top": 0, "width": 5, "height": 5}]),
                         NAMES)

    def test_a_class_name_alone_is_not_a_box_answer(self):
        with pytest.raises(AnswerError, match="boundingBox"):
            BOXES.answer("circle", None, NAMES)

    def test_consolidated_label_is_ground_truths_attribute_value(self):
        stored = BOXES.answer(None, self.answer([{"label": "square", "left": 5, "top": 6, "width": 7,
                                                  "height": 8}]), NAMES)
        record = BOXES.consolidate({"w1": stored})
        assert record == {
            "label": {"image_size": [{"width": 128, "height": 96, "depth": 3}], "annotations": [box(1, 5, 6, 7, 8)]},
            "confidence": 1.0, "objects": [{"confidence": 1.0}],
        }


class TestCalibrationScore:
    def test_quality_of_the_models_boxes_against_the_human_boxes(self):
        human = {"annotations": [box(0, 0, 0, 10, 10), box(1, 50, 50, 10, 10)]}
        exact = {"label": {"annotations": human["annotations"]}, "confidence": 0.9}
        half = {"label": {"annotations": [box(0, 0, 0, 10, 10)]}, "confidence": 0.9}
        assert BOXES.calibration_score(human, exact) == 1.0
        assert BOXES.calibration_score(human, half) == 0.5

    def test_ambiguity_is_what_the_model_is_unsure_of_whatever_the_strategy(self):
        assert BOXES.ambiguity({"confidence": 0.8}, "margin") == pytest.approx(0.2)
        assert BOXES.ambiguity({"confidence": 0.8}, "entropy") == pytest.approx(0.2)


class TestOutput:
    def test_writes_ground_truths_bounding_box_format(self):
        image_size = [{"width": 128, "height": 128, "depth": 3}]
        labels = [
            {"id": 0, "label": {"image_size": image_size, "annotations": [box(0, 1, 2, 30, 40)]},
             "confidence": 1.0, "objects": [{"confidence": 1.0}], "human": True, "workers": 1,
             "createdAt": "2026-11-30T10:00:00.000000"},
            {"id": 1, "label": {"image_size": image_size, "annotations": [box(2, 5, 6, 7, 8), box(1, 50, 60, 20, 20)]},
             "confidence": 0.91, "objects": [{"confidence": 0.912345}, {"confidence": 0.97}], "human": False,
             "createdAt": "2026-11-30T11:00:00.000000"},
        ]
        manifest = ['{"source-ref": "s3://b/a.png"}', '{"source-ref": "s3://b/b.png", "keep": 1}']
        counters = Counters()
        out = list(output_lines(manifest, iter(labels), counters, attribute="bounding-box",
                                label_names=NAMES, task=DETECTION, job_name="shapes"))
        assert out[1] == {
            "source-ref": "s3://b/b.png", "keep": 1,
            "bounding-box": {"image_size": image_size, "annotations": [box(2, 5, 6, 7, 8), box(1, 50, 60, 20, 20)]},
            "bounding-box-metadata": {
                "objects": [{"confidence": 0.9123}, {"confidence": 0.97}],
                "class-map": {"1": "square", "2": "triangle"},  # the classes this image's boxes have
                "type": "groundtruth/object-detection", "job-name": "labeling-job/shapes",
                "human-annotated": "no", "creation-date": "2026-11-30T11:00:00.000000",
            },
        }
        assert out[0]["bounding-box-metadata"]["human-annotated"] == "yes"
        # One worker drew them: Ground Truth writes each box's confidence as 0.00.
        assert out[0]["bounding-box-metadata"]["objects"] == [{"confidence": 0.0}]
        assert out[0]["bounding-box-metadata"]["class-map"] == {"0": "circle"}
        assert (counters.HumanLabeled, counters.MachineLabeled) == (1, 1)


class TestReport:
    def report(self):
        settings = JobConfig(TaskType="object-detection", LabelAttributeName="bounding-box")
        summary = {"calibrationSampleSize": 100, "trainingSeconds": 60.0, "transformSeconds": 30.0,
                   "threshold": {"value": 0.7, "measure": "mean IoU", "calibrationSize": 100,
                                 "calibrationAccepted": 70, "estimate": 0.82, "lowerBound": 0.74}}
        return build_report(
            job_name="shapes", settings=settings, task=DETECTION, automated=True,
            counters=Counters(TotalLabeled=1500, HumanLabeled=500, MachineLabeled=1000),
            labels=[IterationLabels(human=250, human_answers=250, machine=1000),
                    IterationLabels(human=250, human_answers=250)],
            summaries=[summary, None],
        )

    def test_the_promise_is_about_mean_iou_against_its_own_target(self):
        promise = self.report()["promise"]
        assert promise["measure"] == "mean IoU" and promise["target"] == 0.6
        assert promise["machineLabelsEstimated"] == pytest.approx(0.82)
        assert label_kind(DETECTION.label_kind).target(JobConfig(TaskType="object-detection",
                                                                 TargetMeanIoU=0.7)) == 0.7

    def test_report_md_speaks_of_mean_iou_not_of_correct_labels(self):
        text = markdown(self.report())
        assert "## The mean IoU promise" in text
        assert ("Machine labels: 1,000 items, estimated mean IoU 0.820, at least 0.740 with 95% confidence "
                "per iteration (target 0.6)." in text)
        assert "| 0 | 250 | 100 | 1,000 | 0.7 | 0.820 | 0.740 | 70 / 100 |" in text
        assert "correct" not in text.split("## Iterations")[0]


class TestSimulatedWorkforceAnswers:
    def test_reads_ground_truths_boxes_as_the_bounding_box_tools_answer(self, tmp_path):
        paths = write_shapes(tmp_path, count=3, seed=1)
        answers = load_answers(paths["answers"], NAMES)
        assert len(answers) == 3
        first = next(iter(answers.values()))["boundingBox"]
        assert first["inputImageProperties"] == {"width": 128, "height": 128}
        assert first["boundingBoxes"] and all(b["label"] in NAMES for b in first["boundingBoxes"])
        stored = BOXES.answer(None, first, NAMES)
        assert all(0 <= b["left"] < 128 and b["width"] > 0 for b in stored["boundingBoxes"])

    def test_a_box_of_a_class_not_in_the_labels_is_named(self, tmp_path):
        answers = tmp_path / "answers.manifest"
        answers.write_text(json.dumps({
            "source-ref": "images/1.png",
            "bounding-box": {"image_size": [{"width": 64, "height": 64, "depth": 3}],
                             "annotations": [box(2, 1, 1, 9, 9)]},
            "bounding-box-metadata": {"class-map": {"2": "triangle"}, "objects": [{"confidence": 1.0}]},
        }) + "\n")
        with pytest.raises(AnswersError, match=r"answers line 1: 'triangle' is not one of the labels"):
            load_answers(answers, ["circle", "square"])


class TestThresholdDetails:
    def test_threshold_json_for_boxes_carries_the_mean_iou_curve_the_plot_draws(self):
        rng = random.Random(0)
        calibration = []
        for _ in range(150):
            confidence = rng.random()
            calibration.append((confidence, min(1.0, max(0.0, rng.gauss(0.4 + 0.6 * confidence, 0.1)))))
        settings = JobConfig(TaskType="object-detection")
        decision = BOXES.choose_threshold(calibration, settings)
        assert decision.threshold is not None and decision.estimate >= 0.6 and decision.lower_bound >= 0.6
        details = decision.as_json()
        assert details["measure"] == "mean IoU" and details["threshold"] == decision.threshold
        assert [point["value"] for point in details["curve"]] == [point.value for point in decision.curve]
        figure = accuracy_coverage_figure({0: details}, 0.6, 0.95, "mean IoU")
        axes = figure.axes[0]
        assert axes.get_ylabel().startswith("mean IoU")
        assert any(line.get_label() == "target mean IoU 0.60" for line in axes.get_lines())


def test_each_task_type_has_its_label_kind():
    assert labels_of("object-detection") is label_kind("bounding-box")
    assert labels_of("image-classification") is labels_of("text-classification") is label_kind("classification")
