"""SageMaker failures: which the workflow tries again, and what failure.json tells the user.

How Step Functions names them (the optimized integration, arn:aws:states:::sagemaker:create...Job.sync):
  * An error answered by the create call (or by the describe calls .sync polls with) fails the task
    with Error `SageMaker.<exception class>` and a Cause in the AWS SDK for Java's words,
    "<message> (Service: AmazonSageMaker; Status Code: 400; Error Code: <code>; Request ID: ...)".
    The integration is backed by the Java SDK: an error of SageMaker's service model has its own
    class (ResourceLimitExceeded -> SageMaker.ResourceLimitExceededException, ResourceInUse ->
    SageMaker.ResourceInUseException, ResourceNotFound -> SageMaker.ResourceNotFoundException);
    every other code, ThrottlingException, InternalFailure, ServiceUnavailable and
    ValidationException among them, arrives as the base class, SageMaker.AmazonSageMakerException.
    Sources: the Java SDK's class hierarchy (ResourceLimitExceededException extends
    AmazonSageMakerException; SageMaker's model, botocore's sagemaker service-2.json, lists only
    ConflictException, ResourceAlreadyExists, ResourceInUse, ResourceLimitExceeded and
    ResourceNotFound as errors), and the Retry blocks of AWS's own SageMaker-with-Step-Functions
    samples, which name SageMaker.AmazonSageMakerException for throttling and
    SageMaker.ResourceLimitExceededException for quotas. The SDK for Java 2.x calls its base class
    SageMakerException, so SageMaker.SageMakerException is retried too, should the integration move.
    The local engine (autolabel/localcloud/engine.py, sagemaker_error) names them the same way.
  * A job that was created and ended Failed fails the task with States.TaskFailed, and its Cause is
    the Describe{Training,Transform}Job output as JSON, whose FailureReason starts with SageMaker's
    kind of failure: "CapacityError: Unable to provision requested ML compute capacity...",
    "InternalServerError: ...", "AlgorithmError: <the container's failure file or last log lines>",
    "ClientError: ..." (the job's input or settings).

What is tried again:
  * SageMaker.AmazonSageMakerException (and ...SageMakerException): a Retry with backoff,
    API_RETRY_* below. The name cannot tell throttling from a ValidationException; a bad request is
    then only tried API_RETRY_MAX_ATTEMPTS times (a few minutes) before it fails. Our requests are
    built by the workflow, so a ValidationException is a bug, and a few minutes is its whole cost.
  * A job that ended Failed with a CapacityError or an InternalServerError: Retry cannot, since
    States.TaskFailed is also a container's error, and a job name is SageMaker's for good (the same
    name again answers ResourceInUse). The workflow catches States.TaskFailed, matches the Cause
    against RETRIED_FAILURE_PATTERNS, waits JOB_RETRY_FIRST_WAIT_SECONDS (doubling each time) and
    runs the job again as <name>-c<attempt>, at most JOB_RETRY_MAX_ATTEMPTS times.
  * Never: an AlgorithmError (the container failed: an 8-hour training run twice is waste, and it
    would fail the same way), a ClientError, and a ResourceLimitExceeded (a quota changes only when
    a person asks for more; failure.json says which quota and how). These go to RecordFailure.
"""

from __future__ import annotations

import json
import re
from typing import Any

RETRIED_API_ERRORS = ["SageMaker.AmazonSageMakerException", "SageMaker.SageMakerException"]
# 5, 10, 20, 40, 80, 160 s, each a random share of that (JitterStrategy FULL), at most 5 minutes.
API_RETRY_INTERVAL_SECONDS = 5
API_RETRY_BACKOFF_RATE = 2.0
API_RETRY_MAX_ATTEMPTS = 6
API_RETRY_MAX_DELAY_SECONDS = 300

# Matched against the States.TaskFailed Cause, the Describe output as JSON: Step Functions writes it
# without spaces, the local engine with them.
RETRIED_FAILURE_REASONS = ("CapacityError", "InternalServerError")
RETRIED_FAILURE_PATTERNS = [f'*"FailureReason":{space}"{reason}*'
                            for reason in RETRIED_FAILURE_REASONS for space in ("", " ")]
# A capacity shortage of an instance type lasts minutes to hours: 10, 20, then 40 minutes.
JOB_RETRY_MAX_ATTEMPTS = 3
JOB_RETRY_FIRST_WAIT_SECONDS = 600

TRAINING_LOG_GROUP = "/aws/sagemaker/TrainingJobs"
TRANSFORM_LOG_GROUP = "/aws/sagemaker/TransformJobs"

_QUOTA = re.compile(r"service limit '(?P<quota>[^']+)' is (?P<limit>\d+) Instances?, with current utilization of "
                    r"(?P<used>\d+) Instances? and a request delta of (?P<delta>\d+) Instances?")
_JAVA_DETAILS = re.compile(r"\s*\(Service: [^)]*Error Code: (?P<code>[A-Za-z]+)[^)]*\)\s*$")


def _parsed(cause: str | None) -> dict[str, Any] | None:
    try:
        value = json.loads(cause or "")
    except (json.JSONDecodeError, TypeError):
        return None
    return value if isinstance(value, dict) else None


