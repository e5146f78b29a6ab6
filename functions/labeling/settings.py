"""Deployment settings the stack passes to the functions as environment variables."""

from __future__ import annotations

import os

TASKS_TABLE_ENV = "TASKS_TABLE_NAME"
STATE_MACHINE_ENV = "STATE_MACHINE_ARN"
AVAILABLE_TASK_TYPES_ENV = "AVAILABLE_TASK_TYPES"
# Buckets besides the job bucket that source-refs may name (the stack's dataBuckets setting), comma-separated.
DATA_BUCKETS_ENV = "DATA_BUCKETS"


def tasks_table() -> str:
    return os.environ[TASKS_TABLE_ENV]


def state_machine_arn() -> str:
    return os.environ[STATE_MACHINE_ENV]


def data_buckets() -> list[str]:
    """Buckets besides the job bucket whose objects this deployment may read."""
    return [b for b in os.environ.get(DATA_BUCKETS_ENV, "").split(",") if b]


def available_task_types() -> list[str]:
    """Task types whose model container this deployment ships."""
    return [t for t in os.environ.get(AVAILABLE_TASK_TYPES_ENV, "").split(",") if t]
