"""Model containers (images per task type from containers/) and the SageMaker role.

containers/<task type>/Dockerfile builds the image batch transform runs (CPU
inference instances), with containers/ as the build context so that it can copy the
shared containers/common/ml_container package beside the task type's own. A
Dockerfile.train beside it, when present, builds the training image: the GPU training
instance (ml.p3.2xlarge) needs a CUDA build of PyTorch that the CPU inference instances
would only carry as dead weight.

The SageMaker role reaches the job bucket's jobs/ objects only: it reads any of them (training data,
the transform inputs, the model artifact, and the images an image model reads itself at transform
time, whose source-ref may name any key under jobs/), writes only model output and transform output
(MODEL_WRITES), and lists only under jobs/. Buckets of the dataBuckets setting (infra/config.py) it
may read, nothing else. The step tasks' S3 locations (JobBucketLocation) take no grant of their own:
the CDK's S3Location.from_json_expression would grant s3:GetObject/ListBucket/PutObject on `*`.

Network: text-classification trains and serves with EnableNetworkIsolation: SageMaker hands the
container its channels and requests, and its encoder ships in the image (HF_HUB_OFFLINE), so it
needs no network at all. Image task types cannot be isolated: their containers fetch each item's
image from S3 themselves at transform time (containers/common/ml_container/sources.py), since the
transform input holds references, not the images. The imageJobsVpc setting puts their training jobs
and models in the given subnets instead; those subnets need a route to S3 (a gateway endpoint) and to
ECR (interface endpoints or NAT), or the jobs fail to start or to read their images.
"""

from dataclasses import dataclass

from aws_cdk import Stack
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from infra.config import StackSettings
from infra.constructs.job_access import JOB, SOURCE_OBJECTS
from infra.paths import CONTAINERS_DIR
from labeling.task_types import TASK_TYPES

# What SageMaker writes: the model artifact (training) and the predictions (transforms), the
# prefixes labeling/logic/sagemaker_step.py hands the jobs.
MODEL_WRITES = (JOB.model_output() + "*", JOB.output + "inference/*")
# Task types whose container needs no network (see the module's docstring).
NETWORK_ISOLATED = frozenset({"text-classification"})


def available_task_types() -> list[str]:
    """Task types whose container ships in containers/<task type>/ (a Dockerfile)."""
    return [name for name in TASK_TYPES if (CONTAINERS_DIR / name / "Dockerfile").is_file()]


def build_context_exclude(name: str) -> list[str]:
    """What a task type's image leaves out of its build context, containers/ (Docker's ignore
    syntax, the last matching line wins): everything but common/ and <task type>/, and caches.
    CDK computes the asset's hash over the context it stages, after these exclusions, so an
    edit to another task type's folder neither changes this image's hash nor rebuilds it;
    an edit to common/ rebuilds every image."""
    return ["*", "!common", f"!{name}", "**/__pycache__", "**/*.pyc", "**/tests"]


@dataclass(frozen=True)
class ModelImage:
    training: tasks.DockerImage
    inference: tasks.DockerImage


class JobBucketLocation(tasks.S3Location):
    """An S3 URI read from the state (a JSONPath) that grants nothing when a task binds it: the
    SageMaker role's access is granted once, narrowly, by ModelImages."""

    def __init__(self, json_path: str) -> None:
        super().__init__()
        self._uri = sfn.JsonPath.string_at(json_path)

    def bind(self, task: tasks.ISageMakerTask, *, for_reading: bool | None = None,  # noqa: ARG002
             for_writing: bool | None = None) -> tasks.S3LocationConfig:  # noqa: ARG002
        return tasks.S3LocationConfig(uri=self._uri)


def grant_data_buckets(grantee: iam.IRole | lambda_.IFunction, buckets: tuple[str, ...]) -> None:
    """Read-only access to the dataBuckets setting's buckets (their images), no other bucket."""
    if not buckets:
        return
    principal = grantee.grant_principal
    partition = Stack.of(grantee).partition
    principal.add_to_principal_policy(iam.PolicyStatement(
        actions=["s3:ListBucket"], resources=[f"arn:{partition}:s3:::{name}" for name in buckets]))
    principal.add_to_principal_policy(iam.PolicyStatement(
        actions=["s3:GetObject"], resources=[f"arn:{partition}:s3:::{name}/*" for name in buckets]))


@dataclass(frozen=True)
class ModelNetwork:
    """How a task type's training job and model reach the network: not at all, or in a VPC."""

    isolated: bool = False
    subnet_ids: tuple[str, ...] = ()
    security_group_ids: tuple[str, ...] = ()

    def vpc_config(self) -> dict | None:
        if not self.subnet_ids:
            return None
        return {"SecurityGroupIds": list(self.security_group_ids), "Subnets": list(self.subnet_ids)}


