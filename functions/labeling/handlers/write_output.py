"""WriteOutput: the output manifest in Ground Truth's format, report.json, report.md and the plot."""

from __future__ import annotations

from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from labeling.checkpointing import checkpointed
from labeling.job_outputs import write_outputs
from labeling.models.state import JobState
from labeling.observability import job_ended, logger, tracer


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@checkpointed(after="WriteOutput", hands_on="event")
@event_parser(model=JobState)
def handler(state: JobState, context: LambdaContext) -> dict:
    summary = write_outputs(state)
    job_ended(state.job.name, summary["status"], summary["counters"])
    logger.info("job finished", extra={"job": state.job.name, "status": summary["status"],
                                       "stopReason": summary["stopReason"], "counters": summary["counters"]})
    return summary
