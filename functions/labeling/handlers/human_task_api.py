"""The human task API: what workers (the web app, or the simulated workforce) call.

`list_tasks` hands out open tasks of a job; `submit_answer` stores one
worker's answer in S3 before anything else (paid work is never lost), counts it
once, and when it completes the batch, resumes the waiting HumanLabeling state.
S3, DynamoDB and Step Functions are reached through labeling.dal only.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, Field, model_validator

from labeling.dal import workflow
from labeling.dal.tasks import AlreadyAnsweredError, HumanTaskStore, parse_task_id, submission_attribute
from labeling.dal.worker_responses import WorkerResponses
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
    """Store a worker's answer, count it once, and resume the workflow when it completes the batch.

    The answer is staged in S3 under a key of its own before anything counts it; one
    conditional DynamoDB update then counts it (at most once per worker and task, never
    beyond the answers the task needs), and only then is it published, with a write that
    cannot overwrite, where ConsolidateAnnotations reads answers (dal/worker_responses.py).
    The reply comes after all of that: an acknowledged answer is stored and counted.

    Replies:
    - counted: {"accepted": true, "duplicate": false, "taskDone": <the task has all its
      answers>, "batchDone": <every task of the batch has>}.
    - a resubmission by a worker whose answer to the task is counted (a client's retry,
      with the same answer or another): {"accepted": true, "duplicate": true, "reason": ...,
      "taskDone", "batchDone"}, not an error. It counts nothing and changes no stored
      answer: the answer counted first stays the answer. It finishes what the first call
      left undone if that call failed after counting (publishing the counted answer,
      completing the task, resuming the workflow), so retrying until a reply comes is safe.
    - a late answer (the task has all its answers, so its batch may be complete) or an
      unknown task: TaskNotOpenError, naming why. The answer is counted nowhere and kept
      only as a staged submission, which ConsolidateAnnotations does not read.
    - an answer the task type cannot take: AnswerError (before anything is stored).
    """
    store = HumanTaskStore(tasks_table())
    iteration, item_id = parse_task_id(request.task_id)
    batch = store.batch(request.job, iteration)
    kind = labels_of(batch["taskType"])
    drawn = request.bounding_box.model_dump(by_alias=True) if request.bounding_box else None
    answer = kind.answer(request.label, drawn, list(batch["labels"]))  # AnswerError names what to send
    responses = WorkerResponses(batch["bucket"], JobLayout(batch["jobPrefix"]), iteration, item_id,
                                request.worker_id)
    submission = uuid.uuid4().hex
    record = {
        "taskId": request.task_id, "itemId": item_id, "workerId": request.worker_id,
        "answer": answer, "submittedAt": datetime.now(UTC).isoformat(), "submissionId": submission,
    }
    responses.stage(submission, record)
    needed = int(batch["answersNeeded"])
    try:
        task = store.record_answer(request.job, request.task_id, request.worker_id, needed, submission)
    except AlreadyAnsweredError as already:
        counted = already.task.get(submission_attribute(request.worker_id))
        if counted and responses.publish_staged(counted):
            logger.warning("published a counted answer its own call had not",
                           extra={"job": request.job, "taskId": request.task_id, "submission": counted})
        metrics.add_metric(name="DuplicateHumanAnswers", unit=MetricUnit.Count, value=1)
        task_done, batch_done = _settle(store, request.job, iteration, request.task_id, already.task, needed)
        return {
            "accepted": True, "duplicate": True, "taskDone": task_done, "batchDone": batch_done,
            "reason": (f"worker {request.worker_id} answered task {request.task_id} already; that answer is "
                       "kept and counted once, and this one is not used"),
        }
    responses.publish(record)  # False only when a resubmission published this same record first
    metrics.add_metric(name="HumanAnswers", unit=MetricUnit.Count, value=1)
    task_done, batch_done = _settle(store, request.job, iteration, request.task_id, task, needed)
    return {"accepted": True, "duplicate": False, "taskDone": task_done, "batchDone": batch_done}


def _settle(store: HumanTaskStore, job: str, iteration: int, task_id: str, task: dict, needed: int,
            ) -> tuple[bool, bool]:
    """Complete the task once it has all its answers, and its batch once every task is; (task, batch) done.

    Each step is idempotent, so the call after a failed one finishes its work: the task is
    counted in its batch once (a transaction), and one caller at a time claims the batch's
    resumption (dal/tasks.py), so the workflow is resumed once.
    """
    if int(task["answers"]) < needed:
        return False, False
    store.complete_task(job, iteration, task_id, needed)
    batch, claimed = store.claim_resume(job, iteration, int(time.time()))
    completed = int(batch["completed"])
    if claimed:
        if workflow.resume(batch["token"], {"iteration": iteration, "tasks": completed}):
            logger.info("human batch complete", extra={"job": job, "iteration": iteration})
        else:
            logger.warning("human batch complete, but the workflow no longer waits on it",
                           extra={"job": job, "iteration": iteration})
        store.mark_resumed(job, iteration, int(time.time()))
    return True, completed >= int(batch["total"])
