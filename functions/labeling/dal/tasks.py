"""Human tasks in DynamoDB (the table of labeling/task_table.py).

Records, pk / sk:
- JOB#<job> / BATCH#<iteration>: a published batch: the Step Functions task token that
  HumanLabeling waits on, `completed` tasks of `total`, what a worker is shown (`taskType`,
  `labels`, `instructions`), `answersNeeded`, `timeLimitSeconds` (a lease's length),
  `availableUntil` (epoch ms: no claim after it), `runId`, `publishedAt` once every task is
  written, and `resumeClaimedAt` / `resumedAt` once its tasks are all complete.
- JOB#<job> / TASK#<iteration>#<item id>: an item: `status` (open, done), `answers` counted,
  the `workers` who gave them, `answer#<worker>` = {"submission", "acceptedAt", "submittedAt"}
  for each counted answer (the staged submission counted and the times its worker-response
  file is named and written with), `leases` = {worker: {"acceptedAt", "expiresAt"}},
  `version` (every change a claim depends on adds 1; a claim is conditional on it), the
  item's `data` ({"source"} or {"source-ref"}) or `dataKey` (an S3 key of the job's bucket
  holding it, when it is too large for the record), and, while the task needs answers, the
  OpenTasks index keys `openPk` = JOB#<job>#<iteration> and `openSk` = <shuffle>#<item id>.
- JOB#<job> / WORKER#<worker>: one worker in one job: `answers` counted in the job, and
  `answers#<run>#<iteration>` in each batch; `lease` = {"iteration", "taskId", "acceptedAt",
  "expiresAt"}, the task they hold (a page reload gets it back), and `skipped`, the tasks
  they released lately (offered again only when nothing else is open for them).
- ACTIVE / JOB#<job>: a job whose batch is published and not yet resumed (GET /api/jobs
  lists them without reading any task): `iteration`, `runId`, what a worker is shown.

Task ids, as the API names them: "<iteration:05d>-<item id:09d>".
"""

from __future__ import annotations

import random
import re
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from decimal import Decimal
from typing import Any

import boto3
from boto3.dynamodb.conditions import Key
from botocore.exceptions import ClientError

from labeling.logic.leases import Lease, shuffle_rank
from labeling.task_table import OPEN_PARTITION_KEY, OPEN_SORT_KEY, OPEN_TASKS_INDEX

OPEN, DONE = "open", "done"
ACTIVE_PK = "ACTIVE"

# Longer than the task API's timeout (infra/constructs/human_tasks.py, 30 s): a claim this old
# is one whose holder stopped before it resumed the workflow.
RESUME_CLAIM_SECONDS = 120
# Transactions that DynamoDB cancels because another one holds the same item are sent again.
TRANSACTION_ATTEMPTS = 5
# Tasks the worker released that a claim offers only when nothing else is open for them.
SKIPPED_KEPT = 20

TASK_ID = re.compile(r"^(\d{5})-(\d{9})$")


class TaskNotOpenError(ValueError):
    """The task takes no more answers; `reason`: "not-found", "task-done", "lease-expired", "not-claimed"."""

    def __init__(self, message: str, reason: str = "task-done"):
        super().__init__(message)
        self.reason = reason


class AlreadyAnsweredError(TaskNotOpenError):
    """This worker's answer to the task is counted already; `task` is the task record."""

    def __init__(self, task: dict[str, Any]):
        super().__init__(f"{task_id_of(task)} is answered by this worker already", "duplicate")
        self.task = task


_local = threading.local()


def _table(name: str) -> Any:
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
    iteration, item_id = parse_task_id(task)
    return {"pk": _pk(job), "sk": f"TASK#{iteration:05d}#{item_id:09d}"}


def _worker_key(job: str, worker_id: str) -> dict[str, str]:
    return {"pk": _pk(job), "sk": f"WORKER#{worker_id}"}


def _active_key(job: str) -> dict[str, str]:
    return {"pk": ACTIVE_PK, "sk": f"JOB#{job}"}


def open_partition(job: str, iteration: int) -> str:
    return f"JOB#{job}#{iteration:05d}"


def answer_attribute(worker_id: str) -> str:
    """The task record's attribute describing this worker's counted answer."""
    return f"answer#{worker_id}"


def batch_answers_attribute(run_id: str, iteration: int) -> str:
    """The worker record's count of this worker's answers in one batch of one run."""
    return f"answers#{run_id}#{iteration:05d}"


def task_id(iteration: int, item_id: int) -> str:
    return f"{iteration:05d}-{item_id:09d}"


