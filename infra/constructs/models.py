"""Model containers (one image per task type from containers/) and the SageMaker role."""

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
        self.images: dict[str, tasks.DockerImage] = {}
        for name in available_task_types():
            asset = ecr_assets.DockerImageAsset(
                self, f"{name}-image", directory=str(CONTAINERS_DIR / name),
                platform=ecr_assets.Platform.LINUX_AMD64,
                exclude=["**/__pycache__", "*.pyc", "tests"],
            )
            asset.repository.grant_pull(self.role)
            self.images[name] = tasks.DockerImage.from_ecr_repository(asset.repository, asset.image_tag)
