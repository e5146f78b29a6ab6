"""The job bucket and the stack's KMS key: users upload jobs/<job>/{job.json,labels.json,input.manifest};
outputs land beside.

One customer-managed key (the stack's own, rotated yearly, or an existing one named by the kmsKeyArn
setting, infra/config.py) encrypts the job bucket (with an S3 bucket key, so S3 asks KMS once per
bucket key, not once per object), the human-task table and the SageMaker jobs' volumes and outputs.
The access-log bucket stays S3-managed: S3 server access logging delivers only to SSE-S3 buckets.
The upload queues stay SQS-managed (infra/constructs/trigger.py): EventBridge may send to a queue
under a customer-managed key only if that key's policy lets events.amazonaws.com use it, which a key
given by kmsKeyArn may not; their messages are S3 event notices (bucket and key), not job data.

The local cloud (autolabel/localcloud/cloud.py) creates the bucket and the table without their
encryption settings: moto's S3 and DynamoDB store data the same either way, and what matters here,
that every role may use the key, is checked on the template (tests/infra/test_least_privilege.py).
"""

from typing import Any

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from infra.config import StackSettings

# What a function or SageMaker needs of the key to read and write encrypted objects and items.
KEY_USE = ("kms:Decrypt", "kms:GenerateDataKey")


def private_bucket(scope: Construct, construct_id: str, **settings: Any) -> s3.Bucket:
    """A bucket reached only through the stack's own grants: encrypted (S3-managed unless `settings`
    give a key), public access blocked, TLS only, and kept when the stack is deleted (it holds users'
    data and records)."""
    return s3.Bucket(
        scope, construct_id,
        encryption=settings.pop("encryption", s3.BucketEncryption.S3_MANAGED),
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
        enforce_ssl=True,
        removal_policy=RemovalPolicy.RETAIN,
        **settings,
    )


class JobStorage(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, settings: StackSettings) -> None:
        super().__init__(scope, construct_id)
        if settings.kms_key_arn:
            self.key: kms.IKey = kms.Key.from_key_arn(self, "Key", settings.kms_key_arn)
        else:
            self.key = kms.Key(
                self, "Key", enable_key_rotation=True, removal_policy=RemovalPolicy.RETAIN,
                description="autolabel: the job bucket, the human-task table, SageMaker volumes and outputs",
            )
        self.access_logs = private_bucket(
            self, "AccessLogs",
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_PREFERRED,
            lifecycle_rules=[s3.LifecycleRule(expiration=Duration.days(365))],
        )
        self.bucket = private_bucket(
            self, "Jobs",
            encryption=s3.BucketEncryption.KMS, encryption_key=self.key, bucket_key_enabled=True,
            versioned=True,  # a re-uploaded manifest or a rerun never silently loses labels
            event_bridge_enabled=True,  # the job trigger listens for Object Created
            server_access_logs_bucket=self.access_logs,
            server_access_logs_prefix="jobs-bucket/",
        )

    def grant_key_use(self, grantee: iam.IGrantable) -> None:
        """Decrypt and GenerateDataKey on the stack's key only: enough to read and write its objects."""
        self.key.grant(grantee, *KEY_USE)
