"""cdk-nag's AwsSolutions checks, with every accepted finding justified here.

cdk-nag reports one finding per wildcard; their ids embed logical ids, so they
are matched by pattern: a finding that matches no pattern below fails synth. An entry
with a third element applies only to the constructs whose path it matches (fullmatch);
entries are tried in order, so a scoped entry gives its own reason before a general one.
"""

from __future__ import annotations

import re

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks
from constructs import IConstruct

from infra.constructs.human_tasks import TASK_API_WRITES
from infra.constructs.job_access import OTHER_ACCESS, SOURCE_OBJECTS, WORKFLOW_ACCESS
from infra.constructs.models import MODEL_WRITES

# CDK's BucketDeployment: one singleton function per stack, its path fixed by CDK.
_PAGE_DEPLOYMENT = r"[^/]+/Custom::CDKBucketDeployment\w+/.*"
_DISTRIBUTION = r"[^/]+/LabelingPage/Distribution/Resource"
_FUNCTION_ROLES = r"[^/]+/Functions/\w+/ServiceRole/DefaultPolicy/Resource"
_SAGEMAKER_ROLE = r"[^/]+/Models/SageMakerExecutionRole/DefaultPolicy/Resource"
_STATE_MACHINE_ROLE = r"[^/]+/Workflow/LabelingJob/Role/DefaultPolicy/Resource"
_TABLE_USERS = r"[^/]+/Functions/(TaskApi|PublishHumanTasks)/ServiceRole/DefaultPolicy/Resource"


def _job_keys() -> str:
    """Exactly the job-bucket key patterns of infra/constructs/job_access.py's table, the task API's
    answers and SageMaker's outputs: a key pattern outside them is no finding acknowledged here."""
    keys = {SOURCE_OBJECTS, *MODEL_WRITES, *TASK_API_WRITES}
    for access in (*WORKFLOW_ACCESS.values(), *OTHER_ACCESS.values()):
        keys.update(access.reads + access.writes + access.deletes)
    return "|".join(re.escape(key) for key in sorted(keys))

