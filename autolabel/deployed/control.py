"""`autolabel stop JOB` and `autolabel resume JOB --stack NAME`: the job's executions in Step Functions.

A stop is StopExecution; the stack's ExecutionStopped rule then runs RecordStop, which writes the
outputs so far (infra/stack.py). A resume starts a new execution with {"resume": {"bucket", "job"}},
named `<job>-resume-<n>` (execution names are kept for good), whose ResumeJob step goes on from
the job's last checkpoint (README "Stop, fail, resume").
"""

from __future__ import annotations

import json
import time
from typing import Any, TextIO

from botocore.exceptions import ClientError

from autolabel.deployed.stack import (
    RESUME_SUFFIX,
    DeployedError,
    DeployedStack,
    aws_errors,
    describe,
    read_json,
    require_job,
)

# How long stop waits for Step Functions to report the execution stopped.
STOP_WAIT_SECONDS = 30


def stop_job(stack: DeployedStack, job: str, out: TextIO, *, cause: str = "stopped by autolabel stop") -> dict:
    executions = require_job(stack, job)
    running = [e for e in executions if e["status"] == "RUNNING"]
    if not running:
        latest = executions[-1]["status"] if executions else "not started"
        raise DeployedError(f"job {job} is not running ({latest}); nothing to stop")
    arn = running[-1]["executionArn"]
    with aws_errors("states:StopExecution on the stack's state machine"):
        stack.client("stepfunctions").stop_execution(executionArn=arn, cause=cause)
    deadline = time.monotonic() + STOP_WAIT_SECONDS
    described = describe(stack, arn)
    while described["status"] == "RUNNING" and time.monotonic() < deadline:
        time.sleep(0.5)
        described = describe(stack, arn)
    print(f"job {job} stopped ({described['status']}); its outputs so far are written to "
          f"s3://{stack.bucket}/{stack.layout(job).output} in a few seconds (autolabel download {job} --to DIR); "
          f"continue it with: autolabel resume {job} --stack {stack.name}", file=out)
    return described


def resume_job(stack: DeployedStack, job: str, out: TextIO) -> str:
    executions = require_job(stack, job)
    if not executions:
        raise DeployedError(f"job {job} never started, so there is nothing to resume; submit it: autolabel submit")
    latest = executions[-1]
    if latest["status"] == "RUNNING":
        raise DeployedError(f"job {job} is running ({latest['name']}); stop it first to resume it later")
    if latest["status"] == "SUCCEEDED":  # WriteOutput ran: every item labeled, or a stopping condition met
        report: dict[str, Any] = read_json(stack, stack.layout(job).report) or {}
        raise DeployedError(f"job {job} has ended ({report.get('status', 'Completed')}); its outputs are final: "
                            f"autolabel download {job} --to DIR")
    if read_json(stack, stack.layout(job).checkpoint) is None:
        raise DeployedError(f"job {job} ended before its first step was done (it has no checkpoint); "
                            f"fix the cause it reports (autolabel status {job}) and submit it again under a new name")
    number = sum(RESUME_SUFFIX in e["name"] for e in executions) + 1
    sfn = stack.client("stepfunctions")
    execution_input = json.dumps({"resume": {"bucket": stack.bucket, "job": job}})
    with aws_errors("states:StartExecution on the stack's state machine"):
        while True:  # a name taken (an earlier resume of another client) moves on to the next number
            try:
                arn = sfn.start_execution(stateMachineArn=stack.state_machine_arn, name=f"{job}{RESUME_SUFFIX}{number}",
                                          input=execution_input)["executionArn"]
                break
            except ClientError as error:
                if error.response.get("Error", {}).get("Code") != "ExecutionAlreadyExists":
                    raise
                number += 1
    print(f"job {job} resuming: {arn}", file=out)
    print(f"follow it with: autolabel status {job} --watch --stack {stack.name}", file=out)
    return arn
