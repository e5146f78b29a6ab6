"""job.json's InitialActiveLearningModelArn: the setting, ValidateJob's check of the model it names
(logic/initial_model.py, dal/job_reports.py), and the first model iteration that uses it (sagemaker_step)."""

from __future__ import annotations

import json

import boto3
import pytest
from moto import mock_aws

from labeling.dal import job_reports
from labeling.layout import JobLayout
from labeling.logic.initial_model import earlier_job, initial_model
from labeling.logic.job_setup import JobSetupError, parse_job_config
from labeling.logic.resume import NEXT_STATE, resumed_state
from labeling.logic.sagemaker_step import job_of_model, name_base, sagemaker_step
from labeling.models.state import ActiveLearningModel, CreatedModel, JobState, SageMakerRun

BUCKET = "jobs-bucket"
NAME = "BBC-News-a1b2c3-3-r1-model"
# SageMaker writes the model's name in lower case in its ARN.
ARN = f"arn:aws:sagemaker:us-east-1:123456789012:model/{NAME.lower()}"
ARTIFACTS = f"s3://{BUCKET}/jobs/BBC-News/output/training/models/BBC-News-a1b2c3-3-r1-train/output/model.tar.gz"
LABELS = ["business", "sport", "tech"]
CONFIG = parse_job_config({"TaskType": "text-classification", "InitialActiveLearningModelArn": ARN}, "job.json")


def earlier_report(**overrides) -> dict:
    """The parts of the earlier job's report.json (logic/report.py) that the check reads."""
    final = {"iteration": 3, "modelName": NAME, "modelArn": ARN, "modelArtifacts": ARTIFACTS,
             "taskType": "text-classification", "inferenceInstanceType": "ml.m4.xlarge"}
    return {"job": "BBC-News", "taskType": "text-classification", "labelNames": LABELS,
            "finalActiveLearningModel": final, **overrides}


class TestSetting:
    def test_is_optional(self):
        assert parse_job_config({"TaskType": "text-classification"}, "job.json").InitialActiveLearningModelArn is None

    @pytest.mark.parametrize("value", [
        "bbc-news-a1b2c3-3-model",  # a name, not an ARN
        "arn:aws:sagemaker:us-east-1:123456789012:training-job/bbc-news-a1b2c3-3-train",
        "arn:aws:sagemaker:us-east-1:1234:model/m",
    ])
    def test_must_be_a_sagemaker_model_arn(self, value):
        with pytest.raises(JobSetupError, match="job.json is invalid: InitialActiveLearningModelArn"):
            parse_job_config({"TaskType": "text-classification", "InitialActiveLearningModelArn": value}, "job.json")


class TestCheck:
    def test_the_final_model_of_an_earlier_job_with_the_same_labels_is_used_as_its_report_names_it(self):
        model = initial_model(ARN, earlier_report(), CONFIG, LABELS, "jobs/next/job.json")
        assert model == ActiveLearningModel(iteration=3, modelName=NAME, modelArn=ARN, modelArtifacts=ARTIFACTS)

    def test_the_job_is_found_from_the_model_name_this_stack_gives(self):
        assert earlier_job(ARN, "job.json") == "bbc-news"
        state = _state()
        assert job_of_model(f"{name_base(state)}-model") == "my-news-job"

    def test_a_model_this_stack_did_not_name_is_refused(self):
        arn = "arn:aws:sagemaker:us-east-1:123456789012:model/my-xgboost"
        with pytest.raises(JobSetupError, match=r"jobs/next/job.json: InitialActiveLearningModelArn .*my-xgboost "
                                                r"is no model this stack made.*remove InitialActiveLearningModelArn"):
            earlier_job(arn, "jobs/next/job.json")

    def test_a_model_whose_job_left_no_report_is_refused(self):
        with pytest.raises(JobSetupError, match="names job 'bbc-news', but no job of that name in this bucket has "
                                                "a report.json"):
            initial_model(ARN, None, CONFIG, LABELS, "job.json")

    def test_a_model_that_is_not_its_jobs_final_model_is_refused_naming_the_final_one(self):
        report = earlier_report()
        report["finalActiveLearningModel"]["modelArn"] = ARN.replace("-3-r1-", "-4-r1-")
        with pytest.raises(JobSetupError, match="is not the final model of job 'BBC-News': its report.json names "
                                                ".*-4-r1-model; use that job's finalActiveLearningModel.modelArn"):
            initial_model(ARN, report, CONFIG, LABELS, "job.json")

    def test_a_model_of_another_task_type_is_refused(self):
        report = earlier_report()
        report["finalActiveLearningModel"]["taskType"] = "image-classification"
        with pytest.raises(JobSetupError, match="is a image-classification model .* and this job's TaskType is "
                                                "text-classification"):
            initial_model(ARN, report, CONFIG, LABELS, "job.json")

    def test_a_model_of_other_labels_is_refused(self):
        with pytest.raises(JobSetupError, match=r"was trained on the labels \['business', 'sport', 'tech'\] "
                                                r".* labels.json has \['cats', 'dogs'\]: other labels"):
            initial_model(ARN, earlier_report(), CONFIG, ["cats", "dogs"], "job.json")

    def test_the_same_labels_in_another_order_are_refused_saying_which_order(self):
        with pytest.raises(JobSetupError, match="the same labels in another order; .* list them in labels.json "
                                                "in its order"):
            initial_model(ARN, earlier_report(), CONFIG, ["tech", "sport", "business"], "job.json")


