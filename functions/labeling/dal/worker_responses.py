"""Workers' answers in S3: each submission staged under a key of its own, the counted ones published.

A submission is first written to the job's `submissions/` folder, beside its output and not
in it (nothing reads it as an answer and the output folder keeps Ground Truth's layout):
`<job>/submissions/iteration-K/<item id>/<worker id>.<submission id>.json`, a key no other
submission has. Once DynamoDB has counted one (labeling.dal.tasks names it, with the times
of its lease and its count, on the task record), it is published where ConsolidateAnnotations
reads answers, in Ground Truth's worker-response shape (labeling.logic.worker_answers), under
a name made of those times, with a write that cannot overwrite (If-None-Match: *). Nothing here
deletes or replaces an answer: a resubmission or a late answer is a staged file nobody publishes.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from itertools import islice
from typing import Any

from labeling.dal import s3
from labeling.layout import JobLayout
from labeling.logic import worker_answers
from labeling.logic.leases import from_iso


class WorkerResponses:
    """The answers to one item of a job's iteration."""

    def __init__(self, bucket: str, layout: JobLayout, iteration: int, item_id: int):
        self.bucket, self.layout, self.iteration, self.item_id = bucket, layout, iteration, item_id

    def staged_key(self, worker_id: str, submission_id: str) -> str:
        return self.layout.submissions(self.iteration, self.item_id) + f"{worker_id}.{submission_id}.json"

    def published_key(self, worker_id: str, submitted_at: int) -> str:
        return self.layout.worker_response(self.iteration, self.item_id,
                                           worker_answers.file_name(submitted_at, worker_id))

    def stage(self, worker_id: str, submission_id: str, record: dict[str, Any]) -> None:
        """Store a submission before anything counts it (paid work is kept whatever happens next)."""
        if not s3.write_json_if_absent(self.bucket, self.staged_key(worker_id, submission_id), record):
            raise RuntimeError(f"submission {submission_id} is staged already; submission ids must be new")

    def publish(self, worker_id: str, counted: Mapping[str, Any], staged: Mapping[str, Any] | None = None) -> bool:
        """Publish a counted answer (`counted`: the task record's {"submission", "acceptedAt",
        "submittedAt"}) in Ground Truth's shape; False when it is published already.

        `staged` is the staged submission when the caller has it; otherwise it is read.
        """
        if counted.get("published"):  # counted from its published file (published_answers)
            return False
        key = self.published_key(worker_id, int(counted["submittedAt"]))
        if staged is None:
            staged = s3.read_json_if_present(self.bucket, self.staged_key(worker_id, str(counted["submission"])))
            if staged is None:
                raise RuntimeError(f"the counted submission {counted['submission']} of worker {worker_id} to item "
                                   f"{self.item_id} of iteration {self.iteration} is not staged")
        record = worker_answers.response_record(
            answer_content=staged["answerContent"], worker_id=worker_id, worker_metadata=staged["workerMetadata"],
            accepted_at=int(counted["acceptedAt"]), submitted_at=int(counted["submittedAt"]),
        )
        return s3.write_json_if_absent(self.bucket, key, record)


def response_keys(bucket: str, layout: JobLayout, iteration: int) -> dict[int, list[str]]:
    """item id -> the keys of its published worker responses in the iteration, in order: one
    paginated LIST of the iteration's folder (1,000 keys a page), not one per item."""
    prefix = layout.worker_response_prefix(iteration)
    keys: dict[int, list[str]] = {}
    for key in s3.list_keys(bucket, prefix):
        keys.setdefault(int(key[len(prefix):].split("/", 1)[0]), []).append(key)
    return {item: sorted(some) for item, some in keys.items()}


# Items whose responses are read at once by batch_answers (their GETs run concurrently).
ANSWER_READ_GROUP = 256


def batch_answers(bucket: str, layout: JobLayout, iteration: int, items: Iterable[dict[str, Any]]
                  ) -> Iterator[tuple[dict[str, Any], dict[str, dict[str, Any]]]]:
    """Each batch item with worker id -> answerContent of its published responses (ConsolidateAnnotations),
    in the items' order.

    The iteration's responses are listed once (response_keys) and read concurrently, a group of
    items at a time: a batch of 10,000 items is 10 LISTs and its GETs, not 10,000 LISTs and GETs
    one after the other.
    """
    keys = response_keys(bucket, layout, iteration)

    def answered(group: list[dict[str, Any]]) -> Iterator[tuple[dict[str, Any], dict[str, dict[str, Any]]]]:
        item_keys = [keys.get(int(item["id"]), []) for item in group]
        records = iter(s3.read_json_many(bucket, [key for some in item_keys for key in some]))
        for item, some in zip(group, item_keys, strict=True):
            yield item, worker_answers.answers_by_worker([next(records) for _ in some])

    items = iter(items)
    while group := list(islice(items, ANSWER_READ_GROUP)):
        yield from answered(group)


def published_answers(bucket: str, layout: JobLayout, iteration: int) -> dict[int, dict[str, dict[str, Any]]]:
    """item id -> worker id -> the answer as a task record counts it ({"acceptedAt", "submittedAt",
    "published": True}), for every worker response published in the iteration.

    A batch published again (a resumed run whose task records are gone) starts from these, so an
    answer given before the run stopped is counted, and its worker is not asked again. One LIST
    of the iteration's folder, and the answers found read concurrently (none, unless the batch was
    answered).
    """
    keys = response_keys(bucket, layout, iteration)
    records = iter(s3.read_json_many(bucket, [key for some in keys.values() for key in some]))
    found: dict[int, dict[str, dict[str, Any]]] = {}
    for item_id, some in keys.items():
        answers = worker_answers.first_answers([next(records) for _ in some])
        found[item_id] = {worker: {"acceptedAt": from_iso(answer["acceptanceTime"]),
                                   "submittedAt": from_iso(answer["submissionTime"]), "published": True}
                          for worker, answer in answers.items()}
    return found
