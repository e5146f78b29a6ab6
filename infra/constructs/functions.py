"""The Lambda functions: one code asset (functions/), the public Powertools layer."""

from aws_cdk import Duration, Stack
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra.paths import FUNCTIONS_DIR
from labeling.observability import METRICS_NAMESPACE, SERVICE_NAME

# Public Powertools for AWS Lambda (Python) v3 layer. 27 is the version its docs
# list for 3.23; the code uses nothing newer. Override with context powertools_layer_version.
POWERTOOLS_LAYER_VERSION = 27
PYTHON_RUNTIME = lambda_.Runtime.PYTHON_3_14
# Workflow functions stream whole manifests: give them Lambda's longest run.
STREAMING_TIMEOUT = Duration.minutes(15)


class LabelingFunctions(Construct):
    """A factory for the project's functions, sharing code, layer and settings."""

    def __init__(self, scope: Construct, construct_id: str, *, environment: dict[str, str]) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        version = self.node.try_get_context("powertools_layer_version") or POWERTOOLS_LAYER_VERSION
        self.layer = lambda_.LayerVersion.from_layer_version_arn(
            self, "Powertools",
            f"arn:{stack.partition}:lambda:{stack.region}:017000801446:layer:"
            f"AWSLambdaPowertoolsPythonV3-python314-x86_64:{version}",
        )
        self.code = lambda_.Code.from_asset(str(FUNCTIONS_DIR), exclude=["**/__pycache__", "*.pyc"])
        self.environment = {
            "POWERTOOLS_SERVICE_NAME": SERVICE_NAME,
            "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
            **environment,
        }
        self.all: list[lambda_.Function] = []

    def function(self, construct_id: str, handler: str, *, timeout: Duration | None = None,
                 memory_mb: int = 1024, environment: dict[str, str] | None = None) -> lambda_.Function:
        fn = lambda_.Function(
            self, construct_id,
            runtime=PYTHON_RUNTIME,
            architecture=lambda_.Architecture.X86_64,
            handler=handler,
            code=self.code,
            layers=[self.layer],
            timeout=timeout or STREAMING_TIMEOUT,
            memory_size=memory_mb,
            tracing=lambda_.Tracing.ACTIVE,
            environment={**self.environment, **(environment or {})},
            log_group=logs.LogGroup(self, f"{construct_id}Logs", retention=logs.RetentionDays.THREE_MONTHS),
        )
        self.all.append(fn)
        return fn
