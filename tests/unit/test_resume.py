"""Where a resumed run goes on (labeling/logic/resume.py), from the checkpoint its last step wrote."""

from __future__ import annotations

import pytest

from labeling.layout import JobLayout
from labeling.logic.resume import NEXT_STATE, RESUME_STATES, NothingToResumeError, resumed_state
from labeling.logic.sagemaker_step import sagemaker_step
from labeling.models.state import JobState

BUCKET = "jobs-bucket"
LAYOUT = JobLayout("jobs/news")


def _state(**fields) -> JobState:
    return JobState.model_validate({
        "job": {"name": "news", "bucket": BUCKET, "prefix": LAYOUT.prefix, "outputPrefix": LAYOUT.output,
                "automated": True, "labelNames": ["a", "b"], "settings": {"TaskType": "text-classification"}},
        "runId": "r1", "iteration": 2, "counts": {"total": 2000, "humanLabeled": 500, "pool": 900},
        "poolUri": f"s3://{BUCKET}/{LAYOUT.pool(2)}", **fields,
    })


def _checkpoint(after: str, state: JobState) -> dict:
    return {"version": 1, "after": after, "next": NEXT_STATE[after], "state": state.dump()}


def test_a_run_with_no_step_done_starts_again_at_validation():
    assert resumed_state(None, bucket=BUCKET, manifest_key=LAYOUT.input_manifest) == {
        "resumeAt": "ValidateJob", "state": {"bucket": BUCKET, "key": LAYOUT.input_manifest}}


@pytest.mark.parametrize("after", sorted(NEXT_STATE))
def test_a_run_goes_on_at_the_state_after_its_last_step_with_that_steps_state(after):
    state = _state()
    resumed = resumed_state(_checkpoint(after, state), bucket=BUCKET, manifest_key=LAYOUT.input_manifest)
    assert resumed["resumeAt"] == NEXT_STATE[after] and resumed["resumeAt"] in RESUME_STATES
    assert resumed["state"] == {**state.dump(), "resumes": 1}


def test_sagemaker_jobs_still_to_run_get_names_no_earlier_attempt_used():
    state = _state(trainModel=True)
    state.sagemaker = sagemaker_step(state)
    first = resumed_state(_checkpoint("ConsolidateAnnotations", state), bucket=BUCKET, manifest_key="")
    again = resumed_state({**_checkpoint("ConsolidateAnnotations", state), "state": first["state"]},
                          bucket=BUCKET, manifest_key="")
    names = [{key: value for key, value in s["sagemaker"].items() if key.endswith("Name")}
             for s in (state.dump(), first["state"], again["state"])]
    every_name = [name for attempt in names for name in attempt.values()]
    assert len(set(every_name)) == len(every_name)  # SageMaker keeps a job's name for good
    assert names[1]["trainingJobName"] == "news-r1-2-r1-train"
    assert all(len(name) <= 63 for name in every_name)


def test_a_checkpoint_naming_no_step_of_this_workflow_is_refused():
    with pytest.raises(NothingToResumeError, match="'Train'"):
        resumed_state({"after": "Train", "state": _state().dump()}, bucket=BUCKET, manifest_key="")


def test_a_run_stopped_during_its_audit_goes_on_with_the_audits_batch_then_writes_its_outputs():
    state = _state(iteration=3, auditIteration=3,
                   batch={"uri": f"s3://{BUCKET}/{LAYOUT.human_batch(3)}", "size": 50, "calibrationSize": 0})
    during = resumed_state(_checkpoint("SelectAudit", state), bucket=BUCKET, manifest_key="")
    # The same batch, in the same iteration: its tasks and answers are keyed by it (dal/tasks.py).
    assert during["resumeAt"] == "AuditLabeling"
    assert (during["state"]["iteration"], during["state"]["auditIteration"], during["state"]["batch"]["size"]) == \
        (3, 3, 50)
    after = resumed_state(_checkpoint("ConsolidateAudit", state), bucket=BUCKET, manifest_key="")
    assert after["resumeAt"] == "WriteOutput"
