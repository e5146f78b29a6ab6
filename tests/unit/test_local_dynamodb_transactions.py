"""The local cloud's DynamoDB transactions (engine.install_atomic_dynamodb): all or nothing, as DynamoDB's.

moto backs up every table a transaction touches with a deep copy; the engine backs up only the
items the transaction names (engine._CopyKeepingTables says why). A failed transaction must still
leave every item as it was, and a table copy must no longer be made.
"""

from __future__ import annotations

import copy

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.dynamodb.models.table import Table

from autolabel.localcloud import engine
from benchmarks.local_transactions import create_table

TABLE = "tasks"


@pytest.fixture
def table(fake_aws_credentials, monkeypatch):
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    patches = engine.install_atomic_dynamodb()
    try:
        with mock_aws():
            create_table(boto3.client("dynamodb"), TABLE)
            yield boto3.resource("dynamodb").Table(TABLE)
    finally:
        engine.uninstall(patches)


def _items(table) -> list[dict]:
    return sorted(table.scan()["Items"], key=lambda item: (item["pk"], item["sk"]))


def _update(key: dict, answers: int, condition: str | None = None) -> dict:
    update = {"TableName": TABLE, "Key": {name: {"S": value} for name, value in key.items()},
              "UpdateExpression": "SET answers = :n", "ExpressionAttributeValues": {":n": {"N": str(answers)}}}
    return {"Update": {**update, "ConditionExpression": condition} if condition else update}


def test_a_transaction_whose_last_condition_fails_leaves_every_item_as_it_was(table):
    table.put_item(Item={"pk": "job", "sk": "task-1", "answers": 1, "workers": ["a"]})
    table.put_item(Item={"pk": "job", "sk": "task-2", "answers": 0})
    table.put_item(Item={"pk": "job", "sk": "task-4", "answers": 0})
    before = _items(table)
    with pytest.raises(ClientError) as refused:
        boto3.client("dynamodb").transact_write_items(TransactItems=[
            _update({"pk": "job", "sk": "task-1"}, 2),  # applied by moto, then put back
            {"Put": {"TableName": TABLE, "Item": {"pk": {"S": "job"}, "sk": {"S": "task-3"}}}},  # a new item
            {"Delete": {"TableName": TABLE, "Key": {"pk": {"S": "job"}, "sk": {"S": "task-2"}}}},
            _update({"pk": "job", "sk": "task-4"}, 5, condition="answers > :n"),  # 0 > 5: fails
        ])
    assert refused.value.response["Error"]["Code"] == "TransactionCanceledException"
    assert _items(table) == before


def test_a_transaction_naming_one_item_twice_is_refused_and_changes_nothing(table):
    table.put_item(Item={"pk": "job", "sk": "task-1", "answers": 1})
    before = _items(table)
    with pytest.raises(ClientError) as refused:
        boto3.client("dynamodb").transact_write_items(TransactItems=[
            _update({"pk": "job", "sk": "task-1"}, 2), _update({"pk": "job", "sk": "task-1"}, 3)])
    assert refused.value.response["Error"]["Code"] == "ValidationException"
    assert _items(table) == before


def test_a_transaction_that_passes_writes_every_item_and_copies_no_table(table, monkeypatch):
    table.put_item(Item={"pk": "job", "sk": "task-1", "answers": 1})
    copied, original = [], copy.deepcopy

    def deepcopy(value, memo=None):
        copied.append(type(value))
        return original(value, memo)

    monkeypatch.setattr(engine.copy, "deepcopy", deepcopy)  # what the engine and moto's module copy with
    boto3.client("dynamodb").transact_write_items(TransactItems=[
        _update({"pk": "job", "sk": "task-1"}, 2),
        {"Put": {"TableName": TABLE, "Item": {"pk": {"S": "job"}, "sk": {"S": "task-2"}, "answers": {"N": "1"}}}},
    ])
    assert [(item["sk"], item["answers"]) for item in _items(table)] == [("task-1", 2), ("task-2", 1)]
    assert Table not in copied and copied, "the items were backed up, the table was not"
