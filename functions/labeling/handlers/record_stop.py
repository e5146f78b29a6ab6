"""RecordStop: a job's execution was stopped (or ran past the state machine's timeout); write
the outputs of what it has so far, as RecordFailure does for a failure.

EventBridge delivers Step Functions' "Execution Status Change" events of the stack's state
machine with status ABORTED or TIMED_OUT (infra/stack.py); no state of a stopped execution
runs, so this is the only place its outputs can come from. The job is named by the
execution's input (an upload's {"bucket", "key"} or a resume's {"resume": {"bucket", "job"}}),
its state by its last checkpoint.
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from labeling.dal import checkpoints, s3
from labeling.job_outputs import Ending, failure_file, write_outputs
from labeling.layout import JobLayout
from labeling.models.state import JobState
from labeling.observability import job_ended, logger, tracer

STOPPED, TIMED_OUT = "ABORTED", "TIMED_OUT"


def job_of(execution_input: dict[str, Any]) -> tuple[str, JobLayout]:
    """(bucket, layout) of the job an execution runs, from its input."""
    if "resume" in execution_input:
        target = execution_input["resume"]
        return target["bucket"], JobLayout(f"jobs/{target['job']}")
    return execution_input["bucket"], JobLayout.from_manifest_key(execution_input["key"])


def ending(status: str) -> Ending:
    if status == TIMED_OUT:
        return Ending.failed("States.Timeout", "the job's execution ran past the state machine's time limit; "
                                               "resume the job to continue it in a new execution")
    return Ending.stopped()


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict:
    detail = event["detail"]
    status = detail["status"]
    bucket, layout = job_of(json.loads(detail.get("input") or "{}"))
    checkpoint = checkpoints.read(bucket, layout)
    end = ending(status)
    if checkpoint is not None and checkpoint.get("after") == "WriteOutput":
        # WriteOutput counted the job's end already (JobsSucceeded or JobsStopped).
        logger.info("nothing to write: the job's outputs are written", extra={"job": layout.job_name, "status": status})
        return {"job": layout.job_name, "status": status, "written": False}
    if checkpoint is None:
        job_ended(layout.job_name, end.status, None)  # stopped before any step was done: still a job's end
        logger.info("nothing to write: the job had no step done", extra={"job": layout.job_name, "status": status})
        return {"job": layout.job_name, "status": status, "written": False}
    state = JobState.model_validate(checkpoint["state"])
    if end.status == "Failed":
        s3.write_json(bucket, layout.failure, failure_file(
            job=layout.job_name, error=end.error, cause=end.cause, iteration=state.iteration,
            counts=state.counts.model_dump(by_alias=True)))
    summary = write_outputs(state, end)
    job_ended(layout.job_name, end.status, summary["counters"])
    logger.info("outputs of a stopped job written", extra={"job": layout.job_name, "status": status,
                                                          "counters": summary["counters"]})
    return {**summary, "written": True}
