"""RecordFailure: the Catch of every state. Writes failure.json beside the job's outputs, then
the outputs of what the job has so far (labeling.job_outputs): the output manifest with every
item labeled so far and the rest without a label, with a failure-reason, and report.json with
status Failed.

Everything already labeled stays where it was written (worker responses, consolidated
annotations, accepted machine labels), so nothing paid for is lost, and the job's
checkpoint is left as the last step wrote it, so the job can be resumed (logic/resume.py).
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from labeling.dal import checkpoints, s3
from labeling.dal.worker_responses import response_keys
from labeling.job_outputs import Ending, failure_file, write_outputs
from labeling.layout import JobLayout
from labeling.logic import sagemaker_failure
from labeling.models.state import JobState
from labeling.observability import job_ended, logger, tracer


def _cause(raw: str | None) -> Any:
    """Lambda errors arrive as a JSON string with errorMessage; keep it readable."""
    try:
        parsed = json.loads(raw or "")
    except json.JSONDecodeError:
        return raw
    if isinstance(parsed, dict) and "errorMessage" in parsed:
        return parsed["errorMessage"]
    if isinstance(parsed, dict) and "FailureReason" in parsed:
        return parsed["FailureReason"]
    return parsed


def human_batch_timeout(state: dict[str, Any], bucket: str, layout: JobLayout) -> str | None:
    """The cause of a States.Timeout at HumanLabeling, in the user's terms; None for any other failure.

    HumanLabeling is the one state with a timeout (the job's TaskAvailabilityLifetimeInSeconds,
    infra/constructs/workflow.py). The batch's progress comes from its published worker
    responses (the answers counted so far, all kept).
    """
    if state.get("error", {}).get("Error") != "States.Timeout" or not state.get("batch"):
        return None
    settings = state["job"].get("settings", {})
    lifetime = settings.get("TaskAvailabilityLifetimeInSeconds")
    needed = int(settings.get("NumberOfHumanWorkersPerDataObject", 1))
    k, total = int(state.get("iteration", 0)), int(state["batch"]["size"])
    prefix = layout.worker_response_prefix(k)
    per_item = [len(keys) for keys in response_keys(bucket, layout, k).values()]
    done = sum(1 for count in per_item if count >= needed)
    answers = sum(min(count, needed) for count in per_item)
    waited = f"{lifetime} s ({_duration(int(lifetime))})" if lifetime else "its time"
    return (
        f"the human batch of iteration {k} was not complete when its TaskAvailabilityLifetimeInSeconds, {waited}, "
        f"ran out: {done} of its {total} items had all their {needed} answer{'s' if needed != 1 else ''} "
        f"({answers} of {total * needed} answers). The answers given are kept in s3://{bucket}/{prefix}. "
        "Give workers more time (a larger TaskAvailabilityLifetimeInSeconds in job.json) or more workers, "
        "and resume the job: the answers given are not asked again."
    )


def _duration(seconds: int) -> str:
    for unit, size in (("day", 86_400), ("hour", 3_600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{seconds} seconds"


def failure_record(state: dict[str, Any]) -> tuple[str, str, dict[str, Any]]:
    """(bucket, key, record) for whatever shape the state had when the job failed."""
    error = state.get("error", {})
    job = state.get("job")
    if job:
        bucket, layout, name = job["bucket"], JobLayout(job["prefix"]), job["name"]
    elif "resume" in state:  # failed in ResumeJob: the state is the resume request
        bucket, name = state["resume"]["bucket"], state["resume"]["job"]
        layout = JobLayout(f"jobs/{name}")
    else:  # failed in ValidateJob: the state is still the upload event
        bucket, layout = state["bucket"], JobLayout.from_manifest_key(state["key"])
        name = layout.job_name
    try:
        explained = human_batch_timeout(state, bucket, layout) if job else None
    except Exception:  # failure.json is written whatever; the progress is only a help
        logger.exception("could not read the human batch's progress")
        explained = None
    explained = explained or sagemaker_failure.describe(error, state)
    record = failure_file(job=name, error=error.get("Error"), cause=explained or _cause(error.get("Cause")),
                          iteration=state.get("iteration"), counts=state.get("counts"))
    return bucket, layout.failure, record


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def handler(state: dict[str, Any], context: LambdaContext) -> dict:
    bucket, key, record = failure_record(state)
    s3.write_json(bucket, key, record)
    logger.error("job failed", extra=record)
    job_state = _job_state(state, bucket)
    summary = None
    if job_state is not None:
        try:
            summary = write_outputs(job_state, Ending.failed(record["error"], record["cause"]))
        except Exception:  # failure.json is written; the partial outputs are a help, not the record
            logger.exception("could not write the outputs of the job so far")
    # Counted however far the outputs got; the items left unlabeled only when report.json counted them.
    job_ended(record["job"], "Failed", summary["counters"] if summary else None)
    return record


def _job_state(state: dict[str, Any], bucket: str) -> JobState | None:
    """The job as it was when it failed: the failing state's input, else the last checkpoint's
    (a failure before ValidateJob handed the job on has neither: nothing to write)."""
    if "job" in state:
        return JobState.model_validate({k: v for k, v in state.items() if k != "error"})
    if "resume" in state:
        checkpoint = checkpoints.read(bucket, JobLayout(f"jobs/{state['resume']['job']}"))
        return JobState.model_validate(checkpoint["state"]) if checkpoint else None
    return None
