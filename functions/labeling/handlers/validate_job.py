"""ValidateJob: read job.json and labels.json, stream-check the manifest, decide the mode."""

from __future__ import annotations

import uuid

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel

from labeling.checkpointing import checkpointed
from labeling.dal import s3
from labeling.layout import JobLayout, job_name_from_key, s3_uri
from labeling.logic import image_files, job_setup
from labeling.models.state import Counts, Job, JobState
from labeling.observability import logger, metrics, tracer
from labeling.settings import available_task_types
from labeling.task_types import task_type


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
@checkpointed(after="ValidateJob")
@event_parser(model=JobStarted)
def handler(event: JobStarted, context: LambdaContext) -> dict:
    job_name = job_name_from_key(event.key)
    layout = JobLayout.from_manifest_key(event.key)
    config = job_setup.parse_job_config(_read_json(event.bucket, layout.job_config), layout.job_config)
    job_setup.check_task_type_available(config, available_task_types(), layout.job_config)
    labels = job_setup.parse_label_categories(
        _read_json(event.bucket, layout.label_categories), layout.label_categories
    )
    reads_objects = task_type(config.TaskType).source_key == "source-ref"
    with s3.JsonlWriter(event.bucket, layout.invalid_lines) as invalid_lines:
        check = job_setup.check_items(
            s3.read_lines(event.bucket, layout.input_manifest), config, layout.input_manifest,
            on_invalid=lambda line: invalid_lines.write(line.dump()),
            object_check=(lambda refs: image_files.source_ref_problems(refs, s3.read_heads)) if reads_objects
            else None,
        )
    items = check.items
    automated = job_setup.is_automated(items, config, layout.job_config)
    metrics.add_metric(name="ItemsToLabel", unit=MetricUnit.Count, value=items)
    metrics.add_metric(name="DatasetObjectsInvalid", unit=MetricUnit.Count, value=check.invalid)
    logger.info("job validated", extra={"job": job_name, "items": items, "invalid": check.invalid,
                                        "automated": automated})
    state = JobState(
        job=Job(
            name=job_name, bucket=event.bucket, prefix=layout.prefix, outputPrefix=layout.output,
            automated=automated, labelNames=labels.names, settings=config,
        ),
        # SageMaker job names must be unique in the account: a rerun of the same job gets new ones.
        runId=uuid.uuid4().hex[:6],
        counts=Counts(total=items, invalid=check.invalid),
    )
    return state.dump()
