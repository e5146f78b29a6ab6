"""Which uploads start a job, and what a bad job name tells the user."""

import json
from pathlib import Path

import pytest

from labeling.dal import workflow
from labeling.handlers import start_job
from labeling.layout import InvalidJobNameError, job_name_from_key
from tests.unit.lambda_context import Context

UPLOAD_EVENT = Path(__file__).resolve().parents[2] / "events" / "manifest-uploaded.json"


@pytest.mark.parametrize("key,job", [("jobs/bbc-news/input.manifest", "bbc-news"), ("jobs/A1/input.manifest", "A1")])
def test_the_job_is_the_folder_under_jobs(key, job):
    assert job_name_from_key(key) == job


@pytest.mark.parametrize("key", [
    "jobs/my job/input.manifest", "jobs/-bad/input.manifest", "jobs/" + "x" * 41 + "/input.manifest",
    "jobs/a_b/input.manifest",
])
def test_names_sagemaker_cannot_use_are_refused_with_the_rule(key):
    with pytest.raises(InvalidJobNameError, match="use 1-40 letters, digits or hyphens"):
        job_name_from_key(key)


@pytest.mark.parametrize("key", ["jobs/a/b/input.manifest", "jobs/a/other.manifest", "input.manifest"])
def test_other_keys_are_not_job_manifests(key):
    with pytest.raises(InvalidJobNameError, match="upload it as jobs/<job>/input.manifest"):
        job_name_from_key(key)


def _record(message_id: str, key: str) -> dict:
    """An Uploads queue record (SQS's Lambda event shape) whose body is the EventBridge upload event."""
    event = json.loads(UPLOAD_EVENT.read_text())
    event["detail"]["object"]["key"] = key
    return {"messageId": message_id, "receiptHandle": f"handle-{message_id}", "body": json.dumps(event),
            "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1764417600000",
                           "SenderId": "AIDAEVENTBRIDGE", "ApproximateFirstReceiveTimestamp": "1764417600001"},
            "messageAttributes": {}, "md5OfBody": "0" * 32, "eventSource": "aws:sqs",
            "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:Uploads", "awsRegion": "us-east-1"}


def test_a_record_startjob_fails_on_is_reported_for_another_receive_and_the_others_are_done(monkeypatch):
    monkeypatch.setenv("STATE_MACHINE_ARN", "arn:aws:states:us-east-1:123456789012:stateMachine:Labeling")
    started = []

    def start_job_execution(state_machine_arn, job, execution_input):
        if job == "unlucky":
            raise RuntimeError("Step Functions unavailable")
        started.append((job, execution_input))
        return None if job == "again" else f"{state_machine_arn}:{job}"

    monkeypatch.setattr(workflow, "start_job_execution", start_job_execution)
    event = {"Records": [_record("1", "jobs/bbc-news/input.manifest"), _record("2", "jobs/unlucky/input.manifest"),
                         _record("3", "jobs/again/input.manifest"), _record("4", "elsewhere/input.manifest")]}
    response = start_job.handler(event, Context(function_name="StartJob"))
    # Only the failed record comes back (ReportBatchItemFailures); "already started" is done.
    assert response == {"batchItemFailures": [{"itemIdentifier": "2"}]}
    assert started == [("bbc-news", {"bucket": "autolabel-jobs-bucket", "key": "jobs/bbc-news/input.manifest"}),
                       ("again", {"bucket": "autolabel-jobs-bucket", "key": "jobs/again/input.manifest"})]
