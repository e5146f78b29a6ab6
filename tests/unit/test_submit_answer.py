"""SubmitAnswer on moto (issue 10): an answer is stored before it is acknowledged, counted once per
worker, never overwritten or deleted; a late answer is refused and never read by ConsolidateAnnotations;
the batch's completion resumes the workflow once, whatever the client retries."""

from __future__ import annotations

import json
from dataclasses import dataclass

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from moto import mock_aws

from labeling.dal import s3, tasks, workflow
from labeling.dal.tasks import RESUME_CLAIM_SECONDS, HumanTaskStore, TaskNotOpenError, task_id
from labeling.dal.worker_responses import WorkerResponses
from labeling.handlers import human_task_api
from labeling.handlers.consolidate_annotations import MissingAnswersError, consolidate
from labeling.layout import JobLayout
from labeling.models.state import JobState
from labeling.settings import TASKS_TABLE_ENV

BUCKET, TABLE, JOB, TOKEN = "jobs-bucket", "human-tasks", "news", "token-of-iteration-0"
TOPICS = ["business", "sport", "tech"]
LAYOUT = JobLayout(f"jobs/{JOB}")
ITEMS = [{"id": 3, "source": "Shares fell.", "role": "train"}, {"id": 7, "source": "A new phone.", "role": "train"}]


@dataclass
class Context:  # what Powertools reads of a Lambda context
    function_name: str = "SubmitAnswer"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:SubmitAnswer"
    aws_request_id: str = "request"


def _clear_cached_clients():
    s3._client.cache_clear()
    workflow._client.cache_clear()
    tasks._local.__dict__.pop("tables", None)


@pytest.fixture
def cloud(monkeypatch):
    for variable, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                            "AWS_DEFAULT_REGION": "us-east-1", TASKS_TABLE_ENV: TABLE,
                            "POWERTOOLS_TRACE_DISABLED": "true"}.items():
        monkeypatch.setenv(variable, value)
    for variable in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(variable, raising=False)
    _clear_cached_clients()
    with mock_aws():
        boto3.client("s3").create_bucket(Bucket=BUCKET)
        boto3.client("dynamodb").create_table(  # the key schema of infra/constructs/human_tasks.py
            TableName=TABLE, BillingMode="PAY_PER_REQUEST",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                  {"AttributeName": "sk", "AttributeType": "S"}],
        )
        yield
    _clear_cached_clients()


@pytest.fixture
def resumed(monkeypatch):
    """Every resumption of the workflow, as (token, output); the call still goes to (moto's) Step Functions."""
    calls = []
    resume = workflow.resume

    def recording(token, output):
        calls.append((token, output))
        return resume(token, output)

    monkeypatch.setattr(workflow, "resume", recording)
    return calls


def _publish(workers: int, items=ITEMS) -> None:
    batch_key = LAYOUT.human_batch(0)
    boto3.client("s3").put_object(Bucket=BUCKET, Key=batch_key,
                                  Body="".join(json.dumps(item) + "\n" for item in items).encode())
    HumanTaskStore(TABLE).publish_batch(
        job=JOB, iteration=0, token=TOKEN, label_names=TOPICS, answers_needed=workers,
        task_type="text-classification", bucket=BUCKET, job_prefix=LAYOUT.prefix, items=items, total=len(items),
    )


def _submit(worker: str, item: int, label: str) -> dict:
    event = {"job": JOB, "taskId": task_id(0, item), "workerId": worker, "label": label}
    return human_task_api.submit_answer(event, Context())


def _task(item: int) -> dict:
    return HumanTaskStore(TABLE).task(JOB, task_id(0, item))


def _stored(item: int, worker: str) -> dict:
    return json.loads(boto3.client("s3").get_object(
        Bucket=BUCKET, Key=LAYOUT.worker_response(0, item, worker))["Body"].read())


def _keys(prefix: str) -> list[str]:
    return sorted(s3.list_keys(BUCKET, prefix))


def _consolidate(workers: int, items=ITEMS) -> list[dict]:
    state = JobState.model_validate({
        "job": {"name": JOB, "bucket": BUCKET, "prefix": LAYOUT.prefix, "outputPrefix": LAYOUT.output,
                "automated": False, "labelNames": TOPICS,
                "settings": {"TaskType": "text-classification", "NumberOfHumanWorkersPerDataObject": workers}},
        "runId": "r1", "iteration": 0, "counts": {"total": len(items)},
        "batch": {"uri": f"s3://{BUCKET}/{LAYOUT.human_batch(0)}", "size": len(items), "calibrationSize": 0},
    })
    assert consolidate(state) == len(items)
    return list(s3.read_jsonl(BUCKET, LAYOUT.consolidated(0)))


