"""JsonlWriter streams to S3: a multipart upload in parts, nothing staged in /tmp (moto's S3)."""

from __future__ import annotations

import random

import boto3
import pytest
from moto import mock_aws

from labeling.dal import s3
from labeling.logic import jsonl

BUCKET = "writer"


@pytest.fixture
def client(monkeypatch, tmp_path):
    monkeypatch.setenv("TMPDIR", str(tmp_path))  # what a writer would stage lands here
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        s3._client.cache_clear()
        yield client
    s3._client.cache_clear()


def _records(count: int):
    rng = random.Random(0)
    # line-break look-alikes, a lone surrogate (low: two in a row make no pair), escapes
    hard = "\x85\u2028\u2029\r\t😀\udcff\\\""
    for n in range(count):
        yield {"id": n, "source": "".join(rng.choices(hard + "abcdefgh ", k=rng.randint(1, 300)))}


def _uploads(client) -> list:
    return client.list_multipart_uploads(Bucket=BUCKET).get("Uploads", [])


def test_a_file_of_several_parts_round_trips_byte_for_byte(client, tmp_path):
    records = list(_records(120_000))  # about 19 MB: parts of 5 MiB, the last one shorter
    expected = b"".join(map(jsonl.encode_line, records))
    assert len(expected) > 3 * s3.MIN_PART_BYTES
    with s3.JsonlWriter(BUCKET, "out/big.jsonl", part_bytes=s3.MIN_PART_BYTES) as writer:
        for record in records:
            writer.write(record)
        assert not list(tmp_path.iterdir())
    assert writer.count == len(records)
    stored = client.get_object(Bucket=BUCKET, Key="out/big.jsonl")
    assert stored["Body"].read() == expected
    assert stored["ETag"].strip('"').endswith(f"-{-(-len(expected) // s3.MIN_PART_BYTES)}")  # a multipart object
    assert list(s3.read_jsonl(BUCKET, "out/big.jsonl")) == records
    assert _uploads(client) == []


def test_a_small_file_is_one_put_and_an_empty_one_is_written_too(client):
    with s3.JsonlWriter(BUCKET, "small.jsonl") as writer:
        writer.write({"id": 0, "source": "a\u2028b"})
    assert client.get_object(Bucket=BUCKET, Key="small.jsonl")["Body"].read() == jsonl.encode_line(
        {"id": 0, "source": "a\u2028b"})
    assert "-" not in client.head_object(Bucket=BUCKET, Key="small.jsonl")["ETag"]
    with s3.JsonlWriter(BUCKET, "empty.jsonl") as writer:
        pass
    assert (writer.count, client.get_object(Bucket=BUCKET, Key="empty.jsonl")["Body"].read()) == (0, b"")


@pytest.mark.parametrize("lines", [10, 60_000])  # before and after the first part was sent
def test_a_failing_body_leaves_no_object_and_no_open_upload(client, lines):
    with pytest.raises(RuntimeError, match="the body failed"), \
            s3.JsonlWriter(BUCKET, "failed.jsonl", part_bytes=s3.MIN_PART_BYTES) as writer:
        for record in _records(lines):
            writer.write(record)
        raise RuntimeError("the body failed")
    assert "Contents" not in client.list_objects_v2(Bucket=BUCKET, Prefix="failed")
    assert _uploads(client) == []


def test_parts_under_s3s_minimum_are_refused():
    with pytest.raises(ValueError, match="at least"):
        s3.JsonlWriter(BUCKET, "x", part_bytes=s3.MIN_PART_BYTES - 1)