def _api_error(cause: str) -> tuple[str | None, str]:
    """(error code, message) of a Java-SDK style Cause."""
    match = _JAVA_DETAILS.search(cause or "")
    if not match:
        return None, (cause or "").strip()
    return match["code"], cause[:match.start()].strip()


def _failing_job(state: dict[str, Any], usage: str | None = None) -> tuple[str, str | None]:
    """("training job"/"transform job", its name) of the SageMaker step the state was at when it failed.

    The SageMaker states add their results as they finish ($.training, then $.validationTransform),
    so the first missing one is where it failed; a quota's usage ("training job usage") says so too.
    """
    step = state.get("sagemaker") or {}
    retries = step.get("retries") or {}

    def named(key: str, job: str) -> str | None:
        base = step.get(key)
        return base + ((retries.get(job) or {}).get("suffix") or "") if base else None

    if (usage or "").startswith("training") or (not usage and not state.get("training")):
        return "training job", named("trainingJobName", "training")
    if not state.get("validationTransform"):
        return "transform job", named("validationTransformJobName", "validation")
    return "transform job", named("poolTransformJobName", "pool")


def _quota_message(message: str, state: dict[str, Any]) -> str:
    match = _QUOTA.search(message)
    if not match:
        return (f"SageMaker refused the job: a quota of your account is used up ({message}). Request an increase "
                "in the Service Quotas console (service Amazon SageMaker), then run the job again.")
    quota = match["quota"]
    instance, _, usage = quota.partition(" for ")
    kind, name = _failing_job(state, usage)
    return (
        f"SageMaker refused to start the {kind}{f' {name}' if name else ''}: your account's quota "
        f"'{quota}' is {match['limit']} instance{'s' if match['limit'] != '1' else ''} and "
        f"{match['used']} are in use, and the job asks for {match['delta']}. Request an increase of '{quota}' "
        "in the Service Quotas console (AWS services > Amazon SageMaker, in this job's region) or with "
        f"`aws service-quotas request-service-quota-increase --service-code sagemaker` and that quota's code; "
        f"when it is granted, run the job again. The instance type ({instance}) is fixed per task type."
    )


def _log_location(kind: str, name: str | None) -> str:
    if kind == "training job":
        return f"CloudWatch Logs, log group {TRAINING_LOG_GROUP}, stream {name or '<job name>'}/algo-1-<timestamp>"
    return (f"CloudWatch Logs, log group {TRANSFORM_LOG_GROUP}, streams {name or '<job name>'}/<instance id> "
            "(and .../data-log for the requests)")


def describe(error: dict[str, Any], state: dict[str, Any]) -> str | None:
    """What failure.json's cause says about a SageMaker failure; None when `error` is none.

    error: the Catch's $.error, {"Error": ..., "Cause": ...}. state: the job's state as RecordFailure
    gets it (with $.sagemaker, and $.training / $.validationTransform for the steps that finished).
    A SageMaker failure is an Error named SageMaker.* (a create or describe call failed), or a
    States.TaskFailed whose Cause is a SageMaker Describe output (a job that ended Failed).
    """
    name, cause = (error or {}).get("Error") or "", (error or {}).get("Cause") or ""
    if name.startswith("SageMaker."):
        code, message = _api_error(cause)
        if name == "SageMaker.ResourceLimitExceededException" or code == "ResourceLimitExceeded":
            return _quota_message(message, state)
        kind, job = _failing_job(state)
        what = f"the {kind}{f' {job}' if job else ''}"
        if name in RETRIED_API_ERRORS:
            return (f"SageMaker kept refusing to start or report on {what} ({code or name}: {message}), "
                    f"{API_RETRY_MAX_ATTEMPTS + 1} tries over several minutes; run the job again later.")
        return f"SageMaker refused {what} ({code or name}): {message}"
    if name != "States.TaskFailed":
        return None
    described = _parsed(cause)
    if not described or not ({"TrainingJobName", "TransformJobName"} & set(described)):
        return None
    training = "TrainingJobName" in described
    kind = "training job" if training else "transform job"
    job = described.get("TrainingJobName") or described.get("TransformJobName")
    reason = (described.get("FailureReason") or "").strip()
    resources = described.get("ResourceConfig" if training else "TransformResources") or {}
    instance = resources.get("InstanceType")
    on = f" on {instance}" if instance else ""
    if reason.startswith(RETRIED_FAILURE_REASONS):
        return (f"the {kind} {job}{on} failed {JOB_RETRY_MAX_ATTEMPTS + 1} times, the last with: {reason}. "
                "SageMaker had no instances for it or failed inside; run the job again later.")
    if reason.startswith("AlgorithmError"):
        detail = reason.removeprefix("AlgorithmError:").strip()
        return (f"the model container of the {kind} {job}{on} failed. Its last words: {detail} "
                f"The whole log is in {_log_location(kind, job)}.")
    return (f"the {kind} {job}{on} failed: {reason or 'SageMaker gave no reason'}. "
            f"Its log is in {_log_location(kind, job)}.")
