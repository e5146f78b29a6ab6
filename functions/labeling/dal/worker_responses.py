"""Workers' answers in S3: each submission staged under a key of its own, the counted one published.

A submission is first written to the job's `submissions/` folder, beside its output and not
in it (nothing reads it as an answer and the output folder keeps Ground Truth's layout):
`<job>/submissions/iteration-K/<item id>/<worker id>.<submission id>.json`, a key no other
submission has. The one DynamoDB counts (labeling.dal.tasks names it on the task record) is
then published where ConsolidateAnnotations reads answers, `layout.worker_response`, with a
write that cannot overwrite (If-None-Match: *). Nothing here deletes or replaces an answer:
a resubmission or a late answer is a staged file that nobody publishes.
"""

from __future__ import annotations

from typing import Any

from labeling.dal import s3
from labeling.layout import JobLayout


class WorkerResponses:
    """One worker's answers to one item of a job's iteration."""

    def __init__(self, bucket: str, layout: JobLayout, iteration: int, item_id: int, worker_id: str):
        self.bucket = bucket
        self.key = layout.worker_response(iteration, item_id, worker_id)  # what ConsolidateAnnotations reads
        self._staged_prefix = layout.prefix + f"submissions/{layout.iteration(iteration)}/{item_id}/{worker_id}."

    def staged_key(self, submission_id: str) -> str:
        return self._staged_prefix + f"{submission_id}.json"

    def stage(self, submission_id: str, record: dict[str, Any]) -> None:
        """Store a submission before anything counts it (paid work is kept whatever happens next)."""
        if not s3.write_json_if_absent(self.bucket, self.staged_key(submission_id), record):
            raise RuntimeError(f"submission {submission_id} is staged already; submission ids must be new")

    def publish(self, record: dict[str, Any]) -> bool:
        """Put the counted answer where ConsolidateAnnotations reads it; False when it is there already."""
        return s3.write_json_if_absent(self.bucket, self.key, record)

    def publish_staged(self, submission_id: str) -> bool:
        """Publish the staged submission `submission_id` unless an answer is published already.

        For a resubmission: the counted submission's own publish may not have happened (the
        call that counted it failed after counting), and this puts it where it belongs.
        """
        record = s3.read_json_if_present(self.bucket, self.staged_key(submission_id))
        return record is not None and self.publish(record)
