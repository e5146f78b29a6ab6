"""The human task API: what workers (the web app, or the simulated workforce) call.

`list_tasks` hands out open tasks of a job; `submit_answer` stores one
worker's answer in S3 at once (paid work is never lost), counts it, and when
it completes the batch, resumes the waiting HumanLabeling state.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import boto3
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, Field, model_validator

from labeling.dal import s3
from labeling.dal.tasks import HumanTaskStore, TaskNotOpenError, parse_task_id
from labeling.layout import JobLayout
from labeling.logic.label_kinds import labels_of
from labeling.observability import logger, metrics, tracer
from labeling.settings import tasks_table


class ListTasksRequest(BaseModel):
    job: str
    worker_id: str = Field(alias="workerId", min_length=1)
    limit: int = Field(10, ge=1, le=100)


class DrawnBox(BaseModel):
    """One box as Ground Truth's bounding-box tool reports it: class name and pixels."""

    label: str = Field(min_length=1)
    left: int = Field(ge=0)
    top: int = Field(ge=0)
    width: int = Field(ge=1)
    height: int = Field(ge=1)


class ImageProperties(BaseModel):
    width: int = Field(ge=1)
    height: int = Field(ge=1)


class BoundingBoxAnswer(BaseModel):
    """Ground Truth's bounding-box worker answer (the `boundingBox` of crowd-bounding-box)."""

    bounding_boxes: list[DrawnBox] = Field(alias="boundingBoxes", max_length=1000)
    input_image_properties: ImageProperties = Field(alias="inputImageProperties")

    @model_validator(mode="after")
    def _boxes_inside_the_image(self) -> BoundingBoxAnswer:
        size = self.input_image_properties
        for number, box in enumerate(self.bounding_boxes, start=1):
            if box.left + box.width > size.width or box.top + box.height > size.height:
                raise ValueError(f"box {number} ({box.left}, {box.top}, {box.width} x {box.height}) reaches outside "
                                 f"the {size.width} x {size.height} image; draw it inside the image")
        return self


class SubmitAnswerRequest(BaseModel):
    """A worker's answer: `label` (a class name) for classification, `boundingBox` for object detection."""

    job: str
    task_id: str = Field(alias="taskId", pattern=r"^\d{5}#\d{9}$")
    worker_id: str = Field(alias="workerId", pattern=r"^[A-Za-z0-9_.@-]{1,128}$")
    label: str | None = Field(None, min_length=1)
    bounding_box: BoundingBoxAnswer | None = Field(None, alias="boundingBox")


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@event_parser(model=ListTasksRequest)
def list_tasks(request: ListTasksRequest, context: LambdaContext) -> dict:
    store = HumanTaskStore(tasks_table())
    tasks, batches = [], {}
    for task in store.open_tasks(request.job, request.worker_id, request.limit):
        task_id = task["sk"].removeprefix("TASK#")
        iteration, _ = parse_task_id(task_id)
        if iteration not in batches:
            batches[iteration] = store.batch(request.job, iteration)
        tasks.append({
            "taskId": task_id, "job": request.job, "taskType": batches[iteration]["taskType"],
            "labels": batches[iteration]["labels"], **task["data"],
        })
    return {"tasks": tasks}


@metrics.log_metrics
@logger.inject_lambda_context
@tracer.capture_lambda_handler
@event_parser(model=SubmitAnswerRequest)
def submit_answer(request: SubmitAnswerRequest, context: LambdaContext) -> dict:
    store = HumanTaskStore(tasks_table())
    iteration, item_id = parse_task_id(request.task_id)
    batch = store.batch(request.job, iteration)
    kind = labels_of(batch["taskType"])
    drawn = request.bounding_box.model_dump(by_alias=True) if request.bounding_box else None
    answer = kind.answer(request.label, drawn, list(batch["labels"]))  # AnswerError names what to send
    response_key = JobLayout(batch["jobPrefix"]).worker_response(iteration, item_id, request.worker_id)
    s3.write_json(batch["bucket"], response_key, {
        "taskId": request.task_id, "itemId": item_id, "workerId": request.worker_id,
        "answer": answer,
        "submittedAt": datetime.now(UTC).isoformat(),
    })
    try:
        task_done = store.record_answer(request.job, request.task_id, request.worker_id, int(batch["answersNeeded"]))
    except TaskNotOpenError:
        boto3.client("s3").delete_object(Bucket=batch["bucket"], Key=response_key)
        raise
    metrics.add_metric(name="HumanAnswers", unit=MetricUnit.Count, value=1)
    batch_done = False
    if task_done:
        completed, batch = store.complete_one(request.job, iteration)
        batch_done = completed == int(batch["total"])
        if batch_done:
            boto3.client("stepfunctions").send_task_success(
                taskToken=batch["token"],
                output=json.dumps({"iteration": iteration, "tasks": completed}),
            )
            logger.info("human batch complete", extra={"job": request.job, "iteration": iteration})
    return {"accepted": True, "taskDone": task_done, "batchDone": batch_done}