JUSTIFIED: list[tuple[str, str] | tuple[str, str, str]] = [
    # --- the labeling page's deployment (aws_s3_deployment.BucketDeployment, CDK's own handler) ---
    (r"AwsSolutions-IAM5\[Action::s3:(GetObject|GetBucket|List|DeleteObject|Abort)\*\]",
     "BucketDeployment copies the page from the CDK asset bucket into the site bucket and prunes "
     "old files there (CDK's grant on those two buckets only)", _PAGE_DEPLOYMENT),
    (r"AwsSolutions-IAM5\[Resource::arn:(<AWS::Partition>|aws):s3:::cdk-\w+-assets-<AWS::AccountId>-[\w-]+/\*\]",
     "BucketDeployment reads the page's zipped asset from the CDK bootstrap asset bucket", _PAGE_DEPLOYMENT),
    (r"AwsSolutions-IAM5\[Resource::<LabelingPageSite\w+\.Arn>/\*\]",
     "BucketDeployment writes and prunes the page's files in the site bucket", _PAGE_DEPLOYMENT),
    (r"AwsSolutions-IAM5\[Resource::\*\]",
     "cloudfront:CreateInvalidation/GetInvalidation after a page deployment; CDK's handler grants "
     "them on any distribution", _PAGE_DEPLOYMENT),
    (r"AwsSolutions-L1",
     "BucketDeployment's handler runtime is chosen by aws-cdk-lib and moves with it", _PAGE_DEPLOYMENT),
    # --- the job bucket: each function's and SageMaker's keys (infra/constructs/job_access.py, models.py) ---
    (rf"AwsSolutions-IAM5\[Resource::<StorageJobs\w+\.Arn>/({_job_keys()})\]",
     "keys under jobs/<job>/ (any job: job names come with uploads at run time), per function the key "
     "patterns it reads, writes or deletes as infra/constructs/job_access.py lists them; the task API "
     "writes only workers' answers, SageMaker only model and transform output",
     rf"{_FUNCTION_ROLES}|{_SAGEMAKER_ROLE}"),
    (r"AwsSolutions-IAM5\[Resource::arn:(<AWS::Partition>|aws):s3:::[a-z0-9.-]+/\*\]",
     "objects of a bucket in the dataBuckets setting (infra/config.py), read only (s3:GetObject), by "
     "ValidateJob, the task API and SageMaker, the three that read source-ref images",
     rf"[^/]+/Functions/(ValidateJob|TaskApi)/ServiceRole/DefaultPolicy/Resource|{_SAGEMAKER_ROLE}"),
    (r"AwsSolutions-IAM5\[Resource::arn:(<AWS::Partition>|aws):ec2:[^:]+:<AWS::AccountId>:network-interface/\*\]",
     "with imageJobsVpc: the network interfaces SageMaker makes for a job in the VPC, whose ids it makes "
     "at run time (the subnets and security groups are named)", _SAGEMAKER_ROLE),
    # --- the stack's KMS key ---
    (r"AwsSolutions-IAM5\[Action::kms:(ReEncrypt|GenerateDataKey)\*\]",
     "the CDK's grants on the stack's key alone: the human-task table's (its items are encrypted with "
     "it) and the SageMaker tasks' for volume and output encryption", rf"{_TABLE_USERS}|{_SAGEMAKER_ROLE}"),
    # --- the labeling page's distribution and the workers' user pool ---
    (r"AwsSolutions-CFR1",
     "workers may label from any country; access is by invitation (Cognito) instead", _DISTRIBUTION),
    (r"AwsSolutions-CFR2",
     "the page is static and every /api/* route needs a Cognito JWT and is throttled at the API stage; "
     "a WAF web ACL (us-east-1, billed monthly) can be attached with the distribution's web_acl_id", _DISTRIBUTION),
    (r"AwsSolutions-CFR4",
     "the distribution uses CloudFront's default *.cloudfront.net certificate, whose security policy "
     "CloudFront fixes at TLSv1; a TLSv1.2_2021 minimum needs a custom domain and ACM certificate", _DISTRIBUTION),
    (r"AwsSolutions-COG2",
     "MFA is optional (TOTP, no SMS) for an invited labeling workforce: no self sign-up, a 12-character "
     "password policy and threat protection (Plus plan, full function) guard sign-in; set mfa=Mfa.REQUIRED "
     "in infra/constructs/workers.py to require it", r"[^/]+/WorkerPool/Workers/Resource"),
    # --- monitoring (infra/constructs/monitoring.py) ---
    (r"AwsSolutions-IAM5\[Resource::<FunctionsHumanBatchAge\w+\.Arn>:\*\]",
     "EventBridge Scheduler's role may invoke the HumanBatchAge function, any version of it and no other "
     "function (CDK's scheduler target grant)", r"[^/]+/SchedulerRoleForTarget-\w+/DefaultPolicy/Resource"),
    # --- the workflow, storage and models ---
    (r"AwsSolutions-IAM5\[Resource::<[\w]+\.Arn>:\*\]",
     "Step Functions may invoke any version of the workflow's own functions (CDK's LambdaInvoke grant)"),
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
     "X-Ray PutTraceSegments/PutTelemetryRecords, which take no resource (every function traces)",
     _FUNCTION_ROLES),
    (r"AwsSolutions-IAM5\[Resource::\*\]",
     "ECR GetAuthorizationToken and CloudWatch PutMetricData (limited to the /aws/sagemaker/ namespace "
     "by condition), which take no resource; with imageJobsVpc, EC2's Describe* for the jobs' network "
     "interfaces, which take none either", _SAGEMAKER_ROLE),
    (r"AwsSolutions-IAM5\[Resource::\*\]",
     "X-Ray tracing, log delivery to the workflow's log group (CloudWatch Logs' delivery actions take no "
     "resource) and sagemaker:ListTags (the CDK's SageMaker tasks; it reads tags only)", _STATE_MACHINE_ROLE),
    (r"AwsSolutions-IAM5\[Action::(xray|logs):[\w*]+\]",
     "tracing and log delivery actions that Step Functions and Lambda need"),
    (r"AwsSolutions-IAM4\[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole\]",
     "the AWS managed basic execution role only lets a function write its own logs"),
    (r"AwsSolutions-SQS3",
     "this queue is the dead-letter queue of the Uploads queue and of the upload rule's target "
     "(infra/constructs/trigger.py); a DLQ needs no DLQ of its own", r"[^/]+/Trigger/Undelivered/Resource"),
]


class UnjustifiedFindingError(ValueError):
    pass


def _reason(finding: str, construct_path: str) -> str | None:
    for pattern, reason, *where in JUSTIFIED:
        if re.fullmatch(pattern, finding) and (not where or re.fullmatch(where[0], construct_path)):
            return reason
    return None


def add_nag_checks(app: cdk.App, stack: cdk.Stack) -> None:
    """Acknowledge the justified findings on their constructs; run the checks at synth."""
    paths = {c.node.path: c for c in stack.node.find_all()}
    for violation in AwsSolutionsChecks().validate_scope(stack).violations:
        finding = violation.rule_name
        for resource in violation.violating_resources:
            path = resource.construct_path
            reason = _reason(finding, path) if path is not None else None
            if path is None or reason is None:
                continue  # left for the checks at synth, which fail on it
            node: IConstruct = paths[path]
            cdk.Validations.of(node).acknowledge(cdk.Acknowledgment(id=f"AwsSolutions::{finding}", reason=reason))
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
