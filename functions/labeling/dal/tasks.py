"""Human tasks in DynamoDB: one record per published batch and one per item.

Keys: pk = "JOB#<job>"; sk = "BATCH#<iteration>" for a batch (it holds the
Step Functions task token that HumanLabeling waits on, `completed` tasks of `total`,
and `resumeClaimedAt` / `resumedAt` once its tasks are all complete) and
"TASK#<iteration>#<item id>" for an item (`answers` counted, the `workers` who gave
them, `submission#<worker>` naming the staged submission counted for each, `status`).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

import boto3
from boto3.dynamodb.conditions import Attr, Key
from botocore.exceptions import ClientError

OPEN, DONE = "open", "done"


# Longer than the task API's timeout (infra/constructs/human_tasks.py, 30 s): a claim this old
# is one whose holder stopped before it resumed the workflow.
RESUME_CLAIM_SECONDS = 120


class TaskNotOpenError(ValueError):
    """The task takes no more answers; `reason` is "not-found" (no such task or batch) or "task-done"."""

    def __init__(self, message: str, reason: str = "task-done"):
        super().__init__(message)
        self.reason = reason


class AlreadyAnsweredError(TaskNotOpenError):
    """This worker's answer to the task is counted already; `task` is the task record."""

    def __init__(self, task: dict[str, Any]):
        super().__init__(f"{task['sk'].removeprefix('TASK#')} is answered by this worker already", "duplicate")
        self.task = task


_local = threading.local()


def _table(name: str):
    # boto3 resources are not thread-safe; Lambda runs one event at a time per
    # process, but the local cloud runs several functions in threads.
    tables = _local.__dict__.setdefault("tables", {})
    if name not in tables:
        tables[name] = boto3.resource("dynamodb").Table(name)
    return tables[name]


def _pk(job: str) -> str:
    return f"JOB#{job}"


def _batch_key(job: str, iteration: int) -> dict[str, str]:
    return {"pk": _pk(job), "sk": f"BATCH#{iteration:05d}"}


def _task_key(job: str, task: str) -> dict[str, str]:
    return {"pk": _pk(job), "sk": f"TASK#{task}"}


def submission_attribute(worker_id: str) -> str:
    """The task record's attribute naming the staged submission counted for this worker."""
    return f"submission#{worker_id}"


def task_id(iteration: int, item_id: int) -> str:
    return f"{iteration:05d}#{item_id:09d}"


def parse_task_id(value: str) -> tuple[int, int]:
    iteration, _, item_id = value.partition("#")
    return int(iteration), int(item_id)


