"""Human tasks in DynamoDB: one record per published batch and one per item.

Keys: pk = "JOB#<job>"; sk = "BATCH#<iteration>" for a batch (it holds the
Step Functions task token that HumanLabeling waits on) and
"TASK#<iteration>#<item id>" for an item.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

import boto3
from boto3.dynamodb.conditions import Attr, Key
from botocore.exceptions import ClientError

OPEN, DONE = "open", "done"


class TaskNotOpenError(ValueError):
    """The task does not exist, is already answered, or this worker answered it."""


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
            "pk": _pk(job), "sk": f"BATCH#{iteration:05d}", "token": token, "total": total,
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

    def batch(self, job: str, iteration: int) -> dict[str, Any]:
        return self.table.get_item(Key={"pk": _pk(job), "sk": f"BATCH#{iteration:05d}"})["Item"]

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

    def record_answer(self, job: str, task: str, worker_id: str, answers_needed: int) -> bool:
        """Count one worker's answer; True when it completed the task."""
        key = {"pk": _pk(job), "sk": f"TASK#{task}"}
        try:
            updated = self.table.update_item(
                Key=key,
                UpdateExpression="ADD answers :one, workers :worker",
                ConditionExpression="attribute_exists(pk) AND #s = :open AND NOT contains(workers, :w)",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={":one": 1, ":worker": {worker_id}, ":w": worker_id, ":open": OPEN},
                ReturnValues="ALL_NEW",
            )["Attributes"]
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                raise TaskNotOpenError(
                    f"task {task} of job {job} is not open for worker {worker_id}: it does not exist, "
                    "is already answered, or this worker answered it; fetch open tasks again"
                ) from None
            raise
        if updated["answers"] < answers_needed:
            return False
        try:
            self.table.update_item(
                Key=key, UpdateExpression="SET #s = :done", ConditionExpression="#s = :open",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={":done": DONE, ":open": OPEN},
            )
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False  # another answer completed it at the same moment
            raise
        return True

    def complete_one(self, job: str, iteration: int) -> tuple[int, dict[str, Any]]:
        """Count a completed task in its batch; returns (completed, batch record)."""
        batch = self.table.update_item(
            Key={"pk": _pk(job), "sk": f"BATCH#{iteration:05d}"},
            UpdateExpression="ADD completed :one", ExpressionAttributeValues={":one": 1},
            ReturnValues="ALL_NEW",
        )["Attributes"]
        return int(batch["completed"]), batch
