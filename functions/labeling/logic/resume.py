"""Where a resumed run goes on: the state after the last step that handed the job on.

A step writes its checkpoint once its files are written (labeling.checkpointing), so what
it did is never done again; the step after it may have been part done when the run stopped
(a human batch half answered, a model half trained), and it runs again: every step is a
function of the state it is given and the files before it, so running it again writes the
same files (tests/workflow/test_faults.py), and the human batch keeps the answers it has
(PublishHumanTasks counts the published worker responses).

The names are the workflow's states (infra/constructs/workflow.py builds its ResumeAt
choice from NEXT_STATE).
"""

from __future__ import annotations

from typing import Any

from labeling.logic.sagemaker_step import sagemaker_step
from labeling.models.state import JobState

# Step -> the state the workflow goes to after it.
NEXT_STATE = {
    "ValidateJob": "SelectSample",
    "SelectSample": "HumanLabeling",
    "ConsolidateAnnotations": "TrainModel?",
    "ComputeThreshold": "ApplyThreshold",
    "ApplyThreshold": "SelectAmbiguous",
    "SelectAmbiguous": "MoreToLabel?",
    # The audit (logic/audit.py): its sample goes to humans as a batch of its own, then WriteOutput.
    "SelectAudit": "AuditLabeling",
    "ConsolidateAudit": "WriteOutput",
    "WriteOutput": "JobComplete",
}
# The first state, where a run with no checkpoint starts again (with the upload's bucket and key).
START = "ValidateJob"
RESUME_STATES = sorted({START, *NEXT_STATE.values()})


class NothingToResumeError(ValueError):
    """The job cannot be resumed as asked; the message says why."""


def resumed_state(checkpoint: dict[str, Any] | None, *, bucket: str, manifest_key: str) -> dict[str, Any]:
    """{"resumeAt": state name, "state": what that state is given} for a new execution of the run.

    Each resume counts in the state (`resumes`), and SageMaker jobs still to run get names of
    their own (logic/sagemaker_step.py): SageMaker keeps a job's name for good, so the names
    an interrupted attempt used cannot be used again.
    """
    if checkpoint is None:
        return {"resumeAt": START, "state": {"bucket": bucket, "key": manifest_key}}
    after = checkpoint.get("after")
    if after not in NEXT_STATE:
        raise NothingToResumeError(f"the job's checkpoint names no step this workflow has ({after!r})")
    state = JobState.model_validate(checkpoint["state"])
    state.resumes += 1
    if state.train_model and state.sagemaker is not None:
        state.sagemaker = sagemaker_step(state)
    return {"resumeAt": NEXT_STATE[after], "state": state.dump()}