class TestTheSameWorkerSubmittingTwice:
    @pytest.mark.parametrize("again", ["tech", "sport"], ids=["same answer", "another answer"])
    def test_counts_once_and_keeps_the_first_answer(self, cloud, resumed, again):
        _publish(workers=2)
        first = _submit("w1", 3, "tech")
        assert first == {"accepted": True, "duplicate": False, "taskDone": False, "batchDone": False}
        stored = _stored(3, "w1")

        retry = _submit("w1", 3, again)
        assert retry["accepted"] is True and retry["duplicate"] is True
        assert "answered task 00000#000000003 already" in retry["reason"] and "not used" in retry["reason"]
        assert (retry["taskDone"], retry["batchDone"]) == (False, False)
        assert _stored(3, "w1") == stored and stored["answer"] == {"label": "tech", "labelIndex": 2}
        task = _task(3)
        assert task["answers"] == 1 and task["workers"] == {"w1"} and task["status"] == "open"
        assert _keys(LAYOUT.worker_response_prefix(0)) == [LAYOUT.worker_response(0, 3, "w1")]
        # Both submissions are kept (nothing deleted), outside what ConsolidateAnnotations reads.
        assert len(_keys(f"{LAYOUT.prefix}submissions/iteration-0/3/w1.")) == 2

        # The task still takes its second worker's answer; consolidation reads the first answer of w1.
        assert _submit("w2", 3, "tech")["taskDone"] is True
        _submit("w1", 7, "sport")
        assert _submit("w2", 7, "sport")["batchDone"] is True
        records = {record["id"]: record for record in _consolidate(workers=2)}
        assert records[3]["label"] == 2 and records[3]["confidence"] == 1.0 and records[3]["workers"] == 2
        assert len(resumed) == 1

    def test_a_retry_after_a_failure_past_the_count_publishes_the_counted_answer(self, cloud, resumed, monkeypatch):
        _publish(workers=1, items=ITEMS[:1])
        publish = WorkerResponses.publish
        monkeypatch.setattr(WorkerResponses, "publish", lambda self, record: (_ for _ in ()).throw(
            ClientError({"Error": {"Code": "InternalError", "Message": "S3 failed"}}, "PutObject")))
        with pytest.raises(ClientError):
            _submit("w1", 3, "tech")  # counted, then failed: no reply, so the client sends it again
        assert _task(3)["answers"] == 1 and _keys(LAYOUT.worker_response_prefix(0)) == []
        monkeypatch.setattr(WorkerResponses, "publish", publish)

        retry = _submit("w1", 3, "sport")  # the client's retry may even carry another answer
        assert retry["duplicate"] is True and retry["taskDone"] is True and retry["batchDone"] is True
        assert _stored(3, "w1")["answer"] == {"label": "tech", "labelIndex": 2}  # the counted one
        assert [record["label"] for record in _consolidate(workers=1, items=ITEMS[:1])] == [2]
        assert resumed == [(TOKEN, {"iteration": 0, "tasks": 1})]


class TestALateAnswer:
    def test_to_a_task_with_all_its_answers_is_refused_and_stored_nowhere_consolidation_reads(self, cloud, resumed):
        _publish(workers=1)
        _submit("w1", 3, "tech")
        with pytest.raises(TaskNotOpenError, match="has all its 1 answers; this late answer is not counted") as late:
            _submit("w2", 3, "sport")
        assert late.value.reason == "task-done"
        assert _keys(LAYOUT.worker_response_prefix(0)) == [LAYOUT.worker_response(0, 3, "w1")]
        task = _task(3)
        assert task["answers"] == 1 and task["workers"] == {"w1"}

    def test_after_the_batch_is_complete_is_refused_and_consolidation_reads_only_the_counted(self, cloud, resumed):
        _publish(workers=1)
        _submit("w1", 3, "tech")
        assert _submit("w1", 7, "sport")["batchDone"] is True
        for worker, item in (("w2", 3), ("w2", 7)):
            with pytest.raises(TaskNotOpenError, match="late answer"):
                _submit(worker, item, "business")
        assert _keys(LAYOUT.worker_response_prefix(0)) == [
            LAYOUT.worker_response(0, 3, "w1"), LAYOUT.worker_response(0, 7, "w1")]
        records = _consolidate(workers=1)
        assert [(r["id"], r["label"], r["workers"]) for r in records] == [(3, 2, 1), (7, 1, 1)]
        assert len(resumed) == 1

    def test_to_an_unknown_task_or_batch_is_refused(self, cloud, resumed):
        _publish(workers=1)
        with pytest.raises(TaskNotOpenError, match="task 00000#000000004 of job news does not exist") as unknown:
            _submit("w1", 4, "tech")
        assert unknown.value.reason == "not-found"
        with pytest.raises(TaskNotOpenError, match="job news has no batch 1"):
            human_task_api.submit_answer(
                {"job": JOB, "taskId": task_id(1, 3), "workerId": "w1", "label": "tech"}, Context())
        assert _keys(LAYOUT.output + "annotations/") == []

    def test_the_counted_answers_are_not_enough_when_nobody_else_answered(self, cloud, resumed):
        # The check consolidation makes: a refused answer never stands in for a missing one.
        _publish(workers=2, items=ITEMS[:1])
        _submit("w1", 3, "tech")
        _submit("w1", 3, "tech")
        with pytest.raises(MissingAnswersError, match="has 1 of 2 answers"):
            _consolidate(workers=2, items=ITEMS[:1])


