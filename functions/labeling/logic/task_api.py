"""The workers' task API (docs/task-api.md): what each route does, apart from HTTP.

The handler (handlers/task_api.py) hands each request here with the worker the token names;
DynamoDB, S3 and Step Functions are reached through labeling.dal only. `now` is epoch ms.

- claim leases the next task of a job's open batch (logic/leases.py): the task the worker
  holds already, else one from the OpenTasks index with a place free for them, tried with
  a conditional update, starting at a random place of the batch's fixed shuffle. Tasks the
  worker released come last. A task found with all its answers but not complete (the call
  that counted its last answer stopped early) is completed on the way, so nobody's retry is
  needed for the batch to finish.
- answer validates, checks the lease, stages the answer in S3, counts it (one transaction),
  publishes it as a Ground Truth worker response, and when it completes the task and the
  batch, resumes the workflow once (`_settle`). Every step after the count is idempotent and
  is done again by the worker's retry (a duplicate) or by any claim that finds the task full.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from labeling.dal import s3, workflow
from labeling.dal.tasks import (
    OPEN,
    AlreadyAnsweredError,
    HumanTaskStore,
    TaskNotOpenError,
    answer_attribute,
    batch_answers_attribute,
    parse_task_id,
    task_id,
)
from labeling.dal.worker_responses import WorkerResponses
from labeling.layout import JobLayout, split_s3_uri
from labeling.logic import leases
from labeling.logic.label_kinds import AnswerError, labels_of
from labeling.logic.leases import Lease
from labeling.logic.worker_answers import worker_metadata
from labeling.models.task_api import (
    AnswerReply,
    AnswerRequest,
    BatchProgress,
    ClaimReply,
    JobsReply,
    JobSummary,
    Progress,
    ReleaseReply,
    Task,
    TaskItem,
)
from labeling.observability import logger

# How long an image URL in a claim works (the page loads the image at once; a reload gets a new one).
PRESIGNED_URL_SECONDS = 900
# A claim reads the open-task index this many tasks a page, and at most this many pages: a
# worker who can take none of them gets {"task": null} and asks again later, from elsewhere.
CLAIM_PAGE_SIZE = 50
CLAIM_MAX_PAGES = 20
# Tries on one task whose version changed under a claim (another worker leased or answered it).
CLAIM_TRIES_PER_TASK = 3


class ApiError(Exception):
    status = 500

    def __init__(self, message: str, reason: str | None = None):
        super().__init__(message)
        self.message, self.reason = message, reason

    def body(self) -> dict[str, str]:
        return {"message": self.message, **({"reason": self.reason} if self.reason else {})}


class NotFoundError(ApiError):
    status = 404


class InvalidAnswerError(ApiError):
    status = 400


class RefusedError(ApiError):
    """409: the answer can no longer count; `reason` says why (docs/task-api.md)."""

    status = 409


class TaskApi:
    def __init__(self, store: HumanTaskStore, now: int):
        self.store, self.now = store, now

    # -------------------------------------------------------------- jobs ----
    def jobs(self, worker_id: str) -> JobsReply:
        """The jobs whose open batch has tasks this worker could take (about; a claim decides)."""
        active = self.store.active_jobs()
        batches, workers = self.store.batches_and_workers(
            [(a["job"], int(a["iteration"])) for a in active], worker_id)
        summaries = []
        for entry in active:
            job, iteration = entry["job"], int(entry["iteration"])
            batch = batches.get(job)
            if batch is None or batch.get("runId") != entry["runId"] or not self._available(batch):
                continue
            total = int(batch["total"])
            mine = int(workers.get(job, {}).get(batch_answers_attribute(batch["runId"], iteration), 0))
            open_tasks = min(total - int(batch["completed"]), total - mine)
            if open_tasks > 0:
                summaries.append(JobSummary(job=job, taskType=batch["taskType"], labels=list(batch["labels"]),
                                            instructions=batch["instructions"], openTasks=open_tasks))
        return JobsReply(jobs=sorted(summaries, key=lambda s: s.job))

    # ------------------------------------------------------------- claim ----
    def claim(self, job: str, worker_id: str) -> ClaimReply:
        active = self.store.active_job(job)
        if active is None:
            self._latest_batch(job)  # 404 for a job that never had a batch
            return ClaimReply(task=None)  # between batches, or done
        iteration = int(active["iteration"])
        batch = self.store.batch(job, iteration)
        if batch is None or batch.get("runId") != active["runId"] or not self._available(batch):
            return ClaimReply(task=None)
        needed = int(batch["answersNeeded"])
        record = self.store.worker(job, worker_id)
        held = record.get("lease")
        later = {str(t) for t in record.get("skipped", [])}
        if held and int(held["iteration"]) == iteration:
            task = self.store.task(job, held["taskId"])
            lease = leases.live_lease(task, worker_id, self.now) if task else None
            if task and task.get("status") == OPEN and lease and lease.accepted_at == int(held["acceptedAt"]):
                return ClaimReply(task=self._task(job, batch, task, lease, worker_id, record))  # a reload
            later.add(str(held["taskId"]))  # it expired: another task first
        deferred = []
        candidates = self.store.open_candidates(job, iteration, page_size=CLAIM_PAGE_SIZE, max_pages=CLAIM_MAX_PAGES)
        for candidate in candidates:
            if task_id(iteration, int(candidate["itemId"])) in later:
                deferred.append(candidate)
                continue
            leased = self._try_lease(job, batch, candidate, worker_id, needed)
            if leased:
                return ClaimReply(task=self._task(job, batch, *leased, worker_id, record))
        for candidate in deferred:
            leased = self._try_lease(job, batch, candidate, worker_id, needed)
            if leased:
                return ClaimReply(task=self._task(job, batch, *leased, worker_id, record))
        return ClaimReply(task=None)

    def _try_lease(self, job: str, batch: dict[str, Any], candidate: dict[str, Any], worker_id: str, needed: int,
                   ) -> tuple[dict[str, Any], Lease] | None:
        iteration = int(batch["iteration"])
        tid = task_id(iteration, int(candidate["itemId"]))
        fresh = False
        for _ in range(CLAIM_TRIES_PER_TASK):
            if leases.answered_by(candidate, worker_id):
                return None
            own = leases.live_lease(candidate, worker_id, self.now)
            if own is not None:  # theirs already (the note of what they hold was lost)
                task = candidate if fresh else self.store.task(job, tid)
                if task is None or leases.live_lease(task, worker_id, self.now) != own:
                    return None
                self.store.hold(job, worker_id, iteration, tid, own)
                return task, own
            if int(candidate.get("answers", 0)) >= needed:
                self._finish_full(job, batch, tid)
                return None
            if leases.free_places(candidate, needed, self.now, worker_id) <= 0:
                return None
            lease = leases.new_lease(self.now, int(batch["timeLimitSeconds"]), int(batch["availableUntil"]))
            expired = leases.expired_holders(candidate, self.now, worker_id)
            if self.store.lease(job, candidate, worker_id, lease, expired):
                task = self.store.task(job, tid)
                if task is None:
                    return None
                self.store.hold(job, worker_id, iteration, tid, lease)
                return task, lease
            changed = self.store.task(job, tid)  # changed since the index had it: read it and try again
            fresh = True
            if changed is None or changed.get("status") != OPEN:
                return None
            candidate = changed
        return None

    def _finish_full(self, job: str, batch: dict[str, Any], tid: str) -> None:
        """Complete a task that has its answers but is still open (its last counting call stopped early)."""
        task = self.store.task(job, tid)
        if task is None or task.get("status") != OPEN:
            return
        try:
            self._settle(job, batch, task)
            logger.warning("completed a task left open after its last answer", extra={"job": job, "taskId": tid})
        except Exception:  # the claim goes on; the next claim or the worker's retry tries again
            logger.exception("could not complete a task left open", extra={"job": job, "taskId": tid})

    def _task(self, job: str, batch: dict[str, Any], task: dict[str, Any], lease: Lease, worker_id: str,
              record: Mapping[str, Any]) -> Task:
        data = task.get("data")
        if data is None:
            data = s3.read_json(batch["bucket"], task["dataKey"])
        if "source-ref" in data:
            bucket, key = split_s3_uri(data["source-ref"])
            item = TaskItem(imageUrl=s3.presigned_get_url(bucket, key, PRESIGNED_URL_SECONDS))
        else:
            item = TaskItem(text=data["source"])
        return Task(
            taskId=task_id(int(batch["iteration"]), int(task["itemId"])), job=job, taskType=batch["taskType"],
            labels=list(batch["labels"]), instructions=batch["instructions"], item=item,
            acceptedAt=leases.iso(lease.accepted_at), leaseExpiresAt=leases.iso(lease.expires_at),
            progress=self._progress(batch, record),
        )

    # ------------------------------------------------------------ answer ----
    def answer(self, job: str, tid: str, worker_id: str, claims: Mapping[str, Any], body: Any) -> AnswerReply:
        iteration, item_id = self._parse(job, tid)
        batch = self._batch(job, iteration, tid)
        task = self._task_record(job, tid)
        content = self._valid_answer(batch, body)
        needed = int(batch["answersNeeded"])
        responses = WorkerResponses(batch["bucket"], JobLayout(batch["jobPrefix"]), iteration, item_id)
        if leases.answered_by(task, worker_id):
            return self._duplicate(job, batch, task, worker_id, responses)
        lease = self._lease_or_refuse(job, batch, task, worker_id)
        submission = uuid.uuid4().hex
        staged = {
            "taskId": tid, "itemId": item_id, "workerId": worker_id, "answerContent": content,
            "workerMetadata": worker_metadata(claims), "receivedAt": leases.iso(self.now), "submissionId": submission,
        }
        responses.stage(worker_id, submission, staged)
        try:
            task = self.store.record_answer(
                job=job, task=tid, worker_id=worker_id, lease=lease, answers_needed=needed,
                submission_id=submission, submitted_at=self.now, run_id=batch["runId"],
            )
        except AlreadyAnsweredError as already:  # a retry of this same answer got there first
            return self._duplicate(job, batch, already.task, worker_id, responses)
        except TaskNotOpenError as refused:
            raise self._refusal(job, tid, refused.reason, str(refused)) from None
        responses.publish(worker_id, task[answer_attribute(worker_id)], staged)
        task_done, batch_done = self._settle(job, batch, task)
        return AnswerReply(duplicate=False, taskDone=task_done, batchDone=batch_done,
                           progress=self._progress(self._fresh(job, iteration), self.store.worker(job, worker_id)))

    def _valid_answer(self, batch: dict[str, Any], body: Any) -> dict[str, Any]:
        kind = labels_of(batch["taskType"])
        labels = list(batch["labels"])
        try:
            request = AnswerRequest.model_validate(body if body is not None else {})
        except ValidationError as error:
            problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in error.errors())
            raise InvalidAnswerError(f"{problems}. {_what_to_send(kind.name, labels)}") from None
        drawn = request.bounding_box.model_dump(by_alias=True) if request.bounding_box else None
        try:
            kind.answer(request.label, drawn, labels)
        except AnswerError as error:
            raise InvalidAnswerError(str(error)) from None
        return request.content()

    def _lease_or_refuse(self, job: str, batch: dict[str, Any], task: dict[str, Any], worker_id: str) -> Lease:
        tid = task_id(int(batch["iteration"]), int(task["itemId"]))
        if task.get("status") != OPEN or int(task["answers"]) >= int(batch["answersNeeded"]):
            raise self._refusal(job, tid, "task-done", "")
        lease = leases.leases_of(task).get(worker_id)
        if lease is not None and lease.live(self.now):
            return lease
        if lease is None:
            held = self.store.worker(job, worker_id).get("lease")
            if not held or held.get("taskId") != tid:
                raise self._refusal(job, tid, "not-claimed", "")
        raise self._refusal(job, tid, "lease-expired", "")

    def _refusal(self, job: str, tid: str, reason: str, detail: str) -> ApiError:
        iteration, _ = parse_task_id(tid)
        if reason == "not-found":
            return NotFoundError(f"job {job} has no task {tid}")
        if reason == "task-done":
            batch = self.store.batch(job, iteration, consistent=True) or {}
            if batch and int(batch["completed"]) >= int(batch["total"]):
                return RefusedError(f"the batch of task {tid} is complete: every task has its answers; this late "
                                    "answer is not counted and not used", "batch-complete")
            return RefusedError(f"task {tid} already has all its answers; this late answer is not counted and not "
                                "used; claim another task", "task-done")
        if reason == "lease-expired":
            return RefusedError(f"your time on task {tid} ran out (the job's TaskTimeLimitInSeconds) and it went back "
                                "to the pool; this answer is not counted; claim a task again", "lease-expired")
        if reason == "not-claimed":
            return RefusedError(f"you do not hold task {tid}: claim a task first (POST /api/jobs/{job}/claim); this "
                                "answer is not counted", "not-claimed")
        return RefusedError(detail or f"task {tid} takes no answer from you", reason)

    def _duplicate(self, job: str, batch: dict[str, Any], task: dict[str, Any], worker_id: str,
                   responses: WorkerResponses) -> AnswerReply:
        """A worker's answer to a task they answered already: nothing new counts; what the first call
        left undone (publishing, completing, resuming) is finished, so retrying until a reply comes is safe."""
        tid = task_id(int(batch["iteration"]), int(task["itemId"]))
        if responses.publish(worker_id, task[answer_attribute(worker_id)]):
            logger.warning("published a counted answer its own call had not", extra={"job": job, "taskId": tid})
        task_done, batch_done = self._settle(job, batch, task)
        return AnswerReply(
            duplicate=True, taskDone=task_done, batchDone=batch_done,
            message=(f"you answered task {tid} already; that answer is kept and counted once, and this one is "
                     "not used"),
            progress=self._progress(self._fresh(job, int(batch["iteration"])), self.store.worker(job, worker_id)),
        )

    def _settle(self, job: str, batch: dict[str, Any], task: dict[str, Any]) -> tuple[bool, bool]:
        """Complete the task once it has all its answers, and its batch once every task is; (task, batch) done.

        Every counted answer of the task is published before the task is complete (so a complete
        batch has all its worker responses, whichever call stopped where). Each step is
        idempotent: the task is counted in its batch once (a transaction), and one caller at a
        time claims the batch's resumption (dal/tasks.py), so the workflow is resumed once.
        """
        iteration, needed = int(batch["iteration"]), int(batch["answersNeeded"])
        if int(task["answers"]) < needed:
            return False, False
        tid = task_id(iteration, int(task["itemId"]))
        responses = WorkerResponses(batch["bucket"], JobLayout(batch["jobPrefix"]), iteration, int(task["itemId"]))
        for worker in sorted(task.get("workers", set())):
            responses.publish(worker, task[answer_attribute(worker)])
        if task.get("status") == OPEN:
            self.store.complete_task(job, iteration, tid, needed)
        current = resume_once_complete(self.store, job, iteration)
        return True, int(current["completed"]) >= int(current["total"])

    # ----------------------------------------------------------- release ----
    def release(self, job: str, tid: str, worker_id: str) -> ReleaseReply:
        iteration, _ = self._parse(job, tid)
        self._batch(job, iteration, tid)
        task = self._task_record(job, tid)
        lease = leases.leases_of(task).get(worker_id)
        if lease is None or not lease.live(self.now) or leases.answered_by(task, worker_id):
            return ReleaseReply(released=False, reason="not-claimed")
        released = self.store.release(job, tid, worker_id, lease.accepted_at)
        skipped = [t for t in self.store.worker(job, worker_id).get("skipped", []) if t != tid] + [tid]
        self.store.forget_hold(job, worker_id, tid, skipped)
        return ReleaseReply(released=released, reason=None if released else "not-claimed")

    # ---------------------------------------------------------- progress ----
    def progress(self, job: str, worker_id: str) -> Progress:
        active = self.store.active_job(job)
        batch = self.store.batch(job, int(active["iteration"])) if active else None
        if batch is None:
            batch = self._latest_batch(job)
        return self._progress(batch, self.store.worker(job, worker_id))

    def _progress(self, batch: Mapping[str, Any], record: Mapping[str, Any]) -> Progress:
        return Progress(mine=int(record.get("answers", 0)), batch=BatchProgress(
            iteration=int(batch["iteration"]), done=int(batch["completed"]), total=int(batch["total"])))

    # ----------------------------------------------------------- lookups ----
    def _available(self, batch: Mapping[str, Any]) -> bool:
        return "publishedAt" in batch and self.now < int(batch["availableUntil"])

    def _parse(self, job: str, tid: str) -> tuple[int, int]:
        try:
            return parse_task_id(tid)
        except ValueError:
            raise NotFoundError(f"job {job} has no task {tid!r}: task ids look like 00000-000000042") from None

    def _batch(self, job: str, iteration: int, tid: str) -> dict[str, Any]:
        batch = self.store.batch(job, iteration)
        if batch is None or "publishedAt" not in batch:
            raise NotFoundError(f"job {job} has no task {tid}")
        return batch

    def _fresh(self, job: str, iteration: int) -> dict[str, Any]:
        return self.store.batch(job, iteration) or {}

    def _task_record(self, job: str, tid: str) -> dict[str, Any]:
        task = self.store.task(job, tid)
        if task is None:
            raise NotFoundError(f"job {job} has no task {tid}")
        return task

    def _latest_batch(self, job: str) -> dict[str, Any]:
        batch = self.store.latest_batch(job)
        if batch is None:
            raise NotFoundError(f"job {job} has no tasks: no such job, or none of its items has been sent to "
                                "workers yet")
        return batch


def _what_to_send(kind: str, labels: list[str]) -> str:
    if kind == "bounding-box":
        return ('Send {"boundingBox": {"boundingBoxes": [{"label", "left", "top", "width", "height"}, ...], '
                '"inputImageProperties": {"width", "height"}}} with labels from ' + str(labels))
    return 'Send {"label": "<class>"} with a class from ' + str(labels)


def resume_once_complete(store: HumanTaskStore, job: str, iteration: int) -> dict[str, Any]:
    """Resume the workflow waiting on a batch once its tasks are all complete, exactly once
    (dal/tasks.py's claim); returns the batch record. Called by whoever may have completed it:
    the answer that completed the last task, and PublishHumanTasks for a batch a resumed run
    finds complete already."""
    current, claimed = store.claim_resume(job, iteration, int(time.time()))
    if claimed:
        completed = int(current["completed"])
        if workflow.resume(current["token"], {"iteration": iteration, "tasks": completed}):
            logger.info("human batch complete", extra={"job": job, "iteration": iteration})
        else:
            logger.warning("human batch complete, but the workflow no longer waits on it",
                           extra={"job": job, "iteration": iteration})
        store.mark_resumed(job, iteration, current["runId"], int(time.time()))
    return current
