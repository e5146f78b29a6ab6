"""The only place the labeling logic reads and writes S3.

Manifests are streamed line by line (split on "\n" only: logic/jsonl.py) and written as
multipart uploads in parts, so neither a Lambda's memory nor its /tmp grows with the data set.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from functools import cache
from types import TracebackType
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from labeling.logic import jsonl

# Objects whose first bytes are read at once (ValidateJob checks that images exist and are images).
HEAD_READ_CONCURRENCY = 32
# Small objects written at once (PublishHumanTasks' large batch items).
WRITE_CONCURRENCY = 16
# The S3 endpoint that presigned URLs for a browser name, where it is not S3's own: only a
# local stand-in sets it (e.g. a moto server's http://127.0.0.1:<port>). In AWS it is unset.
BROWSER_S3_ENDPOINT_ENV = "AUTOLABEL_BROWSER_S3_ENDPOINT"
# StreamingBody.iter_lines() splits on "\r" too (bytes.splitlines), so lines are split here.
_READ_CHUNK_BYTES = 1 << 20
# JsonlWriter's parts: S3 takes 5 MiB at least (but the last) and 10,000 parts, so 16 MiB
# parts hold files up to 156 GiB; two of them are in memory at most.
MIN_PART_BYTES = 5 << 20
PART_BYTES = 16 << 20


@cache
def _client() -> Any:
    return boto3.client("s3")


@cache
def _presigning_client(endpoint: str | None) -> Any:
    # SigV4, so the URL's X-Amz-Expires says how long it works.
    return boto3.client("s3", endpoint_url=endpoint or None, config=Config(signature_version="s3v4"))


def presigned_get_url(bucket: str, key: str, seconds: int) -> str:
    """A URL that lets whoever holds it GET the object for `seconds` (nothing is made public)."""
    client = _presigning_client(os.environ.get(BROWSER_S3_ENDPOINT_ENV) or None)
    return client.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=seconds)


def read_lines(bucket: str, key: str) -> Iterator[str]:
    """Yield each line of an object, decoded, without its line ending."""
    body = _client().get_object(Bucket=bucket, Key=key)["Body"]
    yield from jsonl.decoded(jsonl.split_lines(body.iter_chunks(_READ_CHUNK_BYTES)))


def read_jsonl(bucket: str, key: str) -> Iterator[dict[str, Any]]:
    for line in read_lines(bucket, key):
        if line.strip():
            yield jsonl.loads(line)


def read_jsonl_if_present(bucket: str, key: str) -> Iterator[dict[str, Any]]:
    """The records of a JSON Lines object, or none when there is no such object."""
    if exists(bucket, key):
        yield from read_jsonl(bucket, key)


def _head(bucket: str, key: str, size: int) -> bytes | None:
    try:
        return _client().get_object(Bucket=bucket, Key=key, Range=f"bytes=0-{size - 1}")["Body"].read()
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code")
        if code == "InvalidRange":  # S3's answer to a range of an empty object
            return b""
        if code in ("NoSuchKey", "404", "NotFound"):
            return None
        raise


def read_heads(locations: list[tuple[str, str]], size: int) -> list[bytes | None]:
    """The first `size` bytes of each (bucket, key), read concurrently; None where there is no object."""
    with ThreadPoolExecutor(HEAD_READ_CONCURRENCY) as pool:
        return list(pool.map(lambda location: _head(location[0], location[1], size), locations))


def read_json(bucket: str, key: str) -> Any:
    return json.loads(_client().get_object(Bucket=bucket, Key=key)["Body"].read())


def read_json_many(bucket: str, keys: list[str]) -> list[Any]:
    """The JSON of each object, read concurrently, in the keys' order (give it a bounded list)."""
    if not keys:
        return []
    with ThreadPoolExecutor(min(HEAD_READ_CONCURRENCY, len(keys))) as pool:
        return list(pool.map(lambda key: read_json(bucket, key), keys))


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


def write_json_if_absent(bucket: str, key: str, value: Any) -> bool:
    """Write the object only where there is none (S3's conditional write, If-None-Match: *).

    True when this call wrote it; False when an object is there already, which stays as it
    was. S3 answers 412 to the loser of two such writes, or 409 while another is in flight
    (then this one is sent again, to learn which).
    """
    for _ in range(3):
        try:
            _client().put_object(
                Bucket=bucket, Key=key, Body=json.dumps(value, indent=1).encode(),
                ContentType="application/json", IfNoneMatch="*",
            )
            return True
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code")
            if code == "PreconditionFailed":
                return False
            if code != "ConditionalRequestConflict":
                raise
    raise RuntimeError(f"s3://{bucket}/{key}: S3 kept answering ConditionalRequestConflict; send it again")


