"""The Uploads queue's consumer: an input manifest was uploaded; start its labeling job.

Each SQS record's body is the EventBridge "Object Created" event (infra/constructs/trigger.py).
A record that fails is reported (ReportBatchItemFailures) and received again; after the
queue's maxReceiveCount it waits in the dead-letter queue to be redriven. The execution is
named after the job, so a re-delivered or redriven event cannot start a second one.
"""

from __future__ import annotations

from datetime import UTC, datetime

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.parser.models import S3EventNotificationEventBridgeModel, SqsRecordModel
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import Json

from labeling.dal import s3, workflow
from labeling.layout import InvalidJobNameError, JobLayout, job_name_from_key
from labeling.observability import logger, tracer
from labeling.settings import state_machine_arn


class UploadRecord(SqsRecordModel):
    body: Json[S3EventNotificationEventBridgeModel]


processor = BatchProcessor(event_type=EventType.SQS, model=UploadRecord)


def start(event: S3EventNotificationEventBridgeModel) -> dict:
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
    execution_arn = workflow.start_job_execution(state_machine_arn(), job, {"bucket": bucket, "key": key})
    if execution_arn is None:
        logger.info("job already started; event ignored", extra={"job": job})
        return {"started": False, "job": job, "reason": "already started"}
    logger.info("job started", extra={"job": job, "executionArn": execution_arn})
    return {"started": True, "job": job, "executionArn": execution_arn}


def _record(record: UploadRecord) -> dict:
    try:
        return start(record.body)
    except Exception:
        # Reported to the event source mapping as this record's failure: it is received again.
        logger.exception("upload not handled; it will be received again", extra={
            "messageId": record.messageId, "receiveCount": record.attributes.ApproximateReceiveCount})
        raise


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def handler(event: dict, context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(event=event, record_handler=_record, processor=processor, context=context)
