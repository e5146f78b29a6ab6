"""ValidateJob: read job.json and labels.json, stream-check the manifest, decide the mode."""

from __future__ import annotations

import uuid
from typing import Any

from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel

from labeling.checkpointing import checkpointed
from labeling.dal import job_reports, s3
from labeling.layout import JobLayout, job_name_from_key, s3_uri
from labeling.logic import image_files, initial_model, job_setup
from labeling.models.job import JobConfig
from labeling.models.state import ActiveLearningModel, Counts, Job, JobState
from labeling.observability import ITEMS_TO_LABEL, job_metric, logger, tracer
from labeling.settings import available_task_types, data_buckets
from labeling.task_types import task_type


class JobStarted(BaseModel):
    bucket: str
    key: str


def _read_json(bucket: str, key: str) -> Any:
    value = s3.read_json_if_present(bucket, key)
    if value is None:
        raise job_setup.JobSetupError(f"{s3_uri(bucket, key)} is missing; upload it before the manifest")
    return value


def _initial_model(bucket: str, config: JobConfig, label_names: list[str],
                   file_name: str) -> ActiveLearningModel | None:
    """job.json's InitialActiveLearningModelArn, checked against its job's report.json (logic/initial_model.py)."""
    arn = config.InitialActiveLearningModelArn
    if arn is None:
        return None
    report = job_reports.find_report(bucket, initial_model.earlier_job(arn, file_name))
    return initial_model.initial_model(arn, report, config, label_names, file_name)


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
    initial = _initial_model(event.bucket, config, labels.names, layout.job_config)
    reads_objects = task_type(config.TaskType).source_key == "source-ref"
    readable = image_files.ReadableBuckets(event.bucket, tuple(data_buckets()))
    with s3.JsonlWriter(event.bucket, layout.invalid_lines) as invalid_lines:
        check = job_setup.check_items(
            s3.read_lines(event.bucket, layout.input_manifest), config, layout.input_manifest,
            on_invalid=lambda line: invalid_lines.write(line.dump()),
            object_check=(lambda refs: image_files.source_ref_problems(refs, s3.read_heads, readable)) if reads_objects
            else None,
        )
    items = check.items
    automated = job_setup.is_automated(items, config, layout.job_config)
    # The invalid lines count in DatasetObjectsLabelingFailed when the job ends (observability.job_ended).
    job_metric(ITEMS_TO_LABEL, items, job=job_name)
    logger.info("job validated", extra={"job": job_name, "items": items, "invalid": check.invalid,
                                        "automated": automated})
    state = JobState(
        job=Job(
            name=job_name, bucket=event.bucket, prefix=layout.prefix, outputPrefix=layout.output,
            automated=automated, labelNames=labels.names, settings=config, initialModel=initial,
        ),
        # SageMaker job names must be unique in the account: a rerun of the same job gets new ones.
        runId=uuid.uuid4().hex[:6],
        counts=Counts(total=items, invalid=check.invalid),
    )
    return state.dump()
