"""report.json: the per-iteration table, totals, the accuracy promise and the cost (logic/report.py)."""

import json

import pytest

from labeling.logic.output import Counters
from labeling.logic.report import INSTANCE_HOURS_ARE, IterationLabels, build_report
from labeling.models.job import JobConfig
from labeling.models.state import ActiveLearningModel
from labeling.task_types import task_type

TEXT = task_type("text-classification")
SETTINGS = JobConfig(TaskType="text-classification", LabelAttributeName="topic", HumanPricePerAnswerUSD=0.08)


def summary(k, *, threshold=None, accuracy=None, bound=0.0, accepted=0, training=0.0, transform=0.0):
    """An iteration summary as ApplyThreshold writes it (activelearning/iteration-k/summary.json)."""
    return {
        "iteration": k, "humanBatch": 200, "calibrationSampleSize": 100,
        "threshold": {"value": threshold, "calibrationSize": 100, "calibrationAccepted": accepted,
                      "measure": "accuracy", "estimate": accuracy, "lowerBound": bound},
        "machineLabeled": 0, "leftUnlabeled": 0, "trainingSeconds": training, "transformSeconds": transform,
    }


# 1,600 items: no threshold passes after iteration 0, the model labels 700 and 300 items after
# iterations 1 and 2, and humans label the last 50 alone (too few left to calibrate on).
LABELS = [
    IterationLabels(human=200, human_answers=200, machine=0),
    IterationLabels(human=200, human_answers=200, machine=700),
    IterationLabels(human=150, human_answers=150, machine=300),
    IterationLabels(human=50, human_answers=50, machine=0),
]
SUMMARIES = [
    summary(0, training=900, transform=180),
    summary(1, threshold=0.9, accuracy=0.98, bound=0.955, accepted=60, training=1800, transform=360),
    summary(2, threshold=0.85, accuracy=0.96, bound=0.951, accepted=75, training=900, transform=180),
    None,
]
COUNTERS = Counters(TotalLabeled=1600, HumanLabeled=600, MachineLabeled=1000)


def report(**overrides):
    args = dict(job_name="bbc-news", settings=SETTINGS, task=TEXT, automated=True, counters=COUNTERS,
                labels=LABELS, summaries=SUMMARIES)
    args.update(overrides)
    return build_report(**args)


class TestIterationTable:
    def test_one_row_per_iteration_with_who_labeled_what_and_the_threshold(self):
        rows = report()["iterations"]
        assert [row["iteration"] for row in rows] == [0, 1, 2, 3]
        assert rows[1] == {
            "iteration": 1, "humanLabeled": 200, "calibrationSampleSize": 100, "humanAnswers": 200,
            "modelTrained": True, "initialModel": False, "machineLabeled": 700,
            "threshold": {"value": 0.9, "calibrationSize": 100, "calibrationAccepted": 60,
                          "measure": "accuracy", "estimate": 0.98, "lowerBound": 0.955},
            "leftUnlabeled": 500, "trainingSeconds": 1800, "transformSeconds": 360,
        }

    def test_iteration_without_a_model_is_labeled_by_humans_alone(self):
        last = report()["iterations"][3]
        assert last["modelTrained"] is False and last["threshold"] is None
        assert last["humanLabeled"] == 50 and last["calibrationSampleSize"] == 0 and last["machineLabeled"] == 0
        assert last["trainingSeconds"] == last["transformSeconds"] == 0.0

    def test_iteration_where_no_threshold_passed_keeps_its_decision(self):
        first = report()["iterations"][0]
        assert first["modelTrained"] is True and first["machineLabeled"] == 0
        assert first["threshold"]["value"] is None and first["threshold"]["estimate"] is None

    def test_left_unlabeled_counts_down_to_what_the_counters_leave(self):
        assert [row["leftUnlabeled"] for row in report()["iterations"]] == [1400, 500, 50, 0]
        stopped = report(labels=LABELS[:3], summaries=SUMMARIES[:3], stop_reason="MaxHumanLabeledObjectCount",
                         counters=Counters(TotalLabeled=1550, HumanLabeled=550, MachineLabeled=1000, Unlabeled=50))
        assert stopped["iterations"][-1]["leftUnlabeled"] == stopped["counters"]["Unlabeled"] == 50

    def test_an_iteration_a_stopping_condition_cut_off_before_its_batch_has_no_row(self):
        counters = Counters(TotalLabeled=1550, HumanLabeled=550, MachineLabeled=1000, Unlabeled=50)
        stopped = report(labels=[*LABELS[:3], IterationLabels()], summaries=[*SUMMARIES[:3], None],
                         counters=counters, stop_reason="MaxHumanLabeledObjectCount")
        assert [row["iteration"] for row in stopped["iterations"]] == [0, 1, 2]
        assert stopped["totals"]["iterations"] == 3

    def test_totals_agree_with_the_counters(self):
        result = report()
        totals = result["totals"]
        assert totals == {
            "iterations": 4, "modelsTrained": 3, "humanLabeled": 600, "calibrationSampleSize": 300,
            "humanAnswers": 600, "machineLabeled": 1000, "trainingSeconds": 3600, "transformSeconds": 720,
        }
        assert totals["humanLabeled"] == result["counters"]["HumanLabeled"]
        assert totals["machineLabeled"] == result["counters"]["MachineLabeled"]

    def test_labels_are_counted_per_iteration_as_they_stream_past(self):
        tally = IterationLabels()
        records = [{"id": 0, "human": True, "workers": 3}, {"id": 1, "human": False}, {"id": 2, "human": True}]
        assert list(tally.counting(records)) == records
        assert tally == IterationLabels(human=2, human_answers=3, machine=1)


