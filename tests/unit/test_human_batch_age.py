"""HumanBatchAge (labeling/handlers/human_batch_age.py): the age of each human batch that waits for
its workers, from the human task table, as the HumanBatchAgeSeconds metric; on moto, with batches
published by the same store the workflow publishes with."""

from __future__ import annotations

import boto3
import pytest
from moto import mock_aws

from labeling import observability as obs
from labeling.dal import tasks
from labeling.dal.tasks import HumanTaskStore
from labeling.handlers import human_batch_age
from labeling.logic import leases
from labeling.logic.batch_age import waiting_batches
from labeling.settings import TASKS_TABLE_ENV
from labeling.task_table import create_table_arguments
from tests.emf import emf_points, per_job, stack_wide
from tests.unit.lambda_context import Context

TABLE = "human-tasks"
T0 = 1_767_225_600_000  # 2026-01-01T00:00:00.000Z
HOUR_MS = 3_600_000
DAY_S = 86_400


@pytest.fixture
def store(fake_aws_credentials, monkeypatch):
    monkeypatch.setenv(TASKS_TABLE_ENV, TABLE)
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    tasks._local.__dict__.pop("tables", None)
    with mock_aws():
        boto3.client("dynamodb").create_table(**create_table_arguments(TABLE))  # as infra declares it
        yield HumanTaskStore(TABLE)
    tasks._local.__dict__.pop("tables", None)


def _publish(store: HumanTaskStore, job: str, *, at: int, size: int = 3, run_id: str = "r1", iteration: int = 0,
             available_for_ms: int = 10 * 24 * HOUR_MS) -> None:
    store.publish_batch(
        job=job, iteration=iteration, run_id=run_id, token=f"token-{job}", label_names=["a", "b"], answers_needed=1,
        task_type="text-classification", instructions="", time_limit_seconds=300,
        available_until=at + available_for_ms, bucket="jobs-bucket", job_prefix=f"jobs/{job}/",
        tasks=({"id": i, "data": {"source": f"item {i}"}} for i in range(size)), total=size, now=at,
    )


def _run(monkeypatch, capsys, now: int) -> tuple[dict, list]:
    monkeypatch.setattr(leases, "now_ms", lambda: now)
    result = human_batch_age.handler({}, Context(function_name="HumanBatchAge"))
    return result, emf_points(capsys.readouterr().out.splitlines())


def test_each_waiting_batch_has_its_age_per_job_and_the_oldest_is_the_stacks_maximum(store, monkeypatch, capsys):
    _publish(store, "news", at=T0)
    _publish(store, "sport", at=T0 + 20 * HOUR_MS)
    result, points = _run(monkeypatch, capsys, now=T0 + 26 * HOUR_MS)
    assert [(b["job"], b["ageSeconds"]) for b in result["batches"]] == [("news", 26 * 3600), ("sport", 6 * 3600)]
    assert per_job(points, obs.HUMAN_BATCH_AGE, "news") == [26 * 3600]
    assert per_job(points, obs.HUMAN_BATCH_AGE, "sport") == [6 * 3600]
    assert max(stack_wide(points, obs.HUMAN_BATCH_AGE)) == 26 * 3600  # what the alarm reads (Maximum)
    assert {p.unit for p in points if p.name == obs.HUMAN_BATCH_AGE} == {"Seconds"}


def test_a_batch_whose_tasks_are_all_complete_waits_for_no_worker(store, monkeypatch, capsys):
    _publish(store, "news", at=T0, size=1)
    store.table.update_item(Key={"pk": "JOB#news", "sk": "TASK#00000#000000000"},
                            UpdateExpression="SET answers = :one", ExpressionAttributeValues={":one": 1})
    assert store.complete_task("news", 0, "00000-000000000", answers_needed=1)
    result, points = _run(monkeypatch, capsys, now=T0 + 30 * HOUR_MS)
    assert result["batches"] == [] and points == []  # no point: the alarm treats missing data as fine


def test_a_batch_past_its_availability_is_no_longer_waiting(store, monkeypatch, capsys):
    _publish(store, "news", at=T0, available_for_ms=24 * HOUR_MS)  # HumanLabeling timed out after a day
    result, points = _run(monkeypatch, capsys, now=T0 + 25 * HOUR_MS)
    assert result["batches"] == [] and points == []


def test_no_batch_published_emits_nothing(store, monkeypatch, capsys):
    result, points = _run(monkeypatch, capsys, now=T0)
    assert result == {"batches": []} and points == []


def test_only_the_batch_of_the_jobs_current_run_counts():
    active = [{"job": "news", "iteration": 2, "runId": "r2"}]
    earlier_run = {"runId": "r1", "publishedAt": T0, "completed": 0, "total": 5, "availableUntil": T0 + DAY_S * 1000}
    assert waiting_batches(active, {"news": earlier_run}, now_ms=T0 + HOUR_MS) == []
    assert waiting_batches(active, {"news": None}, now_ms=T0 + HOUR_MS) == []
    unpublished = {**earlier_run, "runId": "r2"}
    del unpublished["publishedAt"]  # its tasks are still being written: workers do not see it yet
    assert waiting_batches(active, {"news": unpublished}, now_ms=T0 + HOUR_MS) == []
    (batch,) = waiting_batches(active, {"news": {**earlier_run, "runId": "r2", "completed": 4}}, now_ms=T0 + HOUR_MS)
    assert (batch.job, batch.iteration, batch.age_seconds, batch.completed, batch.total) == ("news", 2, 3600, 4, 5)
