"""The workers' task API (docs/task-api.md) through its real handler, with API Gateway HTTP API payload 2.0
events, on moto: leases, answers, Ground Truth's worker responses, and the workflow resumed once.

Tokens are API Gateway's business (and the local gateway's tests'): these events arrive with the
claims its JWT authorizer puts in requestContext.authorizer.jwt.claims.
"""

from __future__ import annotations

import json
import re
import threading
from collections import Counter
from datetime import datetime

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from autolabel.localcloud import engine
from labeling.dal import s3, tasks, workflow
from labeling.dal.tasks import HumanTaskStore
from labeling.dal.worker_responses import WorkerResponses
from labeling.handlers import consolidate_annotations, publish_human_tasks, record_failure, task_api
from labeling.layout import JobLayout
from labeling.logic import leases
from labeling.models.state import JobState
from labeling.settings import TASKS_TABLE_ENV
from labeling.task_table import OPEN_TASKS_INDEX, create_table_arguments
from tests.emf import emf_points
from tests.unit.lambda_context import Context

BUCKET, TABLE, TOKEN = "jobs-bucket", "human-tasks", "token-of-iteration-0"
TOPICS = ["business", "sport", "tech"]
SHAPES = ["circle", "square", "triangle"]
ISSUER = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_workers"
T0 = 1_767_225_600_000  # 2026-01-01T00:00:00.000Z
GT_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
TEXTS = {3: "Shares fell.", 7: "A new phone.", 9: "United won."}


class Clock:
    def __init__(self):
        self.ms = T0

    def __call__(self) -> int:
        return self.ms

    def advance(self, seconds: float) -> None:
        self.ms += int(seconds * 1000)


def _clear_cached_clients():
    s3._client.cache_clear()
    s3._presigning_client.cache_clear()
    workflow._client.cache_clear()
    tasks._local.__dict__.pop("tables", None)


@pytest.fixture
def atomic_requests():
    """Each DynamoDB request atomic, as DynamoDB's are, and transactions backed up by item: the local
    cloud's patches (engine.install_atomic_dynamodb says why)."""
    patches = engine.install_atomic_dynamodb()
    yield
    engine.uninstall(patches)


@pytest.fixture
def cloud(monkeypatch, atomic_requests):
    for variable, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                            "AWS_DEFAULT_REGION": "us-east-1", TASKS_TABLE_ENV: TABLE,
                            "POWERTOOLS_TRACE_DISABLED": "true", "POWERTOOLS_METRICS_NAMESPACE": "Test"}.items():
        monkeypatch.setenv(variable, value)
    for variable in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_PROFILE", "AWS_SESSION_TOKEN",
                     s3.BROWSER_S3_ENDPOINT_ENV):
        monkeypatch.delenv(variable, raising=False)
    _clear_cached_clients()
    with mock_aws():
        boto3.client("s3").create_bucket(Bucket=BUCKET)
        boto3.client("dynamodb").create_table(**create_table_arguments(TABLE))  # as infra declares it
        yield
    _clear_cached_clients()


@pytest.fixture
def clock(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(leases, "now_ms", clock)
    return clock


@pytest.fixture
def fixed_claim_start(monkeypatch):
    """Claims start at one place of the open tasks' order instead of a random one (dal/tasks.py), so a
    test may say which task a claim looks at first: the first in that order, for every claim."""
    monkeypatch.setattr(tasks.random, "getrandbits", lambda bits: 0)


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


# ------------------------------------------------------------------------------------------- helpers ----

def _state(job: str, *, workers: int = 1, task_type: str = "text-classification", size: int, iteration: int = 0,
           **settings) -> JobState:
    layout = JobLayout(f"jobs/{job}")
    return JobState.model_validate({
        "job": {"name": job, "bucket": BUCKET, "prefix": layout.prefix, "outputPrefix": layout.output,
                "automated": False, "labelNames": SHAPES if task_type == "object-detection" else TOPICS,
                "settings": {"TaskType": task_type, "NumberOfHumanWorkersPerDataObject": workers, **settings}},
        "runId": "r1", "iteration": iteration, "counts": {"total": size},
        "batch": {"uri": f"s3://{BUCKET}/{layout.human_batch(iteration)}", "size": size, "calibrationSize": 0},
    })


def _publish(job: str = "news", *, workers: int = 1, items: dict[int, str] | None = None,
             task_type: str = "text-classification", token: str = TOKEN, **settings) -> JobState:
    """PublishHumanTasks, as HumanLabeling calls it, for a batch of `items` (id -> text or source-ref)."""
    items = TEXTS if items is None else items
    key = "source-ref" if task_type != "text-classification" else "source"
    records = [{"id": i, key: value, "role": "train"} for i, value in items.items()]
    state = _state(job, workers=workers, task_type=task_type, size=len(records), **settings)
    boto3.client("s3").put_object(Bucket=BUCKET, Key=state.job.layout.human_batch(0),
                                  Body="".join(json.dumps(r) + "\n" for r in records).encode())
    publish_human_tasks.handler({"state": state.dump(), "taskToken": token}, Context())
    return state


def _event(method: str, path: str, worker: str | None, body=None) -> dict:
    claims = {"sub": worker, "email": f"{worker}@example.com", "iss": ISSUER, "aud": "page-client",
              "token_use": "id", "exp": "1900000000", "iat": "1767225600"} if worker else None
    return {
        "version": "2.0", "routeKey": "$default", "rawPath": path, "rawQueryString": "",
        "headers": {"content-type": "application/json", "host": "api.example.com"},
        "requestContext": {
            "accountId": "123456789012", "apiId": "api", "domainName": "api.example.com", "domainPrefix": "api",
            "authorizer": {"jwt": {"claims": claims, "scopes": None}} if claims else {},
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "192.0.2.1",
                     "userAgent": "test"},
            "requestId": "req", "routeKey": "$default", "stage": "$default",
            "time": "01/Jan/2026:00:00:00 +0000", "timeEpoch": T0,
        },
        **({"body": json.dumps(body)} if body is not None else {}),
        "isBase64Encoded": False,
    }


