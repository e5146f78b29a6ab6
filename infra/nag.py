"""cdk-nag's AwsSolutions checks, with every accepted finding justified here.

cdk-nag reports one finding per wildcard; their ids embed logical ids, so they
are matched by pattern: a finding that matches no pattern below fails synth.
"""

from __future__ import annotations

import re

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks
from constructs import Construct

JUSTIFIED: list[tuple[str, str]] = [
    (r"AwsSolutions-IAM5\[Resource::<[\w]+\.Arn>:\*\]",
     "Step Functions may invoke any version of the workflow's own functions (CDK's LambdaInvoke grant)"),
    (r"AwsSolutions-IAM5\[Action::s3:(GetObject|GetBucket|List|DeleteObject|Abort|PutObject)\*\]",
     "read/write on the job bucket only: handlers stream manifests and write outputs under jobs/<job>/"),
    (r"AwsSolutions-IAM5\[Resource::<StorageJobs\w+\.Arn>/\*\]",
     "objects of the job bucket: job files are created at run time under jobs/<job>/"),
    (r"AwsSolutions-IAM5\[Resource::<HumanTasks\w+\.Arn>/index/\*\]",
     "the human task table's own indexes (CDK's table grant)"),
    # The partition is a literal ("aws") when cdk.json's feature flags apply (`cdk synth`), a token otherwise.
    (r"AwsSolutions-IAM5\[Resource::arn:(<AWS::Partition>|aws):sagemaker:[^:]+:<AWS::AccountId>:"
     r"(training-job|transform-job|model)/\*\]",
     "SageMaker job and model names are made per job and iteration at run time"),
    (r"AwsSolutions-IAM5\[Resource::arn:<AWS::Partition>:events:[^:]+:<AWS::AccountId>:rule/"
     r"StepFunctionsGetEventsFor\w+\]",
     "the managed EventBridge rules Step Functions uses for SageMaker .sync"),
    (r"AwsSolutions-IAM5\[Resource::arn:aws:logs:\*:\*:log-group:/aws/sagemaker/\*\]",
     "SageMaker jobs write their logs to log groups it names itself"),
    (r"AwsSolutions-IAM5\[Resource::\*\]",
     "actions that take no resource: X-Ray PutTraceSegments, ECR GetAuthorizationToken, "
     "CloudWatch PutMetricData (limited to the SageMaker namespace by condition), log delivery"),
    (r"AwsSolutions-IAM5\[Action::(xray|logs):[\w*]+\]",
     "tracing and log delivery actions that Step Functions and Lambda need"),
    (r"AwsSolutions-IAM4\[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole\]",
     "the AWS managed basic execution role only lets a function write its own logs"),
    (r"AwsSolutions-SQS3",
     "this queue is the dead-letter queue of the upload rule's target; a DLQ needs no DLQ of its own"),
]


class UnjustifiedFindingError(ValueError):
    pass


def _reason(finding: str) -> str | None:
    for pattern, reason in JUSTIFIED:
        if re.fullmatch(pattern, finding):
            return reason
    return None


def add_nag_checks(app: cdk.App, stack: cdk.Stack) -> None:
    """Acknowledge the justified findings on their constructs; run the checks at synth."""
    paths = {c.node.path: c for c in stack.node.find_all()}
    for violation in AwsSolutionsChecks().validate_scope(stack).violations:
        finding = violation.rule_name
        reason = _reason(finding)
        if reason is None:
            continue  # left for the checks at synth, which fail on it
        for resource in violation.violating_resources:
            node: Construct = paths[resource.construct_path]
            cdk.Validations.of(node).acknowledge(cdk.Acknowledgment(id=f"AwsSolutions::{finding}", reason=reason))
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
