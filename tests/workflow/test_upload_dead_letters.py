"""Issue 11: StartJob failing after EventBridge delivered the upload event must not lose the event.

Fault injection on the local cloud: StartJob's Step Functions call fails on every attempt (the
handler's own dal function, patched for the test, so the real handler, its batch processing and
the event source mapping's retries all run). The event ends in the dead-letter queue; once the
fault is gone, a redrive starts the job exactly once, and a duplicate redriven starts nothing.
"""

from __future__ import annotations

import time

import boto3
import pytest
from botocore.exceptions import ClientError

from autolabel.localcloud.cloud import LocalCloud
from infra.constructs.trigger import MAX_RECEIVES
from labeling.dal import workflow

JOB = "redriven"
WAIT_SECONDS = 60


def _wait_for(condition, what: str):
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(0.1)
    raise AssertionError(f"not within {WAIT_SECONDS} s: {what}")


def _queue_url(sqs, cloud: LocalCloud, output: str) -> str:
    return sqs.get_queue_url(QueueName=cloud.app.outputs[output].rsplit("/", 1)[-1])["QueueUrl"]


def _counts(sqs, queue_url: str) -> tuple[int, int]:
    """(messages waiting, messages received and not yet deleted)."""
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=[
        "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]), int(attributes["ApproximateNumberOfMessagesNotVisible"])


def _redrive(sqs, dead_letters: str, source: str) -> list[str]:
    """SQS's dead-letter queue redrive back to the source queue, as StartMessageMoveTask moves
    messages (moto 5.2.5 does not implement that call): each message sent there, then deleted here."""
    moved = []
    while messages := sqs.receive_message(QueueUrl=dead_letters, MaxNumberOfMessages=10).get("Messages", []):
        for message in messages:
            sqs.send_message(QueueUrl=source, MessageBody=message["Body"])
            sqs.delete_message(QueueUrl=dead_letters, ReceiptHandle=message["ReceiptHandle"])
            moved.append(message["Body"])
    return moved


class StartExecutionCalls(list):
    """StartJob's calls to start the job's execution, each one's outcome; they fail while `failing`."""

    failing = True


@pytest.fixture
def start_execution_calls(monkeypatch) -> StartExecutionCalls:
    real = workflow.start_job_execution
    calls = StartExecutionCalls()

    def start_job_execution(state_machine_arn, job, execution_input):
        if calls.failing:
            error = ClientError({"Error": {"Code": "ServiceUnavailable", "Message": "injected fault"}},
                                "StartExecution")
            calls.append(error)
            raise error
        calls.append(result := real(state_machine_arn, job, execution_input))
        return result

    monkeypatch.setattr(workflow, "start_job_execution", start_job_execution)
    return calls


def test_an_upload_startjob_keeps_failing_on_waits_in_the_dead_letter_queue_and_one_redrive_starts_it_once(
        synthesized_app, tmp_path, start_execution_calls):
    calls = start_execution_calls
    with LocalCloud(synthesized_app, tmp_path) as cloud:
        sqs, sfn = boto3.client("sqs"), boto3.client("stepfunctions")
        uploads, dead_letters = _queue_url(sqs, cloud, "UploadsQueue"), _queue_url(sqs, cloud, "UploadDeadLetterQueue")

        def executions() -> list[dict]:
            return sfn.list_executions(stateMachineArn=cloud.state_machine_arn)["executions"]

        # No job.json: the execution, once started, fails in ValidateJob and ends quickly.
        boto3.client("s3").put_object(Bucket=cloud.bucket, Key=f"jobs/{JOB}/input.manifest", Body=b'{"source": "a"}\n')

        _wait_for(lambda: _counts(sqs, dead_letters)[0] == 1, "the upload event in the dead-letter queue")
        assert len(calls) == MAX_RECEIVES and all(isinstance(c, ClientError) for c in calls)
        assert _counts(sqs, uploads) == (0, 0)
        assert executions() == []

        calls.failing = False
        (event,) = _redrive(sqs, dead_letters, uploads)
        assert f"jobs/{JOB}/input.manifest" in event
        (execution,) = _wait_for(executions, "an execution started by the redriven event")
        assert execution["name"] == JOB
        _wait_for(lambda: _counts(sqs, uploads) == (0, 0), "the redriven event deleted once handled")
        assert calls[MAX_RECEIVES:] == [execution["executionArn"]]

        _wait_for(lambda: sfn.describe_execution(executionArn=execution["executionArn"])["status"] != "RUNNING",
                  "the job's execution to end (it has no job.json)")

        # The same event once more (a duplicate delivery, or a second redrive): it starts nothing.
        # (While the execution still runs, Step Functions answers with that one: none started either.)
        sqs.send_message(QueueUrl=dead_letters, MessageBody=event)
        assert _redrive(sqs, dead_letters, uploads) == [event]
        _wait_for(lambda: len(calls) == MAX_RECEIVES + 2 and _counts(sqs, uploads) == (0, 0),
                  "the duplicate handled and deleted")
        assert calls[-1] is None  # "already started"
        assert [e["executionArn"] for e in executions()] == [execution["executionArn"]]
        assert _counts(sqs, dead_letters) == (0, 0)
