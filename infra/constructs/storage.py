"""The job bucket: users upload jobs/<job>/{job.json,labels.json,input.manifest}; outputs land beside."""

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_s3 as s3
from constructs import Construct


def private_bucket(scope: Construct, construct_id: str, **settings) -> s3.Bucket:
    """A bucket reached only through the stack's own grants: S3-managed encryption, public access
    blocked, TLS only, and kept when the stack is deleted (it holds users' data and records)."""
    return s3.Bucket(
        scope, construct_id,
        encryption=s3.BucketEncryption.S3_MANAGED,
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
        enforce_ssl=True,
        removal_policy=RemovalPolicy.RETAIN,
        **settings,
    )


class JobStorage(Construct):
    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.access_logs = private_bucket(
            self, "AccessLogs",
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_PREFERRED,
            lifecycle_rules=[s3.LifecycleRule(expiration=Duration.days(365))],
        )
        self.bucket = private_bucket(
            self, "Jobs",
            versioned=True,  # a re-uploaded manifest or a rerun never silently loses labels
            event_bridge_enabled=True,  # the job trigger listens for Object Created
            server_access_logs_bucket=self.access_logs,
            server_access_logs_prefix="jobs-bucket/",
        )
