"""Step Functions, as the task API sees it: resuming a state that waits on a task token."""

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
def _client():
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
