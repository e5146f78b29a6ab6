"""The local cloud's S3 kept on disk (autolabel/localcloud/durable_s3.py): a new moto gets back every
object the last one held, whatever wrote it, and nothing deleted."""

from __future__ import annotations

import boto3
from moto import mock_aws

from autolabel.localcloud import engine
from autolabel.localcloud.durable_s3 import DurableS3

BUCKET = "jobs"


def _objects() -> dict[str, bytes]:
    s3 = boto3.client("s3")
    keys = [o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET)
            for o in page.get("Contents", [])]
    return {key: s3.get_object(Bucket=BUCKET, Key=key)["Body"].read() for key in keys}


def test_every_write_survives_the_process_and_deletes_stay_deleted(fake_aws_credentials, tmp_path):
    store = DurableS3(tmp_path / "s3")
    big = bytes(range(256)) * 30_000  # 7.7 MB: a multipart upload of two parts
    with mock_aws():
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket=BUCKET)
        patches = store.install()
        try:
            s3.put_object(Bucket=BUCKET, Key="jobs/a/job.json", Body=b'{"TaskType": "x"}')
            s3.put_object(Bucket=BUCKET, Key="jobs/a/job.json", Body=b'{"TaskType": "y"}')  # replaced
            s3.put_object(Bucket=BUCKET, Key="odd/ key\u2028 \u00e9/", Body=b"folder-like key")
            s3.copy_object(Bucket=BUCKET, Key="copy", CopySource={"Bucket": BUCKET, "Key": "jobs/a/job.json"})
            upload = s3.create_multipart_upload(Bucket=BUCKET, Key="big")["UploadId"]
            parts = [s3.upload_part(Bucket=BUCKET, Key="big", UploadId=upload, PartNumber=n + 1,
                                    Body=big[n * 5 * 2**20:(n + 1) * 5 * 2**20])["ETag"] for n in range(2)]
            s3.complete_multipart_upload(Bucket=BUCKET, Key="big", UploadId=upload, MultipartUpload={
                "Parts": [{"ETag": etag, "PartNumber": n + 1} for n, etag in enumerate(parts)]})
            s3.put_object(Bucket=BUCKET, Key="gone", Body=b"x")
            s3.delete_objects(Bucket=BUCKET, Delete={"Objects": [{"Key": "gone"}]})
            before = _objects()
        finally:
            engine.uninstall(patches)
    assert set(before) == {"jobs/a/job.json", "odd/ key\u2028 \u00e9/", "copy", "big"}
    with (store.log).open("ab") as log:
        log.write(b'{"op": "put", "bucket": "jobs", "key": "cut sh')  # a line a kill cut short
    with mock_aws():
        assert store.restore() == 4
        assert _objects() == before
        assert before["big"] == big and before["jobs/a/job.json"] == b'{"TaskType": "y"}'


def _upload_events_queue() -> str:
    """A queue that gets the bucket's "Object Created" events, as the stack's upload trigger does."""
    s3, events, sqs = boto3.client("s3"), boto3.client("events"), boto3.client("sqs")
    s3.put_bucket_notification_configuration(Bucket=BUCKET, NotificationConfiguration={
        "EventBridgeConfiguration": {}})
    queue = sqs.create_queue(QueueName="uploads")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name="uploads", EventPattern='{"source": ["aws.s3"], "detail-type": ["Object Created"]}')
    events.put_targets(Rule="uploads", Targets=[{"Id": "queue", "Arn": arn}])
    return queue


def _received(queue: str) -> int:
    return len(boto3.client("sqs").receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", []))


def test_a_restore_uploads_nothing_again(fake_aws_credentials, tmp_path):
    """Restored objects start no job: a restored input manifest is no new upload."""
    store = DurableS3(tmp_path / "s3")
    with mock_aws():
        boto3.client("s3").create_bucket(Bucket=BUCKET)
        queue = _upload_events_queue()
        patches = store.install()
        boto3.client("s3").put_object(Bucket=BUCKET, Key="jobs/a/input.manifest", Body=b"{}\n")
        engine.uninstall(patches)
        assert _received(queue) == 1  # the upload itself is an event
    log = store.log.read_bytes()
    with mock_aws():
        boto3.client("s3").create_bucket(Bucket=BUCKET)
        queue = _upload_events_queue()
        patches = store.install()  # as the local cloud has it while it restores: installed
        try:
            assert store.restore() == 1
        finally:
            engine.uninstall(patches)
        assert _objects() == {"jobs/a/input.manifest": b"{}\n"}
        assert _received(queue) == 0
    assert store.log.read_bytes() == log  # restoring wrote no new entries
