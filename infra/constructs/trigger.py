"""Starts a labeling job when jobs/<job>/input.manifest is uploaded."""

from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from labeling.layout import INPUT_MANIFEST


class JobTrigger(Construct):
    def __init__(
        self, scope: Construct, construct_id: str, *, bucket: s3.IBucket, start_job: lambda_.IFunction
    ) -> None:
        super().__init__(scope, construct_id)
        # Events EventBridge could not deliver are kept, not dropped.
        self.dead_letters = sqs.Queue(self, "Undelivered", encryption=sqs.QueueEncryption.SQS_MANAGED, enforce_ssl=True)
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
        self.rule.add_target(targets.LambdaFunction(start_job, dead_letter_queue=self.dead_letters, retry_attempts=8))
