"""Leases on human tasks: who may answer a task, until when, and how many may at once.

A claim leases a task to one worker for the job's TaskTimeLimitInSeconds (never past the
batch's TaskAvailabilityLifetimeInSeconds). The task record keeps its leases as a map,
worker id -> {"acceptedAt", "expiresAt"} in epoch milliseconds. A task that needs N answers
and has `answers` of them takes at most N - answers live leases: the answers already counted
and the leases still running fill its N places, and an expired lease frees its place (the
task returns to the pool). A worker whose answer is counted never holds a lease on it again.

Times are epoch milliseconds; Ground Truth's worker responses write them as
`YYYY-MM-DDTHH:MM:SS.mmmZ` (`iso`).
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any


def now_ms() -> int:
    return int(time.time() * 1000)


def iso(ms: int) -> str:
    """Ground Truth's time format: 2026-01-05T14:22:33.517Z."""
    moment = datetime.fromtimestamp(ms / 1000, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def from_iso(text: str) -> int:
    """Epoch milliseconds of a time in Ground Truth's format (iso's inverse)."""
    return int(round(datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC).timestamp() * 1000))


def compact(ms: int) -> str:
    """The same moment for a file name (no colons): 20260105T142233.517Z."""
    moment = datetime.fromtimestamp(ms / 1000, UTC)
    return moment.strftime("%Y%m%dT%H%M%S.") + f"{ms % 1000:03d}Z"


@dataclass(frozen=True)
class Lease:
    accepted_at: int
    expires_at: int

    @classmethod
    def of(cls, value: Mapping[str, Any] | None) -> Lease | None:
        if not value:
            return None
        return cls(int(value["acceptedAt"]), int(value["expiresAt"]))

    def live(self, now: int) -> bool:
        return now < self.expires_at

    def dump(self) -> dict[str, int]:
        return {"acceptedAt": self.accepted_at, "expiresAt": self.expires_at}


def new_lease(now: int, time_limit_seconds: int, available_until: int | None) -> Lease:
    """A lease from now for the job's time limit, ending no later than the batch stays available."""
    expires = now + time_limit_seconds * 1000
    if available_until is not None:
        expires = min(expires, available_until)
    return Lease(now, expires)


def leases_of(task: Mapping[str, Any]) -> dict[str, Lease]:
    return {worker: lease for worker, value in (task.get("leases") or {}).items()
            if (lease := Lease.of(value)) is not None}


def answered_by(task: Mapping[str, Any], worker: str) -> bool:
    return worker in (task.get("workers") or set())


def free_places(task: Mapping[str, Any], needed: int, now: int, worker: str) -> int:
    """How many more workers besides `worker` could lease the task now: N - answers - others' live leases."""
    others = sum(1 for holder, lease in leases_of(task).items() if holder != worker and lease.live(now))
    return needed - int(task.get("answers", 0)) - others


def expired_holders(task: Mapping[str, Any], now: int, worker: str) -> list[str]:
    """Other workers whose leases on the task have run out (a claim removes them)."""
    return sorted(holder for holder, lease in leases_of(task).items() if holder != worker and not lease.live(now))


def live_lease(task: Mapping[str, Any], worker: str, now: int) -> Lease | None:
    lease = leases_of(task).get(worker)
    return lease if lease is not None and lease.live(now) else None


def shuffle_rank(job: str, iteration: int, item_id: int) -> str:
    """A fixed pseudo-random place of an item in its batch's open-task order (8 hex digits).

    Fixed, so that publishing a batch again writes the same index keys; spread, so that
    workers claiming at once, each starting at a random place, rarely race for one task.
    """
    return f"{zlib.crc32(f'{job}#{iteration}#{item_id}'.encode()):08x}"