class TestFindingTheReport:
    @pytest.fixture
    def bucket(self):
        with mock_aws():
            s3 = boto3.client("s3", region_name="us-east-1")
            s3.create_bucket(Bucket=BUCKET)
            for job in ("BBC-News", "other"):
                s3.put_object(Bucket=BUCKET, Key=JobLayout(f"jobs/{job}").report,
                              Body=json.dumps({"job": job}).encode())
            yield s3

    def test_by_the_name_as_the_arn_writes_it_in_lower_case(self, bucket):
        assert job_reports.find_report(BUCKET, "bbc-news") == {"job": "BBC-News"}
        assert job_reports.find_report(BUCKET, "other") == {"job": "other"}

    def test_none_for_a_job_without_one(self, bucket):
        assert job_reports.find_report(BUCKET, "missing") is None


def _state(**fields) -> JobState:
    layout = JobLayout("jobs/my-news-job")
    return JobState.model_validate({
        "job": {"name": "my-news-job", "bucket": BUCKET, "prefix": layout.prefix, "outputPrefix": layout.output,
                "automated": True, "labelNames": LABELS,
                "settings": {"TaskType": "text-classification", "InitialActiveLearningModelArn": ARN},
                "initialModel": {"iteration": 3, "modelName": NAME, "modelArn": ARN, "modelArtifacts": ARTIFACTS}},
        "runId": "0f9e8d", "iteration": 0, "counts": {"total": 2000, "humanLabeled": 200, "pool": 1800},
        "poolUri": f"s3://{BUCKET}/{layout.pool(0)}", "trainModel": True, **fields,
    })


def _checkpoint(after: str, state: JobState) -> dict:
    return {"version": 1, "after": after, "next": NEXT_STATE[after], "state": state.dump()}


class TestFirstModelIteration:
    def test_transforms_with_the_initial_model_and_trains_none(self):
        state = _state()
        step = sagemaker_step(state)
        assert step.initial_model is True and step.model_name == NAME
        state.sagemaker = step
        # The job's latest model is the initial one as soon as its transforms are to run.
        assert state.latest_model() == ActiveLearningModel(iteration=0, modelName=NAME, modelArn=ARN,
                                                           modelArtifacts=ARTIFACTS)

    def test_later_iterations_train_their_own_model(self):
        state = _state(iteration=1, finalModel={"iteration": 0, "modelName": NAME, "modelArn": ARN,
                                                "modelArtifacts": ARTIFACTS})
        step = sagemaker_step(state)
        assert step.initial_model is False and step.model_name == "my-news-job-0f9e8d-1-model"
        state.sagemaker = step
        assert state.latest_model() == state.final_model  # until CreateModel has made this iteration's
        step.created_model = CreatedModel(modelArn="arn:aws:sagemaker:us-east-1:123456789012:model/"
                                                   "my-news-job-0f9e8d-1-model")
        state.training = SageMakerRun(startTime=0, endTime=1000, modelArtifacts="s3://b/k/model.tar.gz")
        latest = state.latest_model()
        assert (latest.iteration, latest.model_name, latest.model_artifacts) == (
            1, "my-news-job-0f9e8d-1-model", "s3://b/k/model.tar.gz")

    def test_a_resume_after_the_first_model_iteration_threshold_still_counts_it_as_the_initial_models(self):
        state = _state()
        state.sagemaker = sagemaker_step(state)
        state.final_model = state.latest_model()  # ComputeThreshold, then the run stopped
        resumed = JobState.model_validate(
            resumed_state(_checkpoint("ComputeThreshold", state), bucket=BUCKET, manifest_key="")["state"])
        assert resumed.sagemaker.initial_model is True and resumed.sagemaker.model_name == NAME