def parse_task_id(value: str) -> tuple[int, int]:
    """(iteration, item id) of a task id; ValueError when it is not one."""
    match = TASK_ID.match(value)
    if not match:
        raise ValueError(f"{value!r} is not a task id (<iteration:5 digits>-<item id:9 digits>)")
    return int(match[1]), int(match[2])


def task_id_of(task: dict[str, Any]) -> str:
    _, iteration, item_id = task["sk"].split("#")
    return task_id(int(iteration), int(item_id))


def plain(value: Any) -> Any:
    """DynamoDB's Decimals and sets as JSON's numbers and lists."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted(plain(v) for v in value)
    return value


def _failed_condition(error: ClientError) -> bool:
    return error.response["Error"]["Code"] == "ConditionalCheckFailedException"


class HumanTaskStore:
    def __init__(self, table_name: str):
        self.table = _table(table_name)

    # ------------------------------------------------------------ publish ----
    def publish_batch(
        self, *, job: str, iteration: int, run_id: str, token: str, label_names: list[str], answers_needed: int,
        task_type: str, instructions: str, time_limit_seconds: int, available_until: int, bucket: str,
        job_prefix: str, tasks: Iterable[dict[str, Any]], total: int, now: int,
        answered: Mapping[int, Mapping[str, Mapping[str, Any]]] | None = None,
    ) -> bool:
        """Publish a batch; False when this run's batch was published already (only its token is renewed).

        `tasks`: {"id", and "data" or "dataKey"} per item. Workers see the batch only once the
        active-job record is written, after every task: a retry of a publish that stopped
        halfway rewrites tasks nobody could have claimed yet. A batch of this run published
        already keeps its tasks and answers, and waits on the new token (a resumed run: the
        batch is resumed again, with that token, once it is complete).

        `answered`: item id -> worker id -> counted answer, the answers already published for
        this iteration (dal/worker_responses.published_answers): a resumed run whose task
        records are gone counts them, so no worker is asked an item twice and a fully answered
        item is done at once.
        """
        existing = self.batch(job, iteration, consistent=True)
        if existing is not None and existing.get("runId") == run_id and "publishedAt" in existing:
            self.table.update_item(Key=_batch_key(job, iteration),
                                   UpdateExpression="SET #token = :token REMOVE resumeClaimedAt, resumedAt",
                                   ExpressionAttributeNames={"#token": "token"},
                                   ExpressionAttributeValues={":token": token})
            self._put_active(job, existing)
            return False
        answered = answered or {}
        batch = {
            **_batch_key(job, iteration), "token": token, "total": total, "completed": 0,
            "answersNeeded": answers_needed, "labels": label_names, "taskType": task_type,
            "instructions": instructions, "timeLimitSeconds": time_limit_seconds, "availableUntil": available_until,
            "bucket": bucket, "jobPrefix": job_prefix, "runId": run_id, "iteration": iteration,
        }
        self.table.put_item(Item=batch)
        count = done = 0
        with self.table.batch_writer() as writer:
            for task in tasks:
                item_id = int(task["id"])
                given = answered.get(item_id, {})
                record = {
                    **_task_key(job, task_id(iteration, item_id)), "status": OPEN, "answers": len(given),
                    "itemId": item_id, "leases": {}, "version": 0,
                    **({"workers": set(given)} if given else {}),  # DynamoDB has no empty sets
                    **{answer_attribute(worker): dict(counted) for worker, counted in given.items()},
                }
                if len(given) >= answers_needed:
                    record["status"] = DONE
                    done += 1
                else:
                    record[OPEN_PARTITION_KEY] = open_partition(job, iteration)
                    record[OPEN_SORT_KEY] = f"{shuffle_rank(job, iteration, item_id)}#{item_id:09d}"
                if "dataKey" in task:
                    record["dataKey"] = task["dataKey"]
                else:
                    record["data"] = task["data"]
                writer.put_item(Item=record)
                count += 1
        if count != total:
            raise ValueError(f"batch {iteration} of job {job} has {count} items, the state says {total}")
        # Nobody has claimed a task yet (the batch is not active), so `completed` is the done ones.
        self.table.update_item(Key=_batch_key(job, iteration),
                               UpdateExpression="SET publishedAt = :now, completed = :done",
                               ExpressionAttributeValues={":now": now, ":done": done})
        self._put_active(job, batch)
        return True

    def _put_active(self, job: str, batch: dict[str, Any]) -> None:
        self.table.put_item(Item={
            **_active_key(job), "job": job, "iteration": batch["iteration"], "runId": batch["runId"],
            "taskType": batch["taskType"], "labels": batch["labels"], "instructions": batch["instructions"],
            "total": batch["total"], "availableUntil": batch["availableUntil"],
        })

    # -------------------------------------------------------------- reads ----
    def batch(self, job: str, iteration: int, *, consistent: bool = False) -> dict[str, Any] | None:
        return self.table.get_item(Key=_batch_key(job, iteration), ConsistentRead=consistent).get("Item")

    def latest_batch(self, job: str) -> dict[str, Any] | None:
        items = self.table.query(
            KeyConditionExpression=Key("pk").eq(_pk(job)) & Key("sk").begins_with("BATCH#"),
            ScanIndexForward=False, Limit=1,
        )["Items"]
        return items[0] if items else None

    def active_job(self, job: str) -> dict[str, Any] | None:
        return self.table.get_item(Key=_active_key(job)).get("Item")

    def active_jobs(self) -> list[dict[str, Any]]:
        query: dict[str, Any] = {"KeyConditionExpression": Key("pk").eq(ACTIVE_PK)}
        jobs: list[dict[str, Any]] = []
        while True:
            page = self.table.query(**query)
            jobs.extend(page["Items"])
            if "LastEvaluatedKey" not in page:
                return jobs
            query["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def batches_and_workers(self, pairs: list[tuple[str, int]], worker_id: str
                            ) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
        """({job: batch record}, {job: this worker's record}) of (job, iteration) pairs, in few reads."""
        keys = [_batch_key(job, k) for job, k in pairs] + [_worker_key(job, worker_id) for job, _ in pairs]
        found: list[dict[str, Any]] = []
        # The table resource's client takes and gives Python values (boto3's DynamoDB transformation).
        client = self.table.meta.client
        for start in range(0, len(keys), 100):
            request: dict[str, Any] = {self.table.name: {"Keys": keys[start:start + 100]}}
            for attempt in range(8):
                response = client.batch_get_item(RequestItems=request)
                found.extend(response["Responses"].get(self.table.name, []))
                request = response.get("UnprocessedKeys") or {}
                if not request:
                    break
                time.sleep(0.05 * 2 ** attempt)
        batches = {item["pk"].removeprefix("JOB#"): item for item in found if item["sk"].startswith("BATCH#")}
        workers = {item["pk"].removeprefix("JOB#"): item for item in found if item["sk"].startswith("WORKER#")}
        return batches, workers

    def task(self, job: str, task: str) -> dict[str, Any] | None:
        return self.table.get_item(Key=_task_key(job, task), ConsistentRead=True).get("Item")

    def worker(self, job: str, worker_id: str) -> dict[str, Any]:
        return self.table.get_item(Key=_worker_key(job, worker_id), ConsistentRead=True).get("Item") or {}

    def open_candidates(self, job: str, iteration: int, *, page_size: int, max_pages: int,
                        start: str | None = None) -> Iterator[dict[str, Any]]:
        """The batch's open tasks as the OpenTasks index has them (eventually consistent), from
        `start` (a random place of the shuffled order when None) round to it again, a page at a time."""
        start = start if start is not None else f"{random.getrandbits(32):08x}"
        pages = 0
        partition = Key(OPEN_PARTITION_KEY).eq(open_partition(job, iteration))
        for condition in (partition & Key(OPEN_SORT_KEY).gte(start), partition & Key(OPEN_SORT_KEY).lt(start)):
            query: dict[str, Any] = {"IndexName": OPEN_TASKS_INDEX, "KeyConditionExpression": condition,
                                     "Limit": page_size}
            while pages < max_pages:
                page = self.table.query(**query)
                pages += 1
                yield from page["Items"]
                if "LastEvaluatedKey" not in page:
                    break
                query["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    # ------------------------------------------------------------- leases ----
    def lease(self, job: str, task: dict[str, Any], worker_id: str, lease: Lease, expired: list[str]) -> bool:
        """Lease the task to the worker, if it is as `task` says (its version): True when leased.

        The version condition is the one decision point of a claim: two workers who read the
        task's last free place both try, and one of them finds the version changed.
        """
        names = {"#leases": "leases", "#w": worker_id, "#s": "status"}
        remove = []
        for number, holder in enumerate(expired):
            names[f"#x{number}"] = holder
            remove.append(f"#leases.#x{number}")
        try:
            self.table.update_item(
                Key={"pk": task["pk"], "sk": task["sk"]},
                UpdateExpression="SET #leases.#w = :lease ADD version :one" + (
                    " REMOVE " + ", ".join(remove) if remove else ""),
                ConditionExpression="version = :version AND #s = :open AND NOT contains(workers, :worker)",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues={":lease": lease.dump(), ":one": 1, ":version": task["version"],
                                           ":open": OPEN, ":worker": worker_id},
            )
        except ClientError as error:
            if _failed_condition(error):
                return False
            raise
        return True

    def hold(self, job: str, worker_id: str, iteration: int, task: str, lease: Lease) -> None:
        """Remember the task the worker holds, so that asking again gets it back."""
        self.table.update_item(
            Key=_worker_key(job, worker_id), UpdateExpression="SET #lease = :lease",
            ExpressionAttributeNames={"#lease": "lease"},
            ExpressionAttributeValues={":lease": {"iteration": iteration, "taskId": task, **lease.dump()}},
        )

    def release(self, job: str, task: str, worker_id: str, accepted_at: int) -> bool:
        """End the worker's lease on the task at once; False when they held none (this one)."""
        try:
            self.table.update_item(
                Key=_task_key(job, task), UpdateExpression="REMOVE #leases.#w ADD version :one",
                ConditionExpression="#leases.#w.acceptedAt = :accepted",
                ExpressionAttributeNames={"#leases": "leases", "#w": worker_id},
                ExpressionAttributeValues={":one": 1, ":accepted": accepted_at},
            )
        except ClientError as error:
            if _failed_condition(error):
                return False
            raise
        return True

    def forget_hold(self, job: str, worker_id: str, task: str, skipped: list[str]) -> None:
        """The worker holds no task any more; `skipped` is their list of released tasks, after this one."""
        try:
            self.table.update_item(
                Key=_worker_key(job, worker_id), UpdateExpression="SET skipped = :skipped REMOVE #lease",
                ConditionExpression="#lease.taskId = :task",
                ExpressionAttributeNames={"#lease": "lease"},
                ExpressionAttributeValues={":skipped": skipped[-SKIPPED_KEPT:], ":task": task},
            )
        except ClientError as error:
            if not _failed_condition(error):  # they hold another task meanwhile: only note the skip
                raise
            self.table.update_item(Key=_worker_key(job, worker_id), UpdateExpression="SET skipped = :skipped",
                                   ExpressionAttributeValues={":skipped": skipped[-SKIPPED_KEPT:]})

    # ------------------------------------------------------------ answers ----
    def record_answer(self, *, job: str, task: str, worker_id: str, lease: Lease, answers_needed: int,
                      submission_id: str, submitted_at: int, run_id: str) -> dict[str, Any]:
        """Count one worker's answer under the lease they hold; returns the task record after it.

        The one decision point: one transaction counts the answer at most once per worker and
        task, never beyond the answers the task needs, only under the worker's live lease (the
        one `lease` names), and adds it to the worker's counts. It names the staged submission
        and the times its worker-response file is written with. Raises AlreadyAnsweredError
        (holding the task record) when this worker's answer is counted already, and
        TaskNotOpenError otherwise (reason: not-found, task-done, lease-expired).
        """
        iteration, _ = parse_task_id(task)
        counted = {"submission": submission_id, "acceptedAt": lease.accepted_at, "submittedAt": submitted_at}
        try:
            self._transact([
                {"Update": {
                    "TableName": self.table.name, "Key": _task_key(job, task),
                    "UpdateExpression": ("ADD answers :one, workers :workers, version :one "
                                         "SET #answer = :counted REMOVE #leases.#w"),
                    "ConditionExpression": (
                        "attribute_exists(pk) AND #s = :open AND answers < :needed AND NOT contains(workers, :w) "
                        "AND #leases.#w.acceptedAt = :accepted AND #leases.#w.expiresAt > :now"),
                    "ExpressionAttributeNames": {"#s": "status", "#answer": answer_attribute(worker_id),
                                                 "#leases": "leases", "#w": worker_id},
                    "ExpressionAttributeValues": {
                        ":one": 1, ":workers": {worker_id}, ":w": worker_id, ":open": OPEN,
                        ":needed": answers_needed, ":counted": counted, ":accepted": lease.accepted_at,
                        ":now": submitted_at,
                    },
                }},
                {"Update": {
                    "TableName": self.table.name, "Key": _worker_key(job, worker_id),
                    "UpdateExpression": "ADD answers :one, #batch :one",
                    "ExpressionAttributeNames": {"#batch": batch_answers_attribute(run_id, iteration)},
                    "ExpressionAttributeValues": {":one": 1},
                }},
            ])
        except _Cancelled as cancelled:
            if cancelled.reasons[:1] != ["ConditionalCheckFailed"]:
                raise cancelled.error from None
            current = self.task(job, task)
            if current is None:
                raise TaskNotOpenError(f"task {task} of job {job} does not exist", "not-found") from None
            if worker_id in current.get("workers", set()):
                raise AlreadyAnsweredError(current) from None
            if current.get("status") != OPEN or int(current["answers"]) >= answers_needed:
                raise TaskNotOpenError(
                    f"task {task} of job {job} already has all its {answers_needed} answers; this late answer is "
                    "not counted and not used", "task-done") from None
            raise TaskNotOpenError(
                f"your time on task {task} of job {job} ran out, so it went back to the pool; this answer is not "
                "counted and not used", "lease-expired") from None
        current = self.task(job, task)
        assert current is not None
        return current

    def complete_task(self, job: str, iteration: int, task: str, answers_needed: int) -> bool:
        """Mark a task that has all its answers done, out of the open tasks, and counted in its
        batch: all or nothing, once.

        True when this call did it; False when it was done already. Safe to call again, so a
        resubmission (or a claim that finds the task full) finishes what a failed call left.
        """
        try:
            self._transact([
                {"Update": {
                    "TableName": self.table.name, "Key": _task_key(job, task),
                    "UpdateExpression": "SET #s = :done REMOVE #open_pk, #open_sk ADD version :one",
                    "ConditionExpression": "#s = :open AND answers >= :needed",
                    "ExpressionAttributeNames": {"#s": "status", "#open_pk": OPEN_PARTITION_KEY,
                                                 "#open_sk": OPEN_SORT_KEY},
                    "ExpressionAttributeValues": {":done": DONE, ":open": OPEN, ":needed": answers_needed,
                                                  ":one": 1},
                }},
                {"Update": {
                    "TableName": self.table.name, "Key": _batch_key(job, iteration),
                    "UpdateExpression": "ADD completed :one", "ConditionExpression": "attribute_exists(pk)",
                    "ExpressionAttributeValues": {":one": 1},
                }},
            ])
        except _Cancelled as cancelled:
            if cancelled.reasons[:1] == ["ConditionalCheckFailed"]:
                return False
            raise cancelled.error from None
        return True

    def _transact(self, items: list[dict[str, Any]]) -> None:
        client = self.table.meta.client
        for attempt in range(TRANSACTION_ATTEMPTS):
            try:
                client.transact_write_items(TransactItems=items)
                return
            except ClientError as error:
                if error.response["Error"]["Code"] != "TransactionCanceledException":
                    raise
                reasons = [r.get("Code", "None") for r in error.response.get("CancellationReasons", [])]
                if "TransactionConflict" not in reasons or attempt == TRANSACTION_ATTEMPTS - 1:
                    raise _Cancelled(error, reasons) from None
                time.sleep(random.uniform(0.01, 0.05) * 2 ** attempt)

    # ------------------------------------------------------------- resume ----
    def claim_resume(self, job: str, iteration: int, now: int) -> tuple[dict[str, Any], bool]:
        """Claim the right to resume the workflow on a batch whose tasks are all complete.

        Returns (batch record, claimed). One caller gets the claim; another gets it only
        when the batch is not marked resumed and the claim is older than RESUME_CLAIM_SECONDS
        (its holder failed before resuming). `now` is in seconds.
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
            if not _failed_condition(error):
                raise
            return self.batch(job, iteration, consistent=True) or {}, False
        return batch, True

    def mark_resumed(self, job: str, iteration: int, run_id: str, now: int) -> None:
        """The batch resumed its workflow: it is no longer an active job's (unless a later batch is)."""
        self.table.update_item(
            Key=_batch_key(job, iteration), UpdateExpression="SET resumedAt = :now",
            ExpressionAttributeValues={":now": now},
        )
        try:
            self.table.delete_item(
                Key=_active_key(job), ConditionExpression="iteration = :k AND runId = :run",
                ExpressionAttributeValues={":k": iteration, ":run": run_id},
            )
        except ClientError as error:
            if not _failed_condition(error):
                raise


class _Cancelled(Exception):
    def __init__(self, error: ClientError, reasons: list[str]):
        super().__init__(str(error))
        self.error, self.reasons = error, reasons
