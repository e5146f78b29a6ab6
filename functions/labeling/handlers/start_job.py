"""EventBridge target: an input manifest was uploaded; start its labeling job.

The execution is named after the job, so a re-delivered event cannot start a
second one (Step Functions refuses a duplicate name).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import boto3
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.parser.models import S3EventNotificationEventBridgeModel
from aws_lambda_powertools.utilities.typing import LambdaContext

from labeling.dal import s3
from labeling.layout import InvalidJobNameError, JobLayout, job_name_from_key
from labeling.observability import logger, tracer
from labeling.settings import state_machine_arn


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
        s3.write_json(bucket, JobLayout.from_manifest_key(key).failure, {
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
