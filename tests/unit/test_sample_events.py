"""The sample events in events/ stay valid inputs of the functions they are for."""

import json
from pathlib import Path

import pytest
from aws_lambda_powertools.utilities.parser.models import S3EventNotificationEventBridgeModel
from pydantic import ValidationError

from labeling.handlers.human_task_api import ListTasksRequest, SubmitAnswerRequest
from labeling.layout import job_name_from_key
from labeling.models.job import JobConfig, LabelCategories

EVENTS = Path(__file__).resolve().parents[2] / "events"


def _load(name):
    return json.loads((EVENTS / name).read_text())


def test_upload_event_names_a_job_manifest():
    event = S3EventNotificationEventBridgeModel.model_validate(_load("manifest-uploaded.json"))
    assert job_name_from_key(event.detail.object.key) == "bbc-news"


def test_job_and_labels_examples_parse():
    assert JobConfig.model_validate(_load("job.json")).TaskType == "text-classification"
    assert LabelCategories.model_validate(_load("labels.json")).names[3] == "sports"


def test_task_api_examples_parse():
    assert ListTasksRequest.model_validate(_load("list-tasks.json")).limit == 10
    assert SubmitAnswerRequest.model_validate(_load("submit-answer.json")).label == "sports"


def test_object_detection_examples_parse():
    config = JobConfig.model_validate(_load("job-object-detection.json"))
    assert (config.TaskType, config.TargetMeanIoU, config.NumberOfHumanWorkersPerDataObject) == (
        "object-detection", 0.6, 3)
    answer = SubmitAnswerRequest.model_validate(_load("submit-answer-bounding-box.json"))
    assert answer.label is None and [box.label for box in answer.bounding_box.bounding_boxes] == ["circle", "triangle"]


def test_a_box_reaching_outside_the_image_is_refused_naming_the_box():
    answer = _load("submit-answer-bounding-box.json")
    answer["boundingBox"]["boundingBoxes"][1]["width"] = 200
    with pytest.raises(ValidationError, match=r"box 2 \(70, 64, 200 x 27\) reaches outside the 128 x 128 image"):
        SubmitAnswerRequest.model_validate(answer)