def write_json_many(bucket: str, objects: list[tuple[str, Any]]) -> None:
    """Write each (key, value) as a JSON object, several at once (give it a bounded list)."""
    if not objects:
        return
    with ThreadPoolExecutor(min(WRITE_CONCURRENCY, len(objects))) as pool:
        list(pool.map(lambda item: write_json(bucket, *item), objects))


def write_bytes(bucket: str, key: str, body: bytes, content_type: str) -> None:
    # The content type lets the S3 console and a browser show the file instead of downloading it.
    _client().put_object(Bucket=bucket, Key=key, Body=body, ContentType=content_type)


def move(bucket: str, source: str, target: str) -> bool:
    """Copy an object of the job's own to `target`, then delete it at `source`; False when there is none."""
    try:
        _client().copy_object(Bucket=bucket, Key=target, CopySource={"Bucket": bucket, "Key": source})
    except ClientError as error:
        if error.response["Error"]["Code"] in ("NoSuchKey", "404"):
            return False
        raise
    _client().delete_object(Bucket=bucket, Key=source)
    return True


def exists(bucket: str, key: str) -> bool:
    response = _client().list_objects_v2(Bucket=bucket, Prefix=key, MaxKeys=1)
    return any(o["Key"] == key for o in response.get("Contents", []))


def list_keys(bucket: str, prefix: str) -> Iterator[str]:
    for page in _client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            yield obj["Key"]


def list_folders(bucket: str, prefix: str) -> Iterator[str]:
    """The "folders" right under `prefix` (keys up to their next "/", e.g. jobs/a/), not what is in them."""
    pages = _client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix, Delimiter="/")
    for page in pages:
        for folder in page.get("CommonPrefixes", []):
            yield folder["Prefix"]


class JsonlWriter:
    """Write JSON Lines to S3 as they come, without staging the file anywhere.

    Lines are gathered into parts of PART_BYTES and sent as a multipart upload, one part on
    its way while the next fills, so memory holds two parts at most and nothing goes to the
    Lambda's /tmp, whatever the file's size. A file smaller than one part is one PutObject.
    If the `with` body raises, the multipart upload is aborted and no object is written.
    """

    def __init__(self, bucket: str, key: str, part_bytes: int = PART_BYTES):
        if part_bytes < MIN_PART_BYTES:
            raise ValueError(f"S3's parts are at least {MIN_PART_BYTES} bytes (all but the last)")
        self.bucket, self.key, self.count = bucket, key, 0
        self._part_bytes = part_bytes
        self._buffer = bytearray()
        self._upload_id: str | None = None
        self._parts: list[dict[str, Any]] = []
        self._sender: ThreadPoolExecutor | None = None
        self._in_flight: Future | None = None

    def write(self, record: dict[str, Any]) -> None:
        self._buffer += jsonl.encode_line(record)
        self.count += 1
        if len(self._buffer) >= self._part_bytes:
            self._send_part()

    def _send_part(self) -> None:
        if self._upload_id is None:
            self._upload_id = _client().create_multipart_upload(Bucket=self.bucket, Key=self.key)["UploadId"]
            self._sender = ThreadPoolExecutor(1, thread_name_prefix="jsonl-part")
        self._wait_for_part()
        number, body, self._buffer = len(self._parts) + 1, self._buffer, bytearray()
        self._parts.append({"PartNumber": number})
        assert self._sender is not None  # made with the upload
        self._in_flight = self._sender.submit(self._upload_part, number, body)

    def _upload_part(self, number: int, body: bytearray) -> None:
        response = _client().upload_part(Bucket=self.bucket, Key=self.key, UploadId=self._upload_id,
                                         PartNumber=number, Body=body)
        self._parts[number - 1]["ETag"] = response["ETag"]

    def _wait_for_part(self) -> None:
        if self._in_flight is not None:
            in_flight, self._in_flight = self._in_flight, None
            in_flight.result()

    def _finish(self) -> None:
        if self._upload_id is None:
            _client().put_object(Bucket=self.bucket, Key=self.key, Body=bytes(self._buffer))
            return
        if self._buffer:
            self._send_part()
        self._wait_for_part()
        _client().complete_multipart_upload(Bucket=self.bucket, Key=self.key, UploadId=self._upload_id,
                                            MultipartUpload={"Parts": self._parts})

    def _abort(self) -> None:
        if self._upload_id is None:
            return
        if self._in_flight is not None:
            wait([self._in_flight])
        _client().abort_multipart_upload(Bucket=self.bucket, Key=self.key, UploadId=self._upload_id)

    def __enter__(self) -> JsonlWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        try:
            if exc_type is None:
                self._finish()
            else:
                self._abort()
        except BaseException:
            if exc_type is None:
                self._abort()
            raise
        finally:
            self._buffer = bytearray()
            if self._sender is not None:
                self._sender.shutdown()
