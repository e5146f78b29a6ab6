"""`autolabel list`: the jobs in the stack's bucket, each with its latest execution's status."""

from __future__ import annotations

from typing import TextIO

from autolabel.deployed.stack import JOBS_PREFIX, RESUME_SUFFIX, DeployedStack, aws_errors


def list_jobs(stack: DeployedStack) -> list[tuple[str, str, str]]:
    """(job, status of its latest execution or NOT_STARTED, that execution's name), by job name."""
    s3, sfn = stack.client("s3"), stack.client("stepfunctions")
    jobs: list[str] = []
    with aws_errors(f"s3:ListBucket on {stack.bucket}"):
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=stack.bucket, Prefix=JOBS_PREFIX,
                                                                 Delimiter="/"):
            jobs.extend(p["Prefix"][len(JOBS_PREFIX):].rstrip("/") for p in page.get("CommonPrefixes", []))
    latest: dict[str, dict] = {}
    with aws_errors("states:ListExecutions on the stack's state machine"):
        for page in sfn.get_paginator("list_executions").paginate(stateMachineArn=stack.state_machine_arn):
            for execution in page["executions"]:
                name = execution["name"]
                # A resume's name ends -resume-<n>; a job of such a name has an execution of that name too.
                job = name if name in jobs or RESUME_SUFFIX not in name else name.rsplit(RESUME_SUFFIX, 1)[0]
                if job not in latest or execution["startDate"] > latest[job]["startDate"]:
                    latest[job] = execution
    return [(job, latest[job]["status"] if job in latest else "NOT_STARTED", latest.get(job, {}).get("name", "-"))
            for job in sorted(jobs)]


def print_jobs(stack: DeployedStack, out: TextIO) -> None:
    jobs = list_jobs(stack)
    if not jobs:
        print(f"no jobs in s3://{stack.bucket}/{JOBS_PREFIX} (stack {stack.name}); autolabel submit starts one",
              file=out)
        return
    width = max(len(job) for job, _, _ in jobs)
    print(f"{'job':<{width}}  {'status':<11}  latest execution", file=out)
    for job, status, execution in jobs:
        print(f"{job:<{width}}  {status:<11}  {execution}", file=out)
