"""The model a job's report names when it ends early (labeling/job_outputs.py, for RecordFailure and
RecordStop): the one the failed iteration was transforming with, else the last iteration's, on moto."""

from __future__ import annotations

import json

import boto3
import pytest
from moto import mock_aws

from labeling.dal import s3
from labeling.job_outputs import Ending, write_outputs
from labeling.layout import JobLayout
from labeling.logic.sagemaker_step import sagemaker_step
from labeling.models.state import ActiveLearningModel, CreatedModel, JobState, SageMakerRun

BUCKET = "jobs-bucket"
LAYOUT = JobLayout("jobs/news")
ARN = "arn:aws:sagemaker:us-east-1:123456789012:model/"
EARLIER = ActiveLearningModel(iteration=0, modelName="news-0f9e8d-0-model", modelArn=ARN + "news-0f9e8d-0-model",
                              modelArtifacts=f"s3://{BUCKET}/{LAYOUT.model_output()}news-0f9e8d-0-train/output/"
                                             "model.tar.gz")


@pytest.fixture
def failing_in_iteration_1(fake_aws_credentials):
    """A job whose iteration 0 recorded its model, now in iteration 1's SageMaker steps."""
    s3._client.cache_clear()
    with mock_aws():
        boto3.client("s3").create_bucket(Bucket=BUCKET)
        boto3.client("s3").put_object(Bucket=BUCKET, Key=LAYOUT.input_manifest, Body=b"".join(
            json.dumps({"source": text}).encode() + b"\n" for text in ("Shares fell.", "United won.")))
        state = JobState.model_validate({
            "job": {"name": "news", "bucket": BUCKET, "prefix": LAYOUT.prefix, "outputPrefix": LAYOUT.output,
                    "automated": True, "labelNames": ["business", "sport"],
                    "settings": {"TaskType": "text-classification"}},
            "runId": "0f9e8d", "iteration": 1, "counts": {"total": 2, "pool": 2}, "trainModel": True,
            "poolUri": f"s3://{BUCKET}/{LAYOUT.pool(1)}", "finalModel": EARLIER.model_dump(by_alias=True),
        })
        state.sagemaker = sagemaker_step(state)
        yield state
    s3._client.cache_clear()


def _failed(state: JobState) -> dict:
    write_outputs(state, Ending.failed("States.TaskFailed", "AlgorithmError: the transform failed"))
    return s3.read_json(BUCKET, LAYOUT.report)


def test_a_job_that_fails_in_a_transform_names_the_model_it_failed_with(failing_in_iteration_1):
    state = failing_in_iteration_1
    state.training = SageMakerRun(startTime=0, endTime=1, modelArtifacts="s3://b/news-0f9e8d-1-train/model.tar.gz")
    state.sagemaker.created_model = CreatedModel(modelArn=ARN + "news-0f9e8d-1-model")
    report = _failed(state)
    assert report["status"] == "Failed"
    assert report["finalActiveLearningModel"]["iteration"] == 1
    assert report["finalActiveLearningModel"]["modelName"] == "news-0f9e8d-1-model"
    assert report["labelingJobOutput"]["finalActiveLearningModelArn"] == ARN + "news-0f9e8d-1-model"


def test_a_job_that_fails_before_its_iterations_model_exists_names_the_earlier_one(failing_in_iteration_1):
    report = _failed(failing_in_iteration_1)  # Train failed: no CreateModel answer in the state
    assert report["finalActiveLearningModel"]["modelArn"] == EARLIER.model_arn
    assert report["finalActiveLearningModel"]["iteration"] == 0
