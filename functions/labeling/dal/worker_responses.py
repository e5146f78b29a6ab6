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

from collections.abc import Mapping
from typing import Any

from labeling.dal import s3
from labeling.layout import JobLayout
from labeling.logic import worker_answers


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


def item_answers(bucket: str, layout: JobLayout, iteration: int, item_id: int) -> dict[str, dict[str, Any]]:
    """worker id -> answerContent of the item's published worker responses (ConsolidateAnnotations)."""
    prefix = layout.worker_response_prefix(iteration) + f"{item_id}/"
    return worker_answers.answers_by_worker(s3.read_json(bucket, key) for key in sorted(s3.list_keys(bucket, prefix)))
