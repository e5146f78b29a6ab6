"""RecordFailure: the Catch of every state. Writes failure.json beside the job's outputs.

Everything already labeled stays where it was written (worker responses,
consolidated annotations, accepted machine labels), so nothing paid for is lost.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from labeling.dal import s3
from labeling.layout import JobLayout
from labeling.observability import logger, metrics, tracer


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


def failure_record(state: dict[str, Any]) -> tuple[str, str, dict[str, Any]]:
    """(bucket, key, record) for whatever shape the state had when the job failed."""
    error = state.get("error", {})
    job = state.get("job")
    if job:
        bucket, layout, name = job["bucket"], JobLayout(job["prefix"]), job["name"]
    else:  # failed in ValidateJob: the state is still the upload event
        bucket, layout = state["bucket"], JobLayout.from_manifest_key(state["key"])
        name = layout.job_name
    record = {
        "job": name, "status": "Failed", "error": error.get("Error"), "cause": _cause(error.get("Cause")),
        "iteration": state.get("iteration"), "counts": state.get("counts"),
        "time": datetime.now(UTC).isoformat(),
    }
    return bucket, layout.failure, record


@metrics.log_metrics
@logger.inject_lambda_context
@tracer.capture_lambda_handler
def handler(state: dict[str, Any], context: LambdaContext) -> dict:
    bucket, key, record = failure_record(state)
    s3.write_json(bucket, key, record)
    metrics.add_metric(name="JobsFailed", unit=MetricUnit.Count, value=1)
    logger.error("job failed", extra=record)
    return record