class TestStatus:
    def test_names_the_job_and_its_settings(self):
        result = report()
        assert result["job"] == "bbc-news"
        assert result["status"] == "Completed" and result["stopReason"] is None
        assert result["taskType"] == "text-classification"
        assert result["labelAttributeName"] == "topic"
        assert result["automatedLabeling"] is True
        assert result["settings"] == SETTINGS.model_dump()

    def test_a_stopping_condition_makes_the_job_stopped_with_its_reason(self):
        result = report(stop_reason="MaxPercentageOfInputDatasetLabeled")
        assert result["status"] == "Stopped"
        assert result["stopReason"] == "MaxPercentageOfInputDatasetLabeled"

    def test_reports_ground_truths_counters(self):
        assert report()["counters"] == {
            "TotalLabeled": 1600, "HumanLabeled": 600, "MachineLabeled": 1000,
            "FailedNonRetryableError": 0, "Unlabeled": 0,
        }

    def test_report_is_json_serializable(self):
        result = report()
        assert json.loads(json.dumps(result)) == result


class TestAccuracy:
    def test_machine_accuracy_is_weighted_by_labels_per_iteration(self):
        accuracy = report()["promise"]
        assert accuracy["target"] == 0.95 and accuracy["confidenceLevel"] == 0.95
        assert accuracy["machineLabelsEstimated"] == pytest.approx((0.98 * 700 + 0.96 * 300) / 1000)
        assert accuracy["machineLabelsLowerBound"] == pytest.approx((0.955 * 700 + 0.951 * 300) / 1000)
        assert accuracy["lowestIterationLowerBound"] == 0.951
        # Human labels count as correct.
        assert accuracy["overallEstimated"] == pytest.approx((600 + 0.974 * 1000) / 1600)

    def test_all_human_job_has_no_machine_estimate(self):
        result = report(automated=False, counters=Counters(TotalLabeled=500, HumanLabeled=500),
                        labels=[IterationLabels(human=500, human_answers=500)], summaries=[None])
        assert result["automatedLabeling"] is False
        accuracy = result["promise"]
        assert accuracy["machineLabelsEstimated"] is None and accuracy["machineLabelsLowerBound"] is None
        assert accuracy["lowestIterationLowerBound"] is None
        assert accuracy["overallEstimated"] == 1.0

    def test_empty_job_does_not_divide_by_zero(self):
        result = report(counters=Counters(), labels=[], summaries=[])
        assert result["promise"]["overallEstimated"] == 0.0
        assert result["cost"]["totalUSD"] == 0.0 and result["totals"]["iterations"] == 0


