"""The sample events in events/ stay valid inputs of the functions they are for."""

import json
from pathlib import Path

import pytest
from aws_lambda_powertools.utilities.parser.models import (
    APIGatewayProxyEventV2Model,
    S3EventNotificationEventBridgeModel,
)
from pydantic import ValidationError

from labeling.layout import job_name_from_key
from labeling.models.job import JobConfig, LabelCategories
from labeling.models.task_api import AnswerRequest
from tests.unit.lambda_context import Context

EVENTS = Path(__file__).resolve().parents[2] / "events"


def _load(name):
    return json.loads((EVENTS / name).read_text())


TASK_API_EVENTS = ("task-api-list-jobs.json", "task-api-claim.json", "task-api-answer.json",
                   "task-api-answer-bounding-box.json", "task-api-release.json", "task-api-progress.json")


def _answer(name):
    return AnswerRequest.model_validate(json.loads(_load(name)["body"]))


def test_upload_event_names_a_job_manifest():
    event = S3EventNotificationEventBridgeModel.model_validate(_load("manifest-uploaded.json"))
    assert job_name_from_key(event.detail.object.key) == "bbc-news"


def test_job_and_labels_examples_parse():
    assert JobConfig.model_validate(_load("job.json")).TaskType == "text-classification"
    assert LabelCategories.model_validate(_load("labels.json")).names[3] == "sports"


@pytest.mark.parametrize("name", TASK_API_EVENTS)
def test_task_api_examples_are_api_gateway_http_api_events_of_a_worker(name):
    event = APIGatewayProxyEventV2Model.model_validate(_load(name))
    assert event.version == "2.0" and event.requestContext.authorizer.jwt.claims["sub"]
    assert event.rawPath.startswith("/api/jobs")


def test_task_api_examples_reach_their_routes(monkeypatch):
    """Through the real handler, on an empty table: the list is empty, and the job has no tasks."""
    import boto3
    from moto import mock_aws

    from labeling.dal import tasks
    from labeling.handlers import task_api
    from labeling.task_table import create_table_arguments

    for variable, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                            "AWS_DEFAULT_REGION": "us-east-1", "TASKS_TABLE_NAME": "tasks",
                            "POWERTOOLS_TRACE_DISABLED": "true"}.items():
        monkeypatch.setenv(variable, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    tasks._local.__dict__.pop("tables", None)
    with mock_aws():
        boto3.client("dynamodb").create_table(**create_table_arguments("tasks"))
        for name in TASK_API_EVENTS:
            response = task_api.handler(_load(name), Context())
            body = json.loads(response["body"])
            if name == "task-api-list-jobs.json":
                assert (response["statusCode"], body) == (200, {"jobs": []})
            else:
                assert response["statusCode"] == 404 and "has no task" in body["message"], (name, body)
    tasks._local.__dict__.pop("tables", None)


def test_task_api_answer_examples_parse():
    assert _answer("task-api-answer.json").label == "sports"


def test_object_detection_examples_parse():
    config = JobConfig.model_validate(_load("job-object-detection.json"))
    assert (config.TaskType, config.TargetMeanIoU, config.NumberOfHumanWorkersPerDataObject) == (
        "object-detection", 0.6, 3)
    answer = _answer("task-api-answer-bounding-box.json")
    assert answer.label is None and [box.label for box in answer.bounding_box.bounding_boxes] == ["circle", "triangle"]


def test_a_box_reaching_outside_the_image_is_refused_naming_the_box():
    answer = json.loads(_load("task-api-answer-bounding-box.json")["body"])
    answer["boundingBox"]["boundingBoxes"][1]["width"] = 200
    with pytest.raises(ValidationError, match=r"box 2 \(70, 64, 200 x 27\) reaches outside the 128 x 128 image"):
        AnswerRequest.model_validate(answer)