class ModelImages(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, bucket: s3.IBucket, key: kms.IKey,
                 settings: StackSettings) -> None:
        super().__init__(scope, construct_id)
        self.role = iam.Role(
            self, "SageMakerExecutionRole",
            assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
            description="Training and batch-transform jobs of autolabel: the job bucket's jobs/ objects, "
                        "the data buckets (read), the stack's key and model images only",
        )
        self.role.add_to_policy(iam.PolicyStatement(
            actions=["s3:ListBucket"], resources=[bucket.bucket_arn],
            conditions={"StringLike": {"s3:prefix": [SOURCE_OBJECTS]}}))
        self.role.add_to_policy(iam.PolicyStatement(
            actions=["s3:GetObject"], resources=[bucket.arn_for_objects(SOURCE_OBJECTS)]))
        self.role.add_to_policy(iam.PolicyStatement(
            actions=["s3:PutObject", "s3:AbortMultipartUpload"],
            resources=[bucket.arn_for_objects(prefix) for prefix in MODEL_WRITES]))
        grant_data_buckets(self.role, settings.data_buckets)
        # The bucket's objects are encrypted with the stack's key. The SageMaker tasks add what the
        # jobs' volumes and outputs need of the same key (kms:CreateGrant, kms:Encrypt, ...: the CDK's
        # grant for volume_encryption_key/encryption_key), on that key only.
        key.grant(self.role, "kms:Decrypt", "kms:GenerateDataKey")
        vpc = settings.image_jobs_vpc
        self.networks: dict[str, ModelNetwork] = {
            name: ModelNetwork(isolated=True) if name in NETWORK_ISOLATED
            else ModelNetwork(subnet_ids=tuple(vpc.subnetIds), security_group_ids=tuple(vpc.securityGroupIds))
            if vpc else ModelNetwork()
            for name in TASK_TYPES
        }
        if vpc:
            self._allow_network_interfaces(vpc.subnetIds, vpc.securityGroupIds)
        self.role.add_to_policy(iam.PolicyStatement(
            actions=["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
            resources=["arn:aws:logs:*:*:log-group:/aws/sagemaker/*"],
        ))
        self.role.add_to_policy(iam.PolicyStatement(
            actions=["cloudwatch:PutMetricData"], resources=["*"],
            conditions={"StringLike": {"cloudwatch:namespace": "/aws/sagemaker/*"}},
        ))
        self.images: dict[str, ModelImage] = {}
        for name in available_task_types():
            inference = self._image(name, "image", "Dockerfile")
            training = (self._image(name, "training-image", "Dockerfile.train")
                        if (CONTAINERS_DIR / name / "Dockerfile.train").is_file() else inference)
            self.images[name] = ModelImage(training, inference)

    def _allow_network_interfaces(self, subnets: list[str], security_groups: list[str]) -> None:
        """What SageMaker does in the VPC with this role: network interfaces in these subnets and groups.
        The Describe actions take no resource (IAM's service reference), so they are on `*`; the
        interfaces' ids are made at run time."""
        stack = Stack.of(self)
        self.role.add_to_policy(iam.PolicyStatement(
            actions=["ec2:DescribeNetworkInterfaces", "ec2:DescribeVpcs", "ec2:DescribeDhcpOptions",
                     "ec2:DescribeSubnets", "ec2:DescribeSecurityGroups"], resources=["*"]))
        self.role.add_to_policy(iam.PolicyStatement(
            actions=["ec2:CreateNetworkInterface", "ec2:CreateNetworkInterfacePermission",
                     "ec2:DeleteNetworkInterface", "ec2:DeleteNetworkInterfacePermission"],
            resources=[stack.format_arn(service="ec2", resource="network-interface", resource_name="*"),
                       *(stack.format_arn(service="ec2", resource="subnet", resource_name=subnet)
                         for subnet in subnets),
                       *(stack.format_arn(service="ec2", resource="security-group", resource_name=group)
                         for group in security_groups)]))

    def _image(self, name: str, suffix: str, dockerfile: str) -> tasks.DockerImage:
        asset = ecr_assets.DockerImageAsset(
            self, f"{name}-{suffix}", directory=str(CONTAINERS_DIR), file=f"{name}/{dockerfile}",
            platform=ecr_assets.Platform.LINUX_AMD64, exclude=build_context_exclude(name),
        )
        asset.repository.grant_pull(self.role)
        return tasks.DockerImage.from_ecr_repository(asset.repository, asset.image_tag)