class TestCost:
    def test_humans_and_each_pinned_instance_type_against_an_all_human_job(self):
        # 3,600 s training and 720 s transform at the text-classification prices.
        assert report()["cost"] == {
            "humanAnswers": 600,
            "humanPricePerAnswerUSD": 0.08,
            "humanUSD": 48.0,
            "instances": [
                {"job": "training", "instanceType": "ml.c5.2xlarge", "instanceHours": 1.0,
                 "onDemandUSDPerHour": 0.408, "costUSD": 0.408},
                {"job": "transform", "instanceType": "ml.m4.xlarge", "instanceHours": 0.2,
                 "onDemandUSDPerHour": 0.24, "costUSD": 0.048},
            ],
            "instanceHoursAre": INSTANCE_HOURS_ARE,
            "totalUSD": 48.456,
            "allHumanAnswers": 1600,
            "allHumanUSD": 128.0,
            "savedUSD": 79.544,
        }

    def test_prices_come_from_the_task_type_table(self):
        for name in ("image-classification", "object-detection", "text-classification"):
            task = task_type(name)
            settings = JobConfig(TaskType=name)
            training, transform = report(settings=settings, task=task)["cost"]["instances"]
            assert (training["instanceType"], training["onDemandUSDPerHour"]) == (
                task.training_instance, task.training_usd_per_hour)
            assert (transform["instanceType"], transform["onDemandUSDPerHour"]) == (
                task.inference_instance, task.inference_usd_per_hour)
            assert training["costUSD"] == pytest.approx(1.0 * task.training_usd_per_hour)
            assert transform["costUSD"] == pytest.approx(0.2 * task.inference_usd_per_hour)

    def test_all_human_cost_counts_every_worker_per_item(self):
        settings = JobConfig(TaskType="image-classification", NumberOfHumanWorkersPerDataObject=3,
                             HumanPricePerAnswerUSD=0.1)
        labels = [IterationLabels(human=t.human, human_answers=3 * t.human, machine=t.machine) for t in LABELS]
        cost = report(settings=settings, task=task_type("image-classification"), labels=labels)["cost"]
        assert cost["humanAnswers"] == 1800
        assert cost["humanUSD"] == pytest.approx(180.0)
        assert cost["allHumanAnswers"] == 1600 * 3
        assert cost["allHumanUSD"] == pytest.approx(1600 * 3 * 0.1)
        assert cost["savedUSD"] == pytest.approx(480 - 180 - 3.825 - 0.2 * 0.204)

    def test_a_stopped_job_is_compared_with_labeling_the_same_items_by_hand(self):
        counters = Counters(TotalLabeled=1550, HumanLabeled=550, MachineLabeled=1000, Unlabeled=50)
        cost = report(counters=counters, labels=LABELS[:3], summaries=SUMMARIES[:3], stop_reason="X")["cost"]
        assert cost["allHumanAnswers"] == 1550
        assert cost["humanAnswers"] == 550


MODEL = ActiveLearningModel(
    iteration=2, modelName="bbc-news-a1b2c3-2-model",
    modelArn="arn:aws:sagemaker:us-east-1:123456789012:model/bbc-news-a1b2c3-2-model",
    modelArtifacts="s3://jobs-bucket/jobs/bbc-news/output/training/models/bbc-news-a1b2c3-2-train/output/model.tar.gz",
)


class TestFinalModel:
    def test_names_the_last_model_as_ground_truths_final_active_learning_model(self):
        result = report(final_model=MODEL, label_names=["business", "sport"],
                        output_manifest_uri="s3://jobs-bucket/jobs/bbc-news/output/manifests/output/output.manifest")
        assert result["finalActiveLearningModel"] == {
            "iteration": 2, "modelName": "bbc-news-a1b2c3-2-model", "modelArn": MODEL.model_arn,
            "modelArtifacts": MODEL.model_artifacts, "taskType": "text-classification",
            "inferenceInstanceType": "ml.m4.xlarge",  # the task-type table's, where the transforms ran
        }
        assert result["labelingJobOutput"] == {
            "outputDatasetS3Uri": "s3://jobs-bucket/jobs/bbc-news/output/manifests/output/output.manifest",
            "finalActiveLearningModelArn": MODEL.model_arn,
        }
        assert result["labelNames"] == ["business", "sport"]

    def test_a_job_without_a_model_names_none(self):
        result = report(automated=False, final_model=None)
        assert result["finalActiveLearningModel"] is None
        assert result["labelingJobOutput"]["finalActiveLearningModelArn"] is None

    def test_an_iteration_the_initial_model_labeled_trained_no_model(self):
        summaries = [{**SUMMARIES[0], "initialModel": True}, *SUMMARIES[1:]]
        result = report(summaries=summaries)
        first = result["iterations"][0]
        assert first["modelTrained"] is False and first["initialModel"] is True
        assert result["totals"]["modelsTrained"] == 2