class TestResumingTheWorkflow:
    def test_once_when_the_completing_submission_is_retried(self, cloud, resumed):
        _publish(workers=1)
        assert _submit("w1", 3, "tech")["batchDone"] is False
        assert resumed == []
        done = _submit("w1", 7, "sport")
        assert done == {"accepted": True, "duplicate": False, "taskDone": True, "batchDone": True}
        for label in ("sport", "tech"):
            retry = _submit("w1", 7, label)
            assert retry["duplicate"] is True and retry["batchDone"] is True
        _submit("w1", 3, "tech")
        assert resumed == [(TOKEN, {"iteration": 0, "tasks": 2})]
        batch = HumanTaskStore(TABLE).batch(JOB, 0)
        assert batch["completed"] == 2 and "resumedAt" in batch

    def test_a_retry_resumes_it_when_the_completing_call_failed_before_resuming(self, cloud, monkeypatch):
        _publish(workers=1, items=ITEMS[:1])
        calls = []

        def failing(token, output):
            calls.append(token)
            raise ClientError({"Error": {"Code": "ServiceUnavailable", "Message": "try again"}}, "SendTaskSuccess")

        monkeypatch.setattr(workflow, "resume", failing)
        with pytest.raises(ClientError):
            _submit("w1", 3, "tech")
        monkeypatch.setattr(workflow, "resume", lambda token, output: calls.append(token) or True)
        # Within the claim's time its holder may still be resuming: a retry does not resume a second time.
        assert _submit("w1", 3, "tech")["batchDone"] is True and len(calls) == 1
        now = human_task_api.time.time()
        monkeypatch.setattr(human_task_api.time, "time", lambda: now + RESUME_CLAIM_SECONDS + 1)
        assert _submit("w1", 3, "tech")["batchDone"] is True and len(calls) == 2
        assert _submit("w1", 3, "tech")["batchDone"] is True and len(calls) == 2
        assert HumanTaskStore(TABLE).batch(JOB, 0)["completed"] == 1

    def test_a_task_is_counted_in_its_batch_once(self, cloud):
        _publish(workers=1)
        store = HumanTaskStore(TABLE)
        store.record_answer(JOB, task_id(0, 3), "w1", 1, "s1")
        assert store.complete_task(JOB, 0, task_id(0, 3), 1) is True
        assert store.complete_task(JOB, 0, task_id(0, 3), 1) is False
        assert store.batch(JOB, 0)["completed"] == 1 and _task(3)["status"] == "done"
        assert store.claim_resume(JOB, 0, 1000) == (store.batch(JOB, 0), False)  # one task of two complete


def test_a_conditional_write_keeps_the_object_that_is_there(cloud):
    assert s3.write_json_if_absent(BUCKET, "a.json", {"first": True}) is True
    assert s3.write_json_if_absent(BUCKET, "a.json", {"first": False}) is False
    assert s3.read_json(BUCKET, "a.json") == {"first": True}


@pytest.mark.parametrize("code,expected", [("TaskDoesNotExist", False), ("TaskTimedOut", False)])
def test_resuming_a_token_nobody_waits_on_says_so(cloud, code, expected):
    with Stubber(workflow._client()) as stub:
        stub.add_client_error("send_task_success", service_error_code=code)
        assert workflow.resume("token", {"tasks": 1}) is expected
        stub.add_client_error("send_task_success", service_error_code="InvalidToken")
        with pytest.raises(ClientError):
            workflow.resume("token", {"tasks": 1})
    assert workflow.resume("token", {"tasks": 1}) is True  # moto's Step Functions takes any token
