"""The local cloud's DynamoDB transactions: CPU time per TransactWriteItems against the table's size.

    .venv/bin/python -m benchmarks.local_transactions --results benchmarks/results/local-transactions.md

Each worker's answer is two transactions on the task table (record the answer, complete the
task: labeling/dal/tasks.py), and a job's table holds a record per human task, answer and worker.
moto 5.2.5 backs up every table a transaction touches with a deep copy; the local engine backs up
the items it names instead (autolabel/localcloud/engine.py, _CopyKeepingTables). This measures
both on tables of task-like items (a 200-character text, labels, a lease), in one process, one
after the other and twice each: CPU time (process_time), so the machine's other load counts less.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import boto3
from moto import mock_aws

from autolabel.localcloud import engine
from benchmarks.machine import cpu_description

TABLE = "tasks"
TRANSACTIONS = 50


def create_table(client, name: str = TABLE) -> None:
    """A table keyed as the task table is (a partition and a sort key, both strings)."""
    client.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                              {"AttributeName": "sk", "AttributeType": "S"}],
                        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                                   {"AttributeName": "sk", "KeyType": "RANGE"}])


def _fill(client, items: int) -> None:
    table = boto3.resource("dynamodb").Table(TABLE)
    with table.batch_writer() as writer:
        for i in range(items):
            writer.put_item(Item={"pk": "job", "sk": f"task-{i:06d}", "answers": 0,
                                  "data": {"source": "x" * 200, "labels": ["business", "sport", "tech"]},
                                  "leases": [{"worker": "worker-1", "acceptedAt": 1}]})


def _ms_per_transaction(client, items: int) -> float:
    start = time.process_time()
    for i in range(TRANSACTIONS):
        client.transact_write_items(TransactItems=[{"Update": {
            "TableName": TABLE, "Key": {"pk": {"S": "job"}, "sk": {"S": f"task-{i % items:06d}"}},
            "UpdateExpression": "SET answers = answers + :one", "ExpressionAttributeValues": {":one": {"N": "1"}}}}])
    return (time.process_time() - start) / TRANSACTIONS * 1000


def measure(sizes: list[int]) -> list[tuple[int, float, float]]:
    os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1")
    rows = []
    for items in sizes:
        with mock_aws():
            client = boto3.client("dynamodb")
            create_table(client)
            _fill(client, items)
            times: dict[str, list[float]] = {"moto": [], "engine": []}
            for which in ("moto", "engine", "moto", "engine"):
                patches = engine.install_atomic_dynamodb() if which == "engine" else ()
                try:
                    times[which].append(_ms_per_transaction(client, items))
                finally:
                    engine.uninstall(patches)
            rows.append((items, min(times["moto"]), min(times["engine"])))
    return rows


def table(rows: list[tuple[int, float, float]]) -> str:
    lines = ["| items in the table | moto's transaction, CPU ms | the local engine's, CPU ms | ratio |",
             "|---|---|---|---|"]
    lines += [f"| {items:,} | {moto:.1f} | {ours:.1f} | {moto / ours:.0f}x |" for items, moto, ours in rows]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[250, 1000, 4000])
    parser.add_argument("--results", type=Path, help="write the table here (markdown)")
    args = parser.parse_args()
    text = (f"TransactWriteItems (one Update), {TRANSACTIONS} per run, the lower of two runs; "
            f"{cpu_description()}, Python {platform.python_version()}, "
            f"`python -m benchmarks.local_transactions`.\n\n{table(measure(args.sizes))}\n")
    print(text)
    if args.results:
        args.results.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
