"""How `autolabel run` and `autolabel resume` end when they do not complete a job."""

from __future__ import annotations

from pathlib import Path


class RunStopped(RuntimeError):
    """The user stopped the run (Ctrl-C); the message says what was done and how to continue."""


class RunError(RuntimeError):
    """The run could not start or did not complete; the message says why."""

    def __init__(self, message: str, logs: Path | None = None):
        super().__init__(message)
        self.logs = logs  # where the details are, once the run has a workdir
