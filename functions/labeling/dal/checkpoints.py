"""The run's last checkpoint: the job state a workflow step handed on, and the step it went to.

Each step that moves the job forward (labeling.checkpointing) writes it at the end, after
its own files, so the checkpoint never names files that are not written yet. ResumeJob
reads it to continue a stopped, failed or killed run in a new execution. One object per
job, replaced at each step: only the latest matters, since every step's files stay.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from labeling.dal import s3
from labeling.layout import JobLayout

VERSION = 1


def write(bucket: str, layout: JobLayout, *, after: str, next_state: str, state: dict[str, Any]) -> None:
    s3.write_json(bucket, layout.checkpoint, {
        "version": VERSION, "after": after, "next": next_state, "iteration": state.get("iteration", 0),
        "writtenAt": datetime.now(UTC).isoformat(), "state": state,
    })


def read(bucket: str, layout: JobLayout) -> dict[str, Any] | None:
    """The checkpoint, or None when the run never got past ValidateJob."""
    return s3.read_json_if_present(bucket, layout.checkpoint)


def set_aside_failure(bucket: str, layout: JobLayout, attempt: int) -> bool:
    """Move an earlier attempt's failure.json out of the output, beside the checkpoint, as it is
    resumed: the output then says how the job ends, and the failure is kept. False when there was none."""
    return s3.move(bucket, layout.failure, layout.earlier_failure(attempt))
