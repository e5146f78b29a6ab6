"""RecordStop (labeling/handlers/record_stop.py): a stopped or timed-out execution's outputs so far,
from Step Functions' status-change event and the job's checkpoint, on moto."""

from __future__ import annotations

import json

import boto3
import pytest
from moto import mock_aws

from labeling.dal import checkpoints, s3
from labeling.handlers import record_stop
from labeling.layout import JobLayout
from labeling.models.state import JobState
from tests.unit.lambda_context import Context

BUCKET = "jobs-bucket"
LAYOUT = JobLayout("jobs/news")


@pytest.fixture
def job(fake_aws_credentials, monkeypatch):
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "Test")
    s3._client.cache_clear()
    with mock_aws():
        boto3.client("s3").create_bucket(Bucket=BUCKET)
        boto3.client("s3").put_object(Bucket=BUCKET, Key=LAYOUT.input_manifest, Body=b"".join(
            json.dumps({"source": text}).encode() + b"\n" for text in ("Shares fell.", "United won.", "A phone.")))
        state = JobState.model_validate({
            "job": {"name": "news", "bucket": BUCKET, "prefix": LAYOUT.prefix, "outputPrefix": LAYOUT.output,
                    "automated": False, "labelNames": ["business", "sport", "tech"],
                    "settings": {"TaskType": "text-classification"}},
            "runId": "r1", "counts": {"total": 3, "pool": 0, "inHumanBatch": 3},
        })
        checkpoints.write(BUCKET, LAYOUT, after="SelectSample", next_state="HumanLabeling", state=state.dump())
        yield
    s3._client.cache_clear()


def _event(status: str, execution_input: dict) -> dict:
    return {"source": "aws.states", "detail-type": "Step Functions Execution Status Change",
            "detail": {"status": status, "input": json.dumps(execution_input)}}


def _unlabeled_reasons() -> list[str]:
    return [line["label-metadata"]["failure-reason"] for line in s3.read_jsonl(BUCKET, LAYOUT.output_manifest)]


def test_a_stopped_execution_writes_what_the_job_has_as_stopped(job):
    result = record_stop.handler(_event("ABORTED", {"bucket": BUCKET, "key": LAYOUT.input_manifest}), Context())
    assert result["written"] and result["status"] == "Stopped"
    report = s3.read_json(BUCKET, LAYOUT.report)
    assert (report["status"], report["stopReason"]) == ("Stopped", "StopRequested")
    assert [reason.split(":")[0] for reason in _unlabeled_reasons()] == ["JobStopped"] * 3
    assert not s3.exists(BUCKET, LAYOUT.failure)


def test_a_timed_out_resume_execution_writes_failure_json_and_its_outputs_as_failed(job):
    record_stop.handler(_event("TIMED_OUT", {"resume": {"bucket": BUCKET, "job": "news"}}), Context())
    failure = s3.read_json(BUCKET, LAYOUT.failure)
    assert failure["status"] == "Failed" and failure["error"] == "States.Timeout"
    assert "resume the job" in failure["cause"] and failure["counts"]["inHumanBatch"] == 3
    assert s3.read_json(BUCKET, LAYOUT.report)["status"] == "Failed"
    assert all(reason.startswith("JobFailed: the labeling job failed (States.Timeout)")
               for reason in _unlabeled_reasons())


def test_an_execution_with_no_step_done_or_its_outputs_written_writes_nothing(job):
    state = s3.read_json(BUCKET, LAYOUT.checkpoint)["state"]
    checkpoints.write(BUCKET, LAYOUT, after="WriteOutput", next_state="JobComplete", state=state)
    result = record_stop.handler(_event("ABORTED", {"bucket": BUCKET, "key": LAYOUT.input_manifest}), Context())
    assert result["written"] is False and not s3.exists(BUCKET, LAYOUT.report)