def _call(method: str, path: str, worker: str | None, body=None) -> tuple[int, dict]:
    response = task_api.handler(_event(method, path, worker, body), Context())
    return response["statusCode"], json.loads(response["body"]) if response.get("body") else {}


def _ok(method: str, path: str, worker: str, body=None) -> dict:
    status, reply = _call(method, path, worker, body)
    assert status == 200, reply
    return reply


def _claim(worker: str, job: str = "news") -> dict | None:
    return _ok("POST", f"/api/jobs/{job}/claim", worker)["task"]


def _answer(worker: str, task: str, body, job: str = "news") -> tuple[int, dict]:
    return _call("POST", f"/api/jobs/{job}/tasks/{task}/answer", worker, body)


def _label(worker: str, task: str, label: str, job: str = "news") -> dict:
    status, reply = _answer(worker, task, {"label": label}, job)
    assert status == 200, reply
    return reply


def _item(task: dict) -> int:
    return int(task["taskId"].split("-")[1])


def _responses(job: str = "news", k: int = 0) -> list[str]:
    return sorted(s3.list_keys(BUCKET, JobLayout(f"jobs/{job}").worker_response_prefix(k)))


def _read(key: str) -> dict:
    return s3.read_json(BUCKET, key)


def _consolidated(state: JobState) -> dict[int, dict]:
    consolidate_annotations.consolidate(state)
    return {r["id"]: r for r in s3.read_jsonl(BUCKET, state.job.layout.consolidated(0))}


def _label_all(state: JobState, workers: list[str], label_of=lambda item: "tech") -> None:
    for worker in workers:
        while (task := _claim(worker)) is not None:
            _label(worker, task["taskId"], label_of(_item(task)))


# --------------------------------------------------------------------------------------------- tests ----

def test_the_table_the_tests_create_is_the_one_infra_declares():
    from aws_cdk import App, Stack, assertions
    from aws_cdk import aws_kms as kms

    from infra.constructs.human_tasks import HumanTaskTable

    stack = Stack(App(), "Tables")
    HumanTaskTable(stack, "HumanTasks", key=kms.Key(stack, "Key"))
    (table,) = [r["Properties"] for r in assertions.Template.from_stack(stack).to_json()["Resources"].values()
                if r["Type"] == "AWS::DynamoDB::Table"]
    expected = create_table_arguments("any")
    assert table["KeySchema"] == expected["KeySchema"]
    assert sorted(table["AttributeDefinitions"], key=str) == sorted(expected["AttributeDefinitions"], key=str)
    assert table["GlobalSecondaryIndexes"] == expected["GlobalSecondaryIndexes"]


class TestJobs:
    def test_lists_the_jobs_with_work_for_me_with_what_the_page_shows(self, cloud, clock):
        _publish("news", Instructions="Pick the topic of the article.")
        _publish("shapes", task_type="object-detection", items={1: f"s3://{BUCKET}/shapes/1.png"})
        jobs = _ok("GET", "/api/jobs", "w1")["jobs"]
        assert jobs == [
            {"job": "news", "taskType": "text-classification", "labels": TOPICS,
             "instructions": "Pick the topic of the article.", "openTasks": 3},
            {"job": "shapes", "taskType": "object-detection", "labels": SHAPES, "openTasks": 1,
             "instructions": "Draw a tight box around every object of the listed classes and give each box its "
                             "class; submit no boxes when the image shows none."},
        ]

    def test_a_job_leaves_the_list_when_i_answered_all_of_it_or_it_is_done(self, cloud, clock, resumed):
        state = _publish(workers=2, items={3: "a", 7: "b"})
        _label_all(state, ["w1"])
        assert _ok("GET", "/api/jobs", "w1")["jobs"] == []
        assert [j["openTasks"] for j in _ok("GET", "/api/jobs", "w2")["jobs"]] == [2]
        _label_all(state, ["w2"])
        assert _ok("GET", "/api/jobs", "w2")["jobs"] == [] and len(resumed) == 1
        assert HumanTaskStore(TABLE).active_jobs() == []

    def test_a_batch_past_its_availability_is_not_offered(self, cloud, clock):
        _publish(TaskAvailabilityLifetimeInSeconds=600)
        clock.advance(601)
        assert _ok("GET", "/api/jobs", "w1")["jobs"] == []
        assert _claim("w1") is None


