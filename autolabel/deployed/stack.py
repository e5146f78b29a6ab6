"""The deployed stack, found by name: its bucket and state machine, and the job's executions.

Every AWS error a user can cause (no credentials, no such stack, refused credentials, missing
permissions) becomes a `DeployedError` with one line saying what to do.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.exceptions import ClientError

from autolabel.aws_setup import setup_errors
from autolabel.workers import ACCESS_DENIED, BAD_CREDENTIALS, WorkersError, stack_outputs
from labeling.layout import JobLayout

JOBS_BUCKET_OUTPUT = "JobsBucket"
STATE_MACHINE_OUTPUT = "StateMachine"
JOBS_PREFIX = "jobs/"
# A resume's execution name: the local runner names its resumes alike (autolabel/executions.py).
RESUME_SUFFIX = "-resume-"
TERMINAL = {"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"}


class DeployedError(Exception):
    """What the command could not do, for the user to read (one line)."""


@dataclass
class DeployedStack:
    name: str
    session: boto3.Session
    bucket: str
    state_machine_arn: str
    outputs: dict[str, str]

    def client(self, service: str) -> Any:
        return self.session.client(service)

    def layout(self, job: str) -> JobLayout:
        return JobLayout(JOBS_PREFIX + job)

    def execution_arn(self, execution_name: str) -> str:
        """The ARN Step Functions gives an execution of the stack's state machine named so."""
        return self.state_machine_arn.replace(":stateMachine:", ":execution:", 1) + ":" + execution_name


def connect(stack_name: str, *, region: str | None = None, profile: str | None = None) -> DeployedStack:
    """The stack's outputs, by CloudFormation DescribeStacks."""
    with aws_errors(f"cloudformation:DescribeStacks on the stack {stack_name!r}"):
        session = boto3.Session(region_name=region, profile_name=profile)
        try:
            outputs = stack_outputs(session.client("cloudformation"), stack_name)
        except WorkersError as error:
            raise DeployedError(str(error)) from None
    missing = [name for name in (JOBS_BUCKET_OUTPUT, STATE_MACHINE_OUTPUT) if not outputs.get(name)]
    if missing:
        raise DeployedError(f"the stack {stack_name!r} has no {' or '.join(missing)} output: is it an autolabel "
                            "stack? Name yours with --stack")
    return DeployedStack(stack_name, session, outputs[JOBS_BUCKET_OUTPUT], outputs[STATE_MACHINE_OUTPUT], outputs)


@contextmanager
def aws_errors(doing: str) -> Iterator[None]:
    """Turn what boto3 raises for a user's setup into one line; `doing`: the call, for a permission error."""
    with setup_errors(DeployedError):
        try:
            yield
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "")
            message = error.response.get("Error", {}).get("Message", "")
            if code in BAD_CREDENTIALS:
                raise DeployedError(f"your AWS credentials were refused ({code}): refresh them and try again") \
                    from None
            if code in ACCESS_DENIED:
                raise DeployedError(f"your AWS credentials may not do this ({code}: {message}); they need {doing}") \
                    from None
            raise DeployedError(f"AWS refused {doing} ({code}: {message})") from None


def job_executions(stack: DeployedStack, job: str) -> list[dict[str, Any]]:
    """The job's executions, oldest first: the upload's (named after the job) and its resumes'.

    A resume is named `<job>-resume-<n>`, which may also be another job's name: its input,
    {"resume": {"job": ...}}, says whose it is.
    """
    sfn = stack.client("stepfunctions")
    found = []
    with aws_errors("states:ListExecutions and states:DescribeExecution on the stack's state machine"):
        for page in sfn.get_paginator("list_executions").paginate(stateMachineArn=stack.state_machine_arn):
            for execution in page["executions"]:
                name = execution["name"]
                if name == job:
                    found.append(execution)
                elif name.startswith(job + RESUME_SUFFIX) and name[len(job + RESUME_SUFFIX):].isdigit():
                    described = sfn.describe_execution(executionArn=execution["executionArn"])
                    if json.loads(described.get("input") or "{}").get("resume", {}).get("job") == job:
                        found.append(execution)
    return sorted(found, key=lambda execution: execution["startDate"])


def describe(stack: DeployedStack, execution_arn: str) -> dict[str, Any]:
    with aws_errors("states:DescribeExecution on the stack's state machine"):
        return stack.client("stepfunctions").describe_execution(executionArn=execution_arn)


def read_json(stack: DeployedStack, key: str) -> Any | None:
    """An object of the job bucket as JSON; None when there is none."""
    s3 = stack.client("s3")
    with aws_errors(f"s3:GetObject on s3://{stack.bucket}/{key}"):
        try:
            body = s3.get_object(Bucket=stack.bucket, Key=key)["Body"].read()
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            raise
    try:
        return json.loads(body)
    except ValueError:
        raise DeployedError(f"s3://{stack.bucket}/{key} is not JSON; was it written by autolabel?") from None


def job_keys(stack: DeployedStack, prefix: str) -> list[str]:
    s3 = stack.client("s3")
    keys: list[str] = []
    with aws_errors(f"s3:ListBucket on {stack.bucket}"):
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=stack.bucket, Prefix=prefix):
            keys.extend(obj["Key"] for obj in page.get("Contents", []))
    return keys


def has_objects(stack: DeployedStack, prefix: str) -> bool:
    with aws_errors(f"s3:ListBucket on {stack.bucket}"):
        return stack.client("s3").list_objects_v2(Bucket=stack.bucket, Prefix=prefix, MaxKeys=1).get("KeyCount", 0) > 0


def require_job(stack: DeployedStack, job: str) -> list[dict[str, Any]]:
    """The job's executions; refuses a job the stack has never seen."""
    executions = job_executions(stack, job)
    if not executions and not has_objects(stack, stack.layout(job).prefix):
        raise DeployedError(f"there is no job {job!r} in the stack {stack.name!r} (bucket {stack.bucket}); "
                            "autolabel list shows its jobs")
    return executions
