"""Deployment settings the stack passes to the functions as environment variables."""

from __future__ import annotations

import os

TASKS_TABLE_ENV = "TASKS_TABLE_NAME"
STATE_MACHINE_ENV = "STATE_MACHINE_ARN"
AVAILABLE_TASK_TYPES_ENV = "AVAILABLE_TASK_TYPES"


def tasks_table() -> str:
    return os.environ[TASKS_TABLE_ENV]


def state_machine_arn() -> str:
    return os.environ[STATE_MACHINE_ENV]


def available_task_types() -> list[str]:
    """Task types whose model container this deployment ships."""
    return [t for t in os.environ.get(AVAILABLE_TASK_TYPES_ENV, "").split(",") if t]
