"""ResumeJob: the first step of an execution that continues a stopped, failed or killed run.

The execution's input is {"resume": {"bucket", "job"}}; this reads the job's checkpoint
(labeling.dal.checkpoints) and says where the workflow goes on (logic/resume.py), and the
workflow's ResumeAt choice goes there with the checkpoint's state.
"""

from __future__ import annotations

from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, Field

from labeling.dal import checkpoints
from labeling.layout import JOB_NAME, JobLayout
from labeling.logic.resume import resumed_state
from labeling.observability import logger, tracer


class ResumeTarget(BaseModel):
    bucket: str
    job: str = Field(pattern=JOB_NAME.pattern)


class ResumeRequest(BaseModel):
    resume: ResumeTarget


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@event_parser(model=ResumeRequest)
def handler(request: ResumeRequest, context: LambdaContext) -> dict:
    target = request.resume
    layout = JobLayout(f"jobs/{target.job}")
    checkpoint = checkpoints.read(target.bucket, layout)
    resumed = resumed_state(checkpoint, bucket=target.bucket, manifest_key=layout.input_manifest)
    checkpoints.set_aside_failure(target.bucket, layout, resumed["state"].get("resumes", 0))
    logger.info("job resumed", extra={"job": target.job, "resumeAt": resumed["resumeAt"],
                                      "after": (checkpoint or {}).get("after"),
                                      "iteration": (checkpoint or {}).get("iteration")})
    return resumed
