"""The human tasks table's keys and its index of open tasks, in one place.

The stack (infra/constructs/human_tasks.py) declares them, the local cloud creates the table
from the synthesized template, the unit tests create it from `create_table_arguments`, and
labeling.dal.tasks reads and writes by them.

OpenTasks is a sparse global secondary index: a task record carries its keys (`openPk`,
`openSk`) only while the task still needs answers, so a query of one batch's partition reads
the open tasks and nothing else (never every task of the job). Its sort key spreads a batch
over a fixed pseudo-random order (`openSk`), so that workers who claim at the same time start
at different tasks. It projects what a claim decides on, so the candidates of a page need no
read of their own until one is leased.
"""

from __future__ import annotations

from typing import Any

PARTITION_KEY, SORT_KEY = "pk", "sk"

OPEN_TASKS_INDEX = "OpenTasks"
OPEN_PARTITION_KEY = "openPk"  # "JOB#<job>#<iteration>", only while the task needs answers
OPEN_SORT_KEY = "openSk"  # "<8 hex digits of a fixed shuffle>#<item id>"
# The task record's attributes a claim reads from the index (dal/tasks.py): who answered, how
# many answers are counted, the live and expired leases, and the version a claim is conditional on.
OPEN_TASKS_PROJECTED = ("itemId", "answers", "workers", "leases", "version")


def create_table_arguments(name: str) -> dict[str, Any]:
    """DynamoDB CreateTable's arguments for the table as the stack declares it (tests use them)."""
    return {
        "TableName": name,
        "BillingMode": "PAY_PER_REQUEST",
        "KeySchema": [{"AttributeName": PARTITION_KEY, "KeyType": "HASH"},
                      {"AttributeName": SORT_KEY, "KeyType": "RANGE"}],
        "AttributeDefinitions": [{"AttributeName": name_, "AttributeType": "S"}
                                 for name_ in (PARTITION_KEY, SORT_KEY, OPEN_PARTITION_KEY, OPEN_SORT_KEY)],
        "GlobalSecondaryIndexes": [{
            "IndexName": OPEN_TASKS_INDEX,
            "KeySchema": [{"AttributeName": OPEN_PARTITION_KEY, "KeyType": "HASH"},
                          {"AttributeName": OPEN_SORT_KEY, "KeyType": "RANGE"}],
            "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": list(OPEN_TASKS_PROJECTED)},
        }],
    }