class TestClaim:
    def test_leases_a_task_with_its_item_labels_instructions_and_progress(self, cloud, clock):
        _publish(items={3: "Shares fell."})
        task = _claim("w1")
        assert task == {
            "taskId": "00000-000000003", "job": "news", "taskType": "text-classification", "labels": TOPICS,
            "instructions": "Read the text and choose the one class that fits it best.",
            "item": {"text": "Shares fell."}, "acceptedAt": "2026-01-01T00:00:00.000Z",
            "leaseExpiresAt": "2026-01-01T00:05:00.000Z",  # TaskTimeLimitInSeconds' default, 300 s
            "progress": {"mine": 0, "batch": {"iteration": 0, "done": 0, "total": 1}},
        }

    def test_asking_again_while_holding_a_task_gets_the_same_task_back(self, cloud, clock):
        _publish()
        first = _claim("w1")
        clock.advance(30)
        assert _claim("w1") == first  # a page reload: same task, same lease
        assert _item(_claim("w2")) != _item(first)

    def test_a_leased_task_is_hidden_from_others_until_the_lease_expires(self, cloud, clock):
        _publish(items={3: "a"}, TaskTimeLimitInSeconds=60)
        task = _claim("w1")
        assert _claim("w2") is None
        clock.advance(60)
        again = _claim("w2")
        assert again["taskId"] == task["taskId"] and again["acceptedAt"] == "2026-01-01T00:01:00.000Z"
        status, refused = _answer("w1", task["taskId"], {"label": "tech"})
        assert status == 409 and refused["reason"] == "lease-expired" and "ran out" in refused["message"]
        assert _label("w2", again["taskId"], "sport")["batchDone"] is True
        assert len(_responses()) == 1 and _read(_responses()[0])["answers"][0]["workerId"] == "w2"

    def test_n_workers_per_item_lease_it_at_once_and_no_more(self, cloud, clock):
        _publish(workers=2, items={3: "a"})
        first, second = _claim("w1"), _claim("w2")
        assert first["taskId"] == second["taskId"] == "00000-000000003"
        assert _claim("w3") is None  # N - answers = 2 leases are running
        _label("w1", first["taskId"], "tech")
        assert _claim("w3") is None  # one answer and one lease fill its 2 places
        assert _claim("w1") is None  # w1 answered it: never again

    def test_a_worker_never_gets_an_item_they_answered_and_n_workers_answer_each_item(self, cloud, clock, resumed):
        state = _publish(workers=3, items={3: "a", 7: "b", 9: "c"})
        seen: dict[str, list[int]] = {}
        for worker in ("w1", "w2", "w3", "w4"):
            while (task := _claim(worker)) is not None:
                seen.setdefault(worker, []).append(_item(task))
                _label(worker, task["taskId"], "sport")
        assert all(len(items) == len(set(items)) for items in seen.values())
        assert sum(len(items) for items in seen.values()) == 9 and len(resumed) == 1
        for item in (3, 7, 9):
            workers = [_read(k)["answers"][0]["workerId"] for k in _responses() if f"/{item}/" in k]
            assert len(workers) == len(set(workers)) == 3
        assert {r["workers"] for r in _consolidated(state).values()} == {3}

    def test_release_gives_the_task_back_and_it_comes_last(self, cloud, clock):
        _publish(items={3: "a", 7: "b"})
        task = _claim("w1")
        assert _ok("POST", f"/api/jobs/news/tasks/{task['taskId']}/release", "w1") == {"released": True}
        other = _claim("w1")
        assert other["taskId"] != task["taskId"]  # not the one w1 skipped, while there is another
        assert _claim("w2")["taskId"] == task["taskId"]  # at once in the pool again
        assert _ok("POST", f"/api/jobs/news/tasks/{task['taskId']}/release", "w1") == {
            "released": False, "reason": "not-claimed"}
        status, refused = _answer("w1", task["taskId"], {"label": "tech"})
        assert status == 409 and refused["reason"] == "not-claimed"

    def test_the_skipped_task_comes_back_when_nothing_else_is_open(self, cloud, clock):
        _publish(items={3: "a"})
        task = _claim("w1")
        _ok("POST", f"/api/jobs/news/tasks/{task['taskId']}/release", "w1")
        assert _claim("w1")["taskId"] == task["taskId"]

    def test_reads_the_open_tasks_from_the_index_a_page_at_a_time(self, cloud, clock, monkeypatch):
        _publish(items={i: f"text {i}" for i in range(30)})
        queries = []
        table = HumanTaskStore(TABLE).table
        query = type(table).query

        def recording(self, **kwargs):
            queries.append(kwargs)
            return query(self, **kwargs)

        monkeypatch.setattr(type(table), "query", recording)
        monkeypatch.setattr("labeling.logic.task_api.CLAIM_PAGE_SIZE", 7)
        for worker in range(30):
            assert _claim(f"w{worker}") is not None
        assert _claim("late") is None
        assert queries and all(q["IndexName"] == OPEN_TASKS_INDEX and q["Limit"] == 7 for q in queries)

    def test_two_workers_racing_for_the_last_place_do_not_both_get_it(self, cloud, clock, monkeypatch):
        _publish(items={3: "a"})
        store = HumanTaskStore(TABLE)
        index_view = next(store.open_candidates("news", 0, page_size=10, max_pages=2, start="0"))
        assert store.lease("news", index_view, "w1", leases.Lease(T0, T0 + 300_000), []) is True
        # w2 decided on the same view of the task (version 0): its conditional update loses.
        assert store.lease("news", index_view, "w2", leases.Lease(T0, T0 + 300_000), []) is False
        assert set(store.task("news", "00000-000000003")["leases"]) == {"w1"}
        assert _claim("w2") is None

    def test_workers_claiming_at_once_each_get_a_task_of_their_own(self, cloud, clock):
        _publish(items={i: f"text {i}" for i in range(5)})
        barrier, claimed = threading.Barrier(8), {}

        def claim(worker):
            barrier.wait()
            claimed[worker] = _claim(worker)

        threads = [threading.Thread(target=claim, args=(f"w{n}",)) for n in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        got = [task["taskId"] for task in claimed.values() if task]
        assert len(got) == len(set(got)) == 5 and sum(task is None for task in claimed.values()) == 3
        for task in got:
            assert len(HumanTaskStore(TABLE).task("news", task)["leases"]) == 1

    def test_a_text_too_large_for_dynamodb_is_kept_in_s3_and_read_at_claim(self, cloud, clock):
        text = "\U0001F600" * 100_000  # 400,000 bytes of UTF-8: more than a DynamoDB item holds
        state = _publish(items={3: text, 7: "short"})
        large = HumanTaskStore(TABLE).task("news", "00000-000000003")
        assert "data" not in large and large["dataKey"] == state.job.layout.human_item(0, 3)
        assert HumanTaskStore(TABLE).task("news", "00000-000000007")["data"] == {"source": "short"}
        texts = {_item(t): t["item"]["text"] for t in (_claim("w1"), _claim("w2"))}
        assert texts == {3: text, 7: "short"}

    def test_an_image_comes_as_a_presigned_url_of_its_object(self, cloud, clock):
        boto3.client("s3").put_object(Bucket=BUCKET, Key="images/1.png", Body=b"\x89PNG")
        _publish("shapes", task_type="object-detection", items={1: f"s3://{BUCKET}/images/1.png"})
        url = _claim("w1", "shapes")["item"]["imageUrl"]
        assert url.startswith(f"https://{BUCKET}.s3.amazonaws.com/images/1.png?")
        assert "X-Amz-Expires=900" in url and "X-Amz-Signature=" in url

    def test_the_browser_endpoint_names_the_local_stand_in(self, cloud, clock, monkeypatch):
        monkeypatch.setenv(s3.BROWSER_S3_ENDPOINT_ENV, "http://127.0.0.1:5123")
        _publish("shapes", task_type="image-classification", items={1: f"s3://{BUCKET}/images/1.png"})
        assert _claim("w1", "shapes")["item"]["imageUrl"].startswith(f"http://127.0.0.1:5123/{BUCKET}/images/1.png?")



class TestUnknownJobsAndTasks:
    """Every route answers 404 for a job with no batch and for a task that is not the job's."""

    def test_a_job_with_no_batch(self, cloud, clock):
        _publish("news")
        for method, path in (("POST", "/api/jobs/other/claim"), ("GET", "/api/jobs/other/progress"),
                             ("POST", "/api/jobs/other/tasks/00000-000000003/answer"),
                             ("POST", "/api/jobs/other/tasks/00000-000000003/release")):
            status, reply = _call(method, path, "w1", {"label": "tech"} if path.endswith("answer") else None)
            assert status == 404 and "other" in reply["message"], (path, reply)

    def test_a_task_of_another_job_or_no_task(self, cloud, clock):
        _publish("news")
        _publish("sports", items={100: "x"})
        news_task = _claim("w1", "news")["taskId"]
        for job, task in (("sports", news_task), ("news", "00000-000000004"), ("news", "00001-000000003"),
                          ("news", "not-a-task")):
            for route in ("answer", "release"):
                status, reply = _call("POST", f"/api/jobs/{job}/tasks/{task}/{route}", "w1", {"label": "tech"})
                assert status == 404 and f"job {job} has no task" in reply["message"], (job, task, route, reply)
        assert _call("GET", "/api/nothing", "w1")[0] == 404

    def test_between_batches_a_claim_finds_nothing(self, cloud, clock, resumed):
        state = _publish(items={3: "a"})
        _label_all(state, ["w1"])
        assert _claim("w1") is None
        assert _ok("GET", "/api/jobs/news/progress", "w1") == {"mine": 1, "batch": {"iteration": 0, "done": 1,
                                                                                     "total": 1}}


class TestAnswers:
    def test_an_invalid_label_is_refused_naming_what_to_send(self, cloud, clock):
        _publish()
        task = _claim("w1")["taskId"]
        status, reply = _answer("w1", task, {"label": "cats"})
        assert status == 400 and reply["message"] == f"label 'cats' is not one of {TOPICS}"
        status, reply = _answer("w1", task, {"workerId": "w2", "label": "tech"})
        assert status == 400 and "workerId" in reply["message"] and 'Send {"label": "<class>"}' in reply["message"]
        status, reply = _answer("w1", task, {"boundingBox": {"boundingBoxes": [], "inputImageProperties": {
            "width": 1, "height": 1}}})
        assert status == 400 and "classification answer is one 'label'" in reply["message"]
        assert _responses() == [] and HumanTaskStore(TABLE).task("news", task)["answers"] == 0

    def test_a_body_that_is_not_json_is_refused(self, cloud, clock):
        _publish()
        task = _claim("w1")["taskId"]
        event = _event("POST", f"/api/jobs/news/tasks/{task}/answer", "w1")
        event["body"] = "label=tech"
        response = task_api.handler(event, Context())
        assert response["statusCode"] == 400 and "not JSON" in json.loads(response["body"])["message"]

    def test_a_box_outside_the_image_or_of_an_unknown_class_is_refused(self, cloud, clock):
        _publish("shapes", task_type="object-detection", items={1: f"s3://{BUCKET}/1.png"})
        task = _claim("w1", "shapes")["taskId"]
        size = {"width": 128, "height": 128}
        status, reply = _answer("w1", task, {"boundingBox": {"boundingBoxes": [
            {"label": "circle", "left": 70, "top": 64, "width": 200, "height": 27}], "inputImageProperties": size}},
            "shapes")
        assert status == 400 and "box 1 (70, 64, 200 x 27) reaches outside the 128 x 128 image" in reply["message"]
        status, reply = _answer("w1", task, {"boundingBox": {"boundingBoxes": [
            {"label": "hexagon", "left": 1, "top": 1, "width": 2, "height": 2}], "inputImageProperties": size}},
            "shapes")
        assert status == 400 and reply["message"] == f"box 1: label 'hexagon' is not one of {SHAPES}"
        good = {"boundingBox": {"boundingBoxes": [{"label": "triangle", "left": 1, "top": 2, "width": 3,
                                                   "height": 4}], "inputImageProperties": size}}
        status, reply = _answer("w1", task, good, "shapes")
        assert status == 200 and reply["batchDone"] is True
        [key] = _responses("shapes")
        assert _read(key)["answers"][0]["answerContent"] == good

    def test_the_stored_worker_response_has_ground_truths_fields_and_times(self, cloud, clock):
        state = _publish(items={3: "a"})
        task = _claim("w1")["taskId"]
        clock.advance(12.345)
        reply = _label("w1", task, "tech")
        assert reply == {"accepted": True, "duplicate": False, "taskDone": True, "batchDone": True,
                         "progress": {"mine": 1, "batch": {"iteration": 0, "done": 1, "total": 1}}}
        [key] = _responses()
        assert key == state.job.layout.worker_response(0, 3, "20260101T000012.345Z-w1.json")
        assert key.startswith("jobs/news/output/annotations/worker-response/iteration-0/3/")
        [answer] = _read(key)["answers"]
        assert answer == {
            "answerContent": {"label": "tech"}, "workerId": "w1",
            "workerMetadata": {"identityData": {"identityProviderType": "Cognito", "issuer": ISSUER, "sub": "w1"}},
            "acceptanceTime": "2026-01-01T00:00:00.000Z", "submissionTime": "2026-01-01T00:00:12.345Z",
            "timeSpentInSeconds": 12.345,
        }
        assert GT_TIME.match(answer["acceptanceTime"]) and GT_TIME.match(answer["submissionTime"])
        assert datetime.fromisoformat(answer["submissionTime"]) > datetime.fromisoformat(answer["acceptanceTime"])
        assert _consolidated(state)[3]["label"] == 2

    def test_without_a_claim_an_answer_is_refused(self, cloud, clock):
        _publish()
        status, reply = _answer("w1", "00000-000000003", {"label": "tech"})
        assert status == 409 and reply["reason"] == "not-claimed" and "claim a task first" in reply["message"]
        assert _responses() == []


class TestTheSameWorkerSubmittingTwice:
    @pytest.mark.parametrize("again", ["tech", "sport"], ids=["same answer", "another answer"])
    def test_counts_once_and_keeps_the_first_answer(self, cloud, clock, resumed, again, capsys):
        state = _publish(workers=2, items={3: "a"})
        capsys.readouterr()
        task = _claim("w1")["taskId"]
        assert _label("w1", task, "tech")["duplicate"] is False
        [key] = _responses()
        stored = _read(key)
        clock.advance(5)
        retry = _label("w1", task, again)
        assert retry["duplicate"] is True and retry["accepted"] is True and retry["taskDone"] is False
        assert "answered task 00000-000000003 already" in retry["message"] and "not used" in retry["message"]
        assert retry["progress"]["mine"] == 1
        assert _responses() == [key] and _read(key) == stored
        record = HumanTaskStore(TABLE).task("news", task)
        assert record["answers"] == 1 and record["workers"] == {"w1"}
        w2 = _claim("w2")["taskId"]
        assert _label("w2", w2, "sport")["batchDone"] is True
        assert _consolidated(state)[3]["workers"] == 2 and len(resumed) == 1
        # the job's metrics count the retry apart: two answers, one given again, two claims
        points = emf_points(capsys.readouterr().out.splitlines())
        emitted = Counter((p.name, p.value) for p in points if p.job == "news")
        assert emitted == {("HumanTasksClaimed", 1): 2, ("HumanAnswers", 1): 2, ("DuplicateHumanAnswers", 1): 1}


class TestLateAnswers:
    def test_to_a_task_with_all_its_answers_while_the_batch_goes_on(self, cloud, clock, fixed_claim_start):
        # both workers are offered the same first task: w2 gets w1's once w1's lease ran out
        _publish(items={3: "a", 7: "b"}, TaskTimeLimitInSeconds=60)
        first = _claim("w1")
        clock.advance(61)
        second = _claim("w2")  # w1's lease ran out: the task went to w2
        assert second["taskId"] == first["taskId"]
        _label("w2", second["taskId"], "sport")
        status, reply = _answer("w1", first["taskId"], {"label": "tech"})
        assert status == 409 and reply["reason"] == "task-done" and "not counted" in reply["message"]
        assert [_read(k)["answers"][0]["workerId"] for k in _responses()] == ["w2"]

    def test_after_the_batch_is_complete(self, cloud, clock, resumed):
        state = _publish(items={3: "a"}, TaskTimeLimitInSeconds=60)
        first = _claim("w1")
        clock.advance(61)
        _label("w2", _claim("w2")["taskId"], "sport")
        status, reply = _answer("w1", first["taskId"], {"label": "tech"})
        assert status == 409 and reply["reason"] == "batch-complete"
        assert [r["label"] for r in _consolidated(state).values()] == [1] and len(resumed) == 1
        staged = list(s3.list_keys(BUCKET, state.job.layout.submissions(0, 3)))
        assert len(staged) == 1  # the late answer was stored nowhere, not even staged


class TestResumingTheWorkflow:
    @pytest.mark.parametrize("round_", range(5))
    def test_two_workers_finishing_the_batch_at_once_resume_it_once(self, cloud, clock, resumed, round_):
        _publish("race", workers=2, items={1: "a"})
        held = {worker: _claim(worker, "race")["taskId"] for worker in ("w1", "w2")}
        barrier, replies = threading.Barrier(2), {}

        def answer(worker):
            barrier.wait()
            replies[worker] = _answer(worker, held[worker], {"label": "tech"}, "race")

        threads = [threading.Thread(target=answer, args=(worker,)) for worker in held]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert all(status == 200 and not reply["duplicate"] for status, reply in replies.values()), replies
        assert any(reply["batchDone"] for _, reply in replies.values())
        assert resumed == [(TOKEN, {"iteration": 0, "tasks": 1})]
        assert len(_responses("race")) == 2

    def test_a_crash_after_counting_then_a_retry_keeps_every_answer_and_resumes_once(
            self, cloud, clock, resumed, monkeypatch):
        state = _publish(workers=2, items={3: "a"})
        first, second = _claim("w1")["taskId"], _claim("w2")["taskId"]
        _label("w1", first, "tech")
        publish = WorkerResponses.publish
        monkeypatch.setattr(WorkerResponses, "publish", lambda *a, **k: (_ for _ in ()).throw(
            ClientError({"Error": {"Code": "InternalError", "Message": "S3 failed"}}, "PutObject")))
        with pytest.raises(ClientError):
            _answer("w2", second, {"label": "sport"})  # counted, then the call failed: no reply
        monkeypatch.setattr(WorkerResponses, "publish", publish)
        record = HumanTaskStore(TABLE).task("news", second)
        assert record["answers"] == 2 and record["status"] == "open" and len(_responses()) == 1 and resumed == []

        retry = _label("w2", second, "business")  # the client's retry, even with another answer
        assert retry["duplicate"] is True and retry["batchDone"] is True
        contents = {_read(k)["answers"][0]["workerId"]: _read(k)["answers"][0]["answerContent"] for k in _responses()}
        assert contents == {"w1": {"label": "tech"}, "w2": {"label": "sport"}}
        _label("w2", second, "sport")
        assert resumed == [(TOKEN, {"iteration": 0, "tasks": 1})]
        assert _consolidated(state)[3]["workers"] == 2

    def test_a_task_left_open_after_its_last_answer_is_completed_by_the_next_claim(
            self, cloud, clock, resumed, monkeypatch, fixed_claim_start):
        # fixed_claim_start: w2's claim looks at w1's task first, the one it must complete
        _publish(items={3: "a", 7: "b"})
        first = _claim("w1")["taskId"]
        complete = HumanTaskStore.complete_task
        monkeypatch.setattr(HumanTaskStore, "complete_task", lambda *a, **k: (_ for _ in ()).throw(
            ClientError({"Error": {"Code": "InternalServerError", "Message": "DynamoDB failed"}}, "Transact")))
        with pytest.raises(ClientError):
            _answer("w1", first, {"label": "tech"})  # counted and published; the worker never retries
        monkeypatch.setattr(HumanTaskStore, "complete_task", complete)
        second = _claim("w2")
        assert second["taskId"] != first and _label("w2", second["taskId"], "sport")["batchDone"] is True
        assert len(resumed) == 1 and len(_responses()) == 2

    def test_a_retry_resumes_it_when_the_completing_call_failed_before_resuming(self, cloud, clock, monkeypatch):
        _publish(items={3: "a"})
        task = _claim("w1")["taskId"]
        calls = []

        def failing(token, output):
            calls.append(token)
            raise ClientError({"Error": {"Code": "ServiceUnavailable", "Message": "try again"}}, "SendTaskSuccess")

        monkeypatch.setattr(workflow, "resume", failing)
        with pytest.raises(ClientError):
            _answer("w1", task, {"label": "tech"})
        monkeypatch.setattr(workflow, "resume", lambda token, output: calls.append(token) or True)
        # Within the claim's time its holder may still be resuming: a retry does not resume a second time.
        assert _label("w1", task, "tech")["batchDone"] is True and len(calls) == 1
        import time as clock_module
        now = clock_module.time()
        monkeypatch.setattr(clock_module, "time", lambda: now + tasks.RESUME_CLAIM_SECONDS + 1)
        assert _label("w1", task, "tech")["batchDone"] is True and len(calls) == 2
        assert _label("w1", task, "tech")["batchDone"] is True and len(calls) == 2
        assert HumanTaskStore(TABLE).batch("news", 0)["completed"] == 1


class TestPublishing:
    def test_a_retry_of_a_published_batch_keeps_its_answers_and_waits_on_the_new_token(self, cloud, clock, resumed):
        _publish(items={3: "a", 7: "b"})
        _label("w1", _claim("w1")["taskId"], "tech")
        _publish(items={3: "a", 7: "b"}, token="token-of-the-retry")
        assert HumanTaskStore(TABLE).batch("news", 0)["completed"] == 1
        _label("w1", _claim("w1")["taskId"], "tech")
        assert resumed == [("token-of-the-retry", {"iteration": 0, "tasks": 2})]


def test_the_workers_own_progress_counts_their_answers_in_the_job(cloud, clock):
    _publish(workers=2, items={3: "a", 7: "b"})
    for _ in range(2):
        _label("w1", _claim("w1")["taskId"], "tech")
    _label("w2", _claim("w2")["taskId"], "tech")
    assert _ok("GET", "/api/jobs/news/progress", "w1") == {"mine": 2, "batch": {"iteration": 0, "done": 1,
                                                                                 "total": 2}}
    assert _ok("GET", "/api/jobs/news/progress", "w2")["mine"] == 1
    assert _ok("GET", "/api/jobs/news/progress", "w3")["mine"] == 0


def test_a_request_without_a_worker_is_refused(cloud, clock):
    _publish()
    assert _call("GET", "/api/jobs", None)[0] == 401
    assert _call("GET", "/api/jobs", "no/slashes")[0] == 403


def test_a_timeout_at_human_labeling_names_the_setting_and_the_batchs_progress(cloud, clock):
    state = _publish(workers=2, items={3: "a", 7: "b"}, TaskAvailabilityLifetimeInSeconds=86_400)
    for worker in ("w1", "w2"):
        _label(worker, _claim(worker)["taskId"], "tech")
    _label("w1", _claim("w1")["taskId"], "tech")
    failed = {**state.dump(), "error": {"Error": "States.Timeout", "Cause": None}}
    record = record_failure.handler(failed, Context())
    assert record["error"] == "States.Timeout"
    assert record["cause"].startswith(
        "the human batch of iteration 0 was not complete when its TaskAvailabilityLifetimeInSeconds, 86400 s "
        "(1 day), ran out: 1 of its 2 items had all their 2 answers (3 of 4 answers).")
    assert "jobs/news/output/annotations/worker-response/iteration-0/" in record["cause"]


def test_a_task_is_counted_in_its_batch_once(cloud, clock):
    _publish(items={3: "a", 7: "b"})
    store = HumanTaskStore(TABLE)
    task = _claim("w1")["taskId"]
    _label("w1", task, "tech")
    assert store.complete_task("news", 0, task, 1) is False  # the answer's call did it
    assert store.batch("news", 0)["completed"] == 1 and store.task("news", task)["status"] == "done"
    assert "openPk" not in store.task("news", task)  # out of the open tasks
    assert store.claim_resume("news", 0, 1000) == (store.batch("news", 0, consistent=True), False)  # 1 of 2


def test_a_conditional_write_keeps_the_object_that_is_there(cloud):
    assert s3.write_json_if_absent(BUCKET, "a.json", {"first": True}) is True
    assert s3.write_json_if_absent(BUCKET, "a.json", {"first": False}) is False
    assert s3.read_json(BUCKET, "a.json") == {"first": True}


@pytest.mark.parametrize("code", ["TaskDoesNotExist", "TaskTimedOut"])
def test_resuming_a_token_nobody_waits_on_says_so(cloud, code):
    from botocore.stub import Stubber

    with Stubber(workflow._client()) as stub:
        stub.add_client_error("send_task_success", service_error_code=code)
        assert workflow.resume("token", {"tasks": 1}) is False
        stub.add_client_error("send_task_success", service_error_code="InvalidToken")
        with pytest.raises(ClientError):
            workflow.resume("token", {"tasks": 1})
    assert workflow.resume("token", {"tasks": 1}) is True  # moto's Step Functions takes any token


@pytest.mark.parametrize("setting,low,high,default", [
    ("TaskTimeLimitInSeconds", 30, 28_800, 300),
    ("TaskAvailabilityLifetimeInSeconds", 60, 2_592_000, 864_000),
])
def test_the_workers_settings_take_ground_truths_ranges(setting, low, high, default):
    from pydantic import ValidationError

    from labeling.models.job import JobConfig

    assert getattr(JobConfig(TaskType="text-classification"), setting) == default
    for value in (low, high):
        assert getattr(JobConfig(TaskType="text-classification", **{setting: value}), setting) == value
    for value in (low - 1, high + 1):
        with pytest.raises(ValidationError, match=setting):
            JobConfig(TaskType="text-classification", **{setting: value})


class TestBatchOfAResumedRun:
    """A resumed run publishes its human batch again (logic/resume.py): answers already given count."""

    @staticmethod
    def _forget_the_task_records() -> None:
        """What a resumed local run starts from: S3 kept, the tasks table new (localcloud/durable_s3.py)."""
        table = boto3.resource("dynamodb").Table(TABLE)
        for item in table.scan()["Items"]:
            table.delete_item(Key={"pk": item["pk"], "sk": item["sk"]})

    def test_published_answers_count_and_no_worker_is_asked_an_item_twice(self, cloud, clock, resumed):
        state = _publish(workers=2)
        _label_all(state, ["w1"])
        task = _claim("w2")
        _label("w2", task["taskId"], "sport")
        done_item = _item(task)
        self._forget_the_task_records()
        _publish(workers=2, token="token-of-the-resumed-run")
        assert _claim("w1") is None  # w1 answered every item before the run stopped
        asked = []
        while (task := _claim("w2")) is not None:
            asked.append(_item(task))
            _label("w2", task["taskId"], "sport")
        assert sorted(asked) == sorted(set(TEXTS) - {done_item})
        assert _claim("w3") is None  # every item has its two answers
        assert [token for token, _ in resumed] == ["token-of-the-resumed-run"]
        assert len(_responses()) == 2 * len(TEXTS)  # one per worker and item, none twice
        assert {item: record["workers"] for item, record in _consolidated(state).items()} == dict.fromkeys(TEXTS, 2)

    def test_a_batch_answered_before_the_stop_resumes_the_new_run_at_once(self, cloud, clock, resumed):
        state = _publish()
        _label_all(state, ["w1"])
        assert [token for token, _ in resumed] == [TOKEN]
        self._forget_the_task_records()
        _publish(token="token-of-the-resumed-run")
        assert [token for token, _ in resumed] == [TOKEN, "token-of-the-resumed-run"]
        assert _claim("w2") is None and len(_responses()) == len(TEXTS)

    def test_a_batch_of_the_same_run_waits_on_the_new_token_and_resumes_it_once_complete(
            self, cloud, clock, resumed):
        """In AWS the task records outlive the execution: a resume of the run renews the batch's token."""
        state = _publish()
        _label_all(state, ["w1"])
        _publish(token="token-of-the-resumed-run")  # the records are there: published already
        assert [token for token, _ in resumed] == [TOKEN, "token-of-the-resumed-run"]
        _publish(token="a-retry-of-that-publish")  # Lambda's retry of the step: resumed once more, not lost
        assert [token for token, _ in resumed][-1] == "a-retry-of-that-publish"
