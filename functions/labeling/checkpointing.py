"""@checkpointed(after=step): a workflow step's handler writes the run's checkpoint when it is done.

Outermost of the handler's own decorators but inside Powertools' (so its S3 write is logged
and traced with the step): the handler's result is the job state the workflow hands on.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from labeling.dal import checkpoints
from labeling.layout import JobLayout
from labeling.logic.resume import NEXT_STATE


def checkpointed(after: str, *, hands_on: str = "result"
                 ) -> Callable[[Callable[..., dict[str, Any]]], Callable[..., dict[str, Any]]]:
    """`hands_on`: "result" when the handler returns the job state, "event" when it returns
    something else (WriteOutput's summary) and the state it was given is the one to keep."""
    next_state = NEXT_STATE[after]

    def decorate(handler: Callable[..., dict[str, Any]]) -> Callable[..., dict[str, Any]]:
        @wraps(handler)
        def run(event: Any, context: Any) -> dict[str, Any]:
            result = handler(event, context)
            state = result if hands_on == "result" else event
            job = state["job"]
            checkpoints.write(job["bucket"], JobLayout(job["prefix"]), after=after, next_state=next_state,
                              state=state)
            return result
        return run

    return decorate
