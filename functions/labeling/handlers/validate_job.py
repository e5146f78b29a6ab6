"""ValidateJob: read job.json and labels.json, stream-check the manifest, decide the mode."""

from __future__ import annotations

import uuid

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel

from labeling.dal import s3
from labeling.handlers.start_job import job_name_from_key
from labeling.layout import JobLayout, s3_uri
from labeling.logic import job_setup
from labeling.models.state import Counts, Job, JobState
from labeling.observability import logger, metrics, tracer
from labeling.settings import available_task_types


class JobStarted(BaseModel):
    bucket: str
    key: str


def _read_json(bucket: str, key: str):
    value = s3.read_json_if_present(bucket, key)
    if value is None:
        raise job_setup.JobSetupError(f"{s3_uri(bucket, key)} is missing; upload it before the manifest")
    return value


@metrics.log_metrics
@logger.inject_lambda_context
@tracer.capture_lambda_handler
@event_parser(model=JobStarted)
def handler(event: JobStarted, context: LambdaContext) -> dict:
    job_name = job_name_from_key(event.key)
    layout = JobLayout(event.key.rsplit("/", 1)[0])
    config = job_setup.parse_job_config(_read_json(event.bucket, layout.job_config), layout.job_config)
    job_setup.check_task_type_available(config, available_task_types(), layout.job_config)
    labels = job_setup.parse_label_categories(
        _read_json(event.bucket, layout.label_categories), layout.label_categories
    )
    items = job_setup.count_items(
        s3.read_lines(event.bucket, layout.input_manifest), config, layout.input_manifest
    )
    automated = job_setup.is_automated(items, config, layout.job_config)
    metrics.add_metric(name="ItemsToLabel", unit=MetricUnit.Count, value=items)
    logger.info("job validated", extra={"job": job_name, "items": items, "automated": automated})
    state = JobState(
        job=Job(
            name=job_name, bucket=event.bucket, prefix=layout.prefix, outputPrefix=layout.output,
            automated=automated, labelNames=labels.names, settings=config,
        ),
        # SageMaker job names must be unique in the account: a rerun of the same job gets new ones.
        runId=uuid.uuid4().hex[:6],
        counts=Counts(total=items),
    )
    return state.dump()
