"""EventBridge target: an input manifest was uploaded; start its labeling job.

The execution is named after the job, so a re-delivered event cannot start a
second one (Step Functions refuses a duplicate name).
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import boto3
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.parser.models import S3EventNotificationEventBridgeModel
from aws_lambda_powertools.utilities.typing import LambdaContext

from labeling.dal import s3
from labeling.layout import INPUT_MANIFEST, JobLayout
from labeling.observability import logger, tracer
from labeling.settings import state_machine_arn

# Execution names allow more, but SageMaker job names built from the job name
# must stay within 63 characters of [a-zA-Z0-9-].
JOB_NAME = re.compile(r"^[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,38}[a-zA-Z0-9])?$")
MANIFEST_KEY = re.compile(rf"^jobs/(?P<job>[^/]+)/{re.escape(INPUT_MANIFEST)}$")


class InvalidJobNameError(ValueError):
    pass


def job_name_from_key(key: str) -> str:
    match = MANIFEST_KEY.match(key)
    if not match:
        raise InvalidJobNameError(f"{key!r} is not a job manifest; upload it as jobs/<job>/{INPUT_MANIFEST}")
    job = match["job"]
    if not JOB_NAME.match(job):
        raise InvalidJobNameError(
            f"job name {job!r} (from {key!r}) is not allowed; use 1-40 letters, digits or "
            "hyphens, starting and ending with a letter or digit, and upload again"
        )
    return job


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@event_parser(model=S3EventNotificationEventBridgeModel)
def handler(event: S3EventNotificationEventBridgeModel, context: LambdaContext) -> dict:
    bucket, key = event.detail.bucket.name, event.detail.object.key
    if not key.startswith("jobs/"):
        logger.info("not a job manifest; ignored", extra={"key": key})
        return {"started": False, "reason": "not under jobs/"}
    try:
        job = job_name_from_key(key)
    except InvalidJobNameError as error:
        # No execution can be named after this job; tell the user where they look.
        prefix = key.rsplit("/", 1)[0] + "/"
        s3.write_json(bucket, JobLayout(prefix).failure, {
            "error": "InvalidJobName", "cause": str(error),
            "time": datetime.now(UTC).isoformat(),
        })
        logger.error("job not started", extra={"key": key, "reason": str(error)})
        return {"started": False, "reason": str(error)}
    client = boto3.client("stepfunctions")
    try:
        execution = client.start_execution(
            stateMachineArn=state_machine_arn(), name=job,
            input=json.dumps({"bucket": bucket, "key": key}),
        )
    except client.exceptions.ExecutionAlreadyExists:
        logger.info("job already started; event ignored", extra={"job": job})
        return {"started": False, "job": job, "reason": "already started"}
    logger.info("job started", extra={"job": job, "executionArn": execution["executionArn"]})
    return {"started": True, "job": job, "executionArn": execution["executionArn"]}
