"""HumanLabeling: publish the batch as human tasks and hand back the task token.

The state waits (.waitForTaskToken) until the last task of the batch is
answered through the human task API (handlers/human_task_api.py).
"""

from __future__ import annotations

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, Field

from labeling.dal import s3
from labeling.dal.tasks import HumanTaskStore
from labeling.layout import split_s3_uri
from labeling.models.state import JobState
from labeling.observability import logger, metrics, tracer
from labeling.settings import tasks_table


class PublishRequest(BaseModel):
    state: JobState
    task_token: str = Field(alias="taskToken")


@metrics.log_metrics
@logger.inject_lambda_context
@tracer.capture_lambda_handler
@event_parser(model=PublishRequest)
def handler(request: PublishRequest, context: LambdaContext) -> dict:
    state = request.state
    if state.batch is None or state.batch.size == 0:
        raise ValueError("HumanLabeling was reached without a human batch")
    bucket, key = split_s3_uri(state.batch.uri)
    published = HumanTaskStore(tasks_table()).publish_batch(
        job=state.job.name, iteration=state.iteration, token=request.task_token,
        label_names=state.job.label_names,
        answers_needed=state.job.settings.NumberOfHumanWorkersPerDataObject,
        task_type=state.job.settings.TaskType, bucket=state.job.bucket, job_prefix=state.job.prefix,
        items=s3.read_jsonl(bucket, key), total=state.batch.size,
    )
    metrics.add_metric(name="HumanTasksPublished", unit=MetricUnit.Count, value=published)
    logger.info("human tasks published",
                extra={"job": state.job.name, "iteration": state.iteration, "tasks": published})
    return {"published": published}