class HumanTaskStore:
    def __init__(self, table_name: str):
        self.table = _table(table_name)

    def publish_batch(
        self, *, job: str, iteration: int, token: str, label_names: list[str], answers_needed: int,
        task_type: str, bucket: str, job_prefix: str, items: Iterable[dict[str, Any]], total: int,
    ) -> int:
        # The batch record goes first: a worker may fetch a task the moment it is written.
        self.table.put_item(Item={
            **_batch_key(job, iteration), "token": token, "total": total,
            "completed": 0, "answersNeeded": answers_needed, "labels": label_names,
            "taskType": task_type, "bucket": bucket, "jobPrefix": job_prefix,
        })
        count = 0
        with self.table.batch_writer() as writer:
            for item in items:
                data = {k: v for k, v in item.items() if k in ("source", "source-ref")}
                writer.put_item(Item={
                    "pk": _pk(job), "sk": f"TASK#{task_id(iteration, item['id'])}",
                    "status": OPEN, "answers": 0, "itemId": item["id"], "data": data,
                })
                count += 1
        if count != total:
            raise ValueError(f"batch {iteration} of job {job} has {count} items, the state says {total}")
        return count

    def batch(self, job: str, iteration: int, *, consistent: bool = False) -> dict[str, Any]:
        item = self.table.get_item(Key=_batch_key(job, iteration), ConsistentRead=consistent).get("Item")
        if item is None:
            raise TaskNotOpenError(f"job {job} has no batch {iteration}; fetch open tasks again", "not-found")
        return item

    def task(self, job: str, task: str) -> dict[str, Any] | None:
        return self.table.get_item(Key=_task_key(job, task), ConsistentRead=True).get("Item")

    def open_tasks(self, job: str, worker_id: str, limit: int) -> list[dict[str, Any]]:
        tasks: list[dict[str, Any]] = []
        query = {
            "KeyConditionExpression": Key("pk").eq(_pk(job)) & Key("sk").begins_with("TASK#"),
            "FilterExpression": Attr("status").eq(OPEN) & ~Attr("workers").contains(worker_id),
        }
        while len(tasks) < limit:
            page = self.table.query(**query)
            tasks.extend(page["Items"])
            if "LastEvaluatedKey" not in page:
                break
            query["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return tasks[:limit]

    def record_answer(self, job: str, task: str, worker_id: str, answers_needed: int, submission_id: str) -> dict:
        """Count one worker's answer, naming its staged submission; returns the task record after it.

        The one decision point: this conditional update counts a worker's answer to a task at
        most once, and never beyond the answers the task needs. It raises AlreadyAnsweredError
        (holding the task record) when this worker's answer is counted already, and
        TaskNotOpenError when the task does not exist or has all its answers.
        """
        try:
            return self.table.update_item(
                Key=_task_key(job, task),
                UpdateExpression="ADD answers :one, workers :worker SET #submission = :submission",
                ConditionExpression=(
                    "attribute_exists(pk) AND #s = :open AND answers < :needed AND NOT contains(workers, :w)"
                ),
                ExpressionAttributeNames={"#s": "status", "#submission": submission_attribute(worker_id)},
                ExpressionAttributeValues={
                    ":one": 1, ":worker": {worker_id}, ":w": worker_id, ":open": OPEN,
                    ":needed": answers_needed, ":submission": submission_id,
                },
                ReturnValues="ALL_NEW",
            )["Attributes"]
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
        current = self.task(job, task)
        if current is None:
            raise TaskNotOpenError(f"task {task} of job {job} does not exist; fetch open tasks again", "not-found")
        if worker_id in current.get("workers", set()):
            raise AlreadyAnsweredError(current)
        raise TaskNotOpenError(
            f"task {task} of job {job} already has all its {answers_needed} answers; this late answer is "
            "not counted and not used; fetch open tasks again", "task-done",
        )

    def complete_task(self, job: str, iteration: int, task: str, answers_needed: int) -> bool:
        """Mark a task that has all its answers done and count it in its batch: both or neither, once.

        True when this call did it; False when it was done already. Safe to call again, so a
        resubmission finishes what a failed call left.
        """
        client = self.table.meta.client
        try:
            client.transact_write_items(TransactItems=[
                {"Update": {
                    "TableName": self.table.name, "Key": _task_key(job, task),
                    "UpdateExpression": "SET #s = :done",
                    "ConditionExpression": "#s = :open AND answers >= :needed",
                    "ExpressionAttributeNames": {"#s": "status"},
                    "ExpressionAttributeValues": {":done": DONE, ":open": OPEN, ":needed": answers_needed},
                }},
                {"Update": {
                    "TableName": self.table.name, "Key": _batch_key(job, iteration),
                    "UpdateExpression": "ADD completed :one", "ConditionExpression": "attribute_exists(pk)",
                    "ExpressionAttributeValues": {":one": 1},
                }},
            ])
        except ClientError as error:
            reasons = [r.get("Code") for r in error.response.get("CancellationReasons", [])]
            if error.response["Error"]["Code"] == "TransactionCanceledException" and reasons[:1] == [
                    "ConditionalCheckFailed"]:
                return False
            raise
        return True

    def claim_resume(self, job: str, iteration: int, now: int) -> tuple[dict[str, Any], bool]:
        """Claim the right to resume the workflow on a batch whose tasks are all complete.

        Returns (batch record, claimed). One caller gets the claim; another gets it only
        when the batch is not marked resumed and the claim is older than RESUME_CLAIM_SECONDS
        (its holder failed before resuming).
        """
        try:
            batch = self.table.update_item(
                Key=_batch_key(job, iteration), UpdateExpression="SET resumeClaimedAt = :now",
                ConditionExpression=(
                    "completed >= #total AND attribute_not_exists(resumedAt) AND "
                    "(attribute_not_exists(resumeClaimedAt) OR resumeClaimedAt < :stale)"
                ),
                ExpressionAttributeNames={"#total": "total"},
                ExpressionAttributeValues={":now": now, ":stale": now - RESUME_CLAIM_SECONDS},
                ReturnValues="ALL_NEW",
            )["Attributes"]
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            return self.batch(job, iteration, consistent=True), False
        return batch, True

    def mark_resumed(self, job: str, iteration: int, now: int) -> None:
        self.table.update_item(
            Key=_batch_key(job, iteration), UpdateExpression="SET resumedAt = :now",
            ExpressionAttributeValues={":now": now},
        )
