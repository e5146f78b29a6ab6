"""The metrics of a job's end, from the handlers that end jobs early (RecordStop, RecordFailure),
invoked for real on moto with Powertools' EMF output captured and read back: exactly one Jobs*
metric per end, named as Ground Truth names it, with the job's LabelingJobName dimension and
stack-wide; the items left unlabeled as DatasetObjectsLabelingFailed. (A completed or stopped
job's metrics, WriteOutput's and the loop's, are read from real runs in
tests/workflow/test_job_metrics.py.)"""

from __future__ import annotations

import json

import boto3
import pytest
from moto import mock_aws

from labeling import observability as obs
from labeling.dal import checkpoints, s3
from labeling.handlers import record_failure, record_stop
from labeling.layout import JobLayout
from labeling.models.state import JobState
from tests.emf import emf_points, per_job, stack_wide
from tests.unit.lambda_context import Context

BUCKET = "jobs-bucket"
LAYOUT = JobLayout("jobs/news")
JOB_ENDS = set(obs.JOB_END_METRICS.values())


def _state() -> JobState:
    return JobState.model_validate({
        "job": {"name": "news", "bucket": BUCKET, "prefix": LAYOUT.prefix, "outputPrefix": LAYOUT.output,
                "automated": False, "labelNames": ["business", "sport", "tech"],
                "settings": {"TaskType": "text-classification"}},
        "runId": "r1", "counts": {"total": 3, "pool": 0, "inHumanBatch": 3},
    })


@pytest.fixture
def bucket(fake_aws_credentials):
    s3._client.cache_clear()
    with mock_aws():
        boto3.client("s3").create_bucket(Bucket=BUCKET)
        boto3.client("s3").put_object(Bucket=BUCKET, Key=LAYOUT.input_manifest, Body=b"".join(
            json.dumps({"source": text}).encode() + b"\n" for text in ("Shares fell.", "United won.", "A phone.")))
        yield
    s3._client.cache_clear()


@pytest.fixture
def checkpointed(bucket):
    checkpoints.write(BUCKET, LAYOUT, after="SelectSample", next_state="HumanLabeling", state=_state().dump())


def _stopped(status: str) -> dict:
    return {"source": "aws.states", "detail-type": "Step Functions Execution Status Change",
            "detail": {"status": status, "input": json.dumps({"bucket": BUCKET, "key": LAYOUT.input_manifest})}}


def _ends(points) -> list[tuple[str, float]]:
    return [(p.name, p.value) for p in points if p.name in JOB_ENDS and p.job == "news"]


def test_a_stopped_job_counts_once_as_stopped_with_its_unlabeled_items(checkpointed, capsys):
    record_stop.handler(_stopped("ABORTED"), Context())
    points = emf_points(capsys.readouterr().out.splitlines())
    assert _ends(points) == [(obs.JOBS_STOPPED, 1)]
    assert stack_wide(points, obs.JOBS_STOPPED) == [1]
    assert per_job(points, obs.LABELING_FAILED, "news") == stack_wide(points, obs.LABELING_FAILED) == [3]
    assert {p.unit for p in points} == {"Count"}


def test_a_timed_out_execution_counts_as_failed(checkpointed, capsys):
    record_stop.handler(_stopped("TIMED_OUT"), Context())
    points = emf_points(capsys.readouterr().out.splitlines())
    assert _ends(points) == [(obs.JOBS_FAILED, 1)] and stack_wide(points, obs.JOBS_FAILED) == [1]


def test_a_stop_after_write_output_counts_nothing_more(checkpointed, capsys):
    checkpoints.write(BUCKET, LAYOUT, after="WriteOutput", next_state="JobComplete", state=_state().dump())
    record_stop.handler(_stopped("ABORTED"), Context())
    assert _ends(emf_points(capsys.readouterr().out.splitlines())) == []  # WriteOutput counted it


def test_a_job_stopped_before_any_step_counts_as_stopped_with_nothing_left_to_count(bucket, capsys):
    record_stop.handler(_stopped("ABORTED"), Context())
    points = emf_points(capsys.readouterr().out.splitlines())
    assert _ends(points) == [(obs.JOBS_STOPPED, 1)]
    assert per_job(points, obs.LABELING_FAILED, "news") == []


def test_a_failure_counts_once_as_failed_with_the_items_it_left(bucket, capsys):
    state = {**_state().dump(), "error": {"Error": "States.TaskFailed", "Cause": "boom"}}
    record_failure.handler(state, Context())
    points = emf_points(capsys.readouterr().out.splitlines())
    assert _ends(points) == [(obs.JOBS_FAILED, 1)] and stack_wide(points, obs.JOBS_FAILED) == [1]
    assert per_job(points, obs.LABELING_FAILED, "news") == [3]


def test_a_job_that_failed_validation_counts_as_failed_by_its_name(bucket, capsys):
    event = {"bucket": BUCKET, "key": LAYOUT.input_manifest,
             "error": {"Error": "JobSetupError", "Cause": json.dumps({"errorMessage": "labels.json is missing"})}}
    record_failure.handler(event, Context())
    points = emf_points(capsys.readouterr().out.splitlines())
    assert _ends(points) == [(obs.JOBS_FAILED, 1)]
    assert per_job(points, obs.LABELING_FAILED, "news") == []  # no report: nothing counted the items


def test_every_job_metric_carries_the_service_and_the_job_or_the_service_alone(checkpointed, capsys):
    record_stop.handler(_stopped("ABORTED"), Context())
    points = emf_points(capsys.readouterr().out.splitlines())
    assert points and {tuple(sorted(p.dimensions.items())) for p in points} == {
        (("LabelingJobName", "news"), ("service", "autolabel")), (("service", "autolabel"),)}
