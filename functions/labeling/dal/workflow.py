"""Step Functions, as the handlers see it: starting a job's execution, resuming a state that waits on a task token."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

import boto3
from botocore.exceptions import ClientError

# What Step Functions answers when no state waits on the token any more: it was resumed
# already, or the state timed out and the execution went on without it.
_NOT_WAITING = ("TaskDoesNotExist", "TaskTimedOut")


@cache
def _client() -> Any:
    return boto3.client("stepfunctions")


def resume(token: str, output: dict[str, Any]) -> bool:
    """Resume the state waiting on `token` with `output`; False when no state waits on it any more."""
    try:
        _client().send_task_success(taskToken=token, output=json.dumps(output))
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in _NOT_WAITING:
            return False
        raise
    return True


def start_job_execution(state_machine_arn: str, job: str, execution_input: dict[str, Any]) -> str | None:
    """Start the job's execution, named after the job; its ARN, or None when the job has one already.

    Step Functions refuses a second execution of a name (ExecutionAlreadyExists), or, while the
    first runs with the same input, answers with the first one's ARN: either way one execution.
    """
    try:
        response = _client().start_execution(
            stateMachineArn=state_machine_arn, name=job, input=json.dumps(execution_input))
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "ExecutionAlreadyExists":
            return None
        raise
    return response["executionArn"]
