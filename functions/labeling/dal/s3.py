"""The only place the labeling logic reads and writes S3.

Manifests are streamed line by line and written through a temporary file, so a
Lambda's memory does not grow with the data set.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from functools import cache
from typing import Any

import boto3


@cache
def _client():
    return boto3.client("s3")


def read_lines(bucket: str, key: str) -> Iterator[str]:
    """Yield each line of an object, decoded, without its line ending."""
    body = _client().get_object(Bucket=bucket, Key=key)["Body"]
    for raw in body.iter_lines():
        yield raw.decode("utf-8")


def read_jsonl(bucket: str, key: str) -> Iterator[dict[str, Any]]:
    for line in read_lines(bucket, key):
        if line.strip():
            yield json.loads(line)


def read_json(bucket: str, key: str) -> Any:
    return json.loads(_client().get_object(Bucket=bucket, Key=key)["Body"].read())


def read_json_if_present(bucket: str, key: str) -> Any | None:
    """The object's JSON, or None when there is no such object (one request, not two)."""
    try:
        return read_json(bucket, key)
    except _client().exceptions.NoSuchKey:
        return None


def write_json(bucket: str, key: str, value: Any) -> None:
    _client().put_object(
        Bucket=bucket, Key=key, Body=json.dumps(value, indent=1).encode(),
        ContentType="application/json",
    )


def write_bytes(bucket: str, key: str, body: bytes, content_type: str) -> None:
    # The content type lets the S3 console and a browser show the file instead of downloading it.
    _client().put_object(Bucket=bucket, Key=key, Body=body, ContentType=content_type)


def exists(bucket: str, key: str) -> bool:
    response = _client().list_objects_v2(Bucket=bucket, Prefix=key, MaxKeys=1)
    return any(o["Key"] == key for o in response.get("Contents", []))


def list_keys(bucket: str, prefix: str) -> Iterator[str]:
    for page in _client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            yield obj["Key"]


class JsonlWriter:
    """Write JSON Lines to S3: buffered in a temporary file, uploaded on close."""

    def __init__(self, bucket: str, key: str):
        self.bucket, self.key, self.count = bucket, key, 0
        self._file = tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False, encoding="utf-8")

    def write(self, record: dict[str, Any]) -> None:
        self._file.write(json.dumps(record, ensure_ascii=False) + "\n")
        self.count += 1

    def __enter__(self) -> JsonlWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self._file.close()
        try:
            if exc_type is None:
                _client().upload_file(self._file.name, self.bucket, self.key)
        finally:
            os.unlink(self._file.name)
