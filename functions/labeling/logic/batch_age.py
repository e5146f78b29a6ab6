"""How long each job's human batch has waited for its workers, for the batch-age metric.

A batch waits from the moment its last task is written (the batch record's `publishedAt`) until
its tasks are all complete. Only the job's current batch counts (the human task table's
ACTIVE record names it): a batch of an earlier run of the job (another runId), one whose tasks
are all complete (it waits on the workflow, not on workers), and one past its
`availableUntil` (HumanLabeling has timed out into RecordFailure by then, and no worker can
claim its tasks) are not waiting for anyone.

A job stopped while its batch waits keeps that batch open to workers (their answers count when
the job is resumed), so its age goes on until the batch's TaskAvailabilityLifetimeInSeconds ends.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class WaitingBatch:
    job: str
    iteration: int
    age_seconds: float
    completed: int
    total: int


def waiting_batches(active: Iterable[Mapping[str, Any]], batches: Mapping[str, Mapping[str, Any] | None],
                    now_ms: int) -> list[WaitingBatch]:
    """The batches that wait for workers, oldest first.

    active: the table's ACTIVE records ({"job", "iteration", "runId"}); batches: job -> the batch
    record that its ACTIVE record names (None when it is gone); now_ms: epoch milliseconds.
    """
    waiting = []
    for entry in active:
        batch = batches.get(entry["job"])
        if batch is None or batch.get("runId") != entry["runId"] or "publishedAt" not in batch:
            continue
        completed, total = int(batch.get("completed", 0)), int(batch["total"])
        if completed >= total or now_ms >= int(batch["availableUntil"]):
            continue
        waiting.append(WaitingBatch(job=entry["job"], iteration=int(entry["iteration"]),
                                    age_seconds=max(0.0, (now_ms - int(batch["publishedAt"])) / 1000.0),
                                    completed=completed, total=total))
    return sorted(waiting, key=lambda batch: -batch.age_seconds)
