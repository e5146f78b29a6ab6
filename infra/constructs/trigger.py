"""Starts a labeling job when jobs/<job>/input.manifest is uploaded.

The upload event is never lost, whichever step fails:

  S3 "Object Created" -> EventBridge rule -> the Uploads queue -> StartJob (event source mapping)
                                   |                    |
                                   +--> dead letters <--+

* The rule's target is an SQS queue, not the function. Lambda's asynchronous
  invocation retries a failing function twice and then drops the event; a queue
  keeps it until StartJob has handled it. Events EventBridge cannot put on the
  queue (retried for up to 24 hours) go to the dead-letter queue.
* StartJob reads the queue through an event source mapping, reporting each
  record it could not handle (ReportBatchItemFailures): Lambda deletes the
  others, and the failed ones come back after the visibility timeout. A message
  received MAX_RECEIVES times without success moves to the dead-letter queue
  (the queue's redrive policy), where it stays for 14 days.
* `dead_letters` is the one queue to alarm on: a message there is an upload that
  started no job.
* Re-driving: SQS's dead-letter queue redrive ("Start DLQ redrive" in the console,
  or StartMessageMoveTask) moves the messages back to the Uploads queue; name it
  as the destination (DestinationArn), since events EventBridge put in the
  dead-letter queue directly have no source queue of their own.
* Exactly once: StartJob names the execution after the job, so an event redriven
  (or delivered twice) for a job whose execution exists starts nothing; it is
  "already started", and the message is deleted.
"""

from aws_cdk import Duration
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from labeling.layout import INPUT_MANIFEST

# Receives of one message before it moves to the dead-letter queue. AWS recommends at
# least 5 for a Lambda event source, so that throttled receives alone do not move it.
MAX_RECEIVES = 5
# AWS's guidance for a Lambda event source: a visibility timeout of six times the
# function's timeout, so a message is not received again while a retried batch still runs.
VISIBILITY_TIMEOUTS_PER_FUNCTION_TIMEOUT = 6
BATCH_SIZE = 10


class JobTrigger(Construct):
    def __init__(
        self, scope: Construct, construct_id: str, *, bucket: s3.IBucket, start_job: lambda_.Function
    ) -> None:
        super().__init__(scope, construct_id)
        # Upload events that started no job: EventBridge could not deliver them, or StartJob
        # failed on them MAX_RECEIVES times. Alarm on this queue; redrive it to `uploads`.
        self.dead_letters = sqs.Queue(
            self, "Undelivered", encryption=sqs.QueueEncryption.SQS_MANAGED, enforce_ssl=True,
            retention_period=Duration.days(14),
        )
        function_timeout = start_job.timeout or Duration.seconds(3)  # Lambda's default
        self.uploads = sqs.Queue(
            self, "Uploads", encryption=sqs.QueueEncryption.SQS_MANAGED, enforce_ssl=True,
            visibility_timeout=Duration.seconds(
                VISIBILITY_TIMEOUTS_PER_FUNCTION_TIMEOUT * function_timeout.to_seconds()),
            dead_letter_queue=sqs.DeadLetterQueue(queue=self.dead_letters, max_receive_count=MAX_RECEIVES),
        )
        self.rule = events.Rule(
            self, "ManifestUploaded",
            description="An input manifest was uploaded: start its labeling job",
            event_pattern=events.EventPattern(
                source=["aws.s3"],
                detail_type=["Object Created"],
                detail={
                    "bucket": {"name": [bucket.bucket_name]},
                    # StartJob checks the jobs/<job>/ prefix; a suffix match is what
                    # every EventBridge implementation (and the local one) supports.
                    "object": {"key": events.Match.suffix(f"/{INPUT_MANIFEST}")},
                },
            ),
        )
        self.rule.add_target(targets.SqsQueue(self.uploads, dead_letter_queue=self.dead_letters))
        start_job.add_event_source(event_sources.SqsEventSource(
            self.uploads, batch_size=BATCH_SIZE, report_batch_item_failures=True,
        ))
