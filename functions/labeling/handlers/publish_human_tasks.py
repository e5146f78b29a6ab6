"""HumanLabeling: publish the batch as human tasks and hand back the task token.

The state waits (.waitForTaskToken, for the job's TaskAvailabilityLifetimeInSeconds) until
the last task of the batch is answered through the workers' task API (handlers/task_api.py,
docs/task-api.md). Each task record holds its item's data object ({"source"} or
{"source-ref"}) when it is small; a larger one (a long text: DynamoDB caps an item at 400 KB,
and a 100,000-character text of 4-byte characters alone is 400,000 bytes) is written to the
job's activelearning folder (layout.human_item) and the task names it, for a claim to read.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from itertools import islice
from typing import Any

from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, Field

from labeling.dal import s3
from labeling.dal.tasks import HumanTaskStore
from labeling.dal.worker_responses import published_answers
from labeling.layout import JobLayout, split_s3_uri
from labeling.logic import leases
from labeling.logic.task_api import resume_once_complete
from labeling.models.state import JobState
from labeling.observability import HUMAN_TASKS_PUBLISHED, job_metric, logger, tracer
from labeling.settings import tasks_table
from labeling.task_types import task_type

# A data object up to this many bytes (as JSON) stays in its task record: a claim reads it
# with the task, in one 4 KB read unit. Larger ones are read from S3 at claim.
INLINE_DATA_BYTES = 4_000
# Items whose large data objects are written to S3 together.
CHUNK = 100


class PublishRequest(BaseModel):
    state: JobState
    task_token: str = Field(alias="taskToken")


def instructions(state: JobState) -> str:
    return state.job.settings.Instructions or task_type(state.job.settings.TaskType).default_instructions


def task_records(items: Iterable[dict[str, Any]], *, bucket: str, layout: JobLayout, iteration: int,
                 source_key: str) -> Iterator[dict[str, Any]]:
    """{"id", "data"} or {"id", "dataKey"} per batch item; the large data objects are written to S3 first."""
    items = iter(items)
    while chunk := list(islice(items, CHUNK)):
        records, large = [], []
        for item in chunk:
            data = {source_key: item[source_key]}
            if len(json.dumps(data, ensure_ascii=False).encode()) <= INLINE_DATA_BYTES:
                records.append({"id": item["id"], "data": data})
            else:
                key = layout.human_item(iteration, item["id"])
                large.append((key, data))
                records.append({"id": item["id"], "dataKey": key})
        s3.write_json_many(bucket, large)
        yield from records


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@event_parser(model=PublishRequest)
def handler(request: PublishRequest, context: LambdaContext) -> dict:
    state = request.state
    if state.batch is None or state.batch.size == 0:
        raise ValueError("HumanLabeling was reached without a human batch")
    settings = state.job.settings
    bucket, key = split_s3_uri(state.batch.uri)
    now = leases.now_ms()
    tasks = task_records(s3.read_jsonl(bucket, key), bucket=state.job.bucket, layout=state.job.layout,
                         iteration=state.iteration, source_key=task_type(settings.TaskType).source_key)
    store = HumanTaskStore(tasks_table())
    new = store.publish_batch(
        job=state.job.name, iteration=state.iteration, run_id=state.run_id, token=request.task_token,
        label_names=state.job.label_names, answers_needed=settings.NumberOfHumanWorkersPerDataObject,
        task_type=settings.TaskType, instructions=instructions(state),
        time_limit_seconds=settings.TaskTimeLimitInSeconds,
        available_until=now + settings.TaskAvailabilityLifetimeInSeconds * 1000,
        bucket=state.job.bucket, job_prefix=state.job.prefix, tasks=tasks, total=state.batch.size, now=now,
        answered=published_answers(state.job.bucket, state.job.layout, state.iteration),
    )
    # A resumed run's batch may be complete already (every answer given before the run stopped).
    resume_once_complete(store, state.job.name, state.iteration)
    if new:
        job_metric(HUMAN_TASKS_PUBLISHED, state.batch.size, job=state.job.name)
    logger.info("human tasks published" if new else "human tasks were published already; the batch waits on "
                "the new task token", extra={"job": state.job.name, "iteration": state.iteration,
                                             "tasks": state.batch.size})
    return {"published": state.batch.size, "new": new}
