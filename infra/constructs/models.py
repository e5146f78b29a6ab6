"""Model containers (images per task type from containers/) and the SageMaker role.

containers/<task type>/Dockerfile builds the image batch transform runs (CPU
inference instances), with containers/ as the build context so that it can copy the
shared containers/common/ml_container package beside the task type's own. A
Dockerfile.train beside it, when present, builds the training image: the GPU training
instance (ml.p3.2xlarge) needs a CUDA build of PyTorch that the CPU inference instances
would only carry as dead weight.
"""

from dataclasses import dataclass

from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from infra.paths import CONTAINERS_DIR
from labeling.task_types import TASK_TYPES


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


class ModelImages(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, bucket: s3.IBucket) -> None:
        super().__init__(scope, construct_id)
        self.role = iam.Role(
            self, "SageMakerExecutionRole",
            assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
            description="Training and batch-transform jobs of autolabel: job bucket and model images only",
        )
        bucket.grant_read_write(self.role)
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

    def _image(self, name: str, suffix: str, dockerfile: str) -> tasks.DockerImage:
        asset = ecr_assets.DockerImageAsset(
            self, f"{name}-{suffix}", directory=str(CONTAINERS_DIR), file=f"{name}/{dockerfile}",
            platform=ecr_assets.Platform.LINUX_AMD64, exclude=build_context_exclude(name),
        )
        asset.repository.grant_pull(self.role)
        return tasks.DockerImage.from_ecr_repository(asset.repository, asset.image_tag)
