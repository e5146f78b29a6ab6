"""ValidateJob reads a source-ref only where the deployment may: the job bucket's jobs/ keys and the
buckets of the stack's dataBuckets setting. Any other is a bad line naming the bucket and the fix,
and is never read (it would be AccessDenied)."""

from __future__ import annotations

import json

import boto3
import pytest
from moto import mock_aws

from labeling.dal import s3
from labeling.logic.image_files import ReadableBuckets, source_ref_problems
from labeling.logic.manifest import ManifestError, check_manifest

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
JOB_BUCKET, DATA_BUCKET, OTHER_BUCKET = "jobs-bucket", "images-bucket", "someone-elses"


@pytest.fixture
def buckets(fake_aws_credentials):
    s3._client.cache_clear()
    with mock_aws():
        client = boto3.client("s3")
        for bucket in (JOB_BUCKET, DATA_BUCKET, OTHER_BUCKET):
            client.create_bucket(Bucket=bucket)
        for bucket, key in ((JOB_BUCKET, "jobs/j/data/a.png"), (JOB_BUCKET, "images/a.png"),
                            (DATA_BUCKET, "a.png"), (OTHER_BUCKET, "a.png")):
            client.put_object(Bucket=bucket, Key=key, Body=PNG)
        yield client
    s3._client.cache_clear()


def _problems(refs: list[str], readable: ReadableBuckets, read: list) -> list[str | None]:
    def read_heads(locations, size):
        read.extend(locations)
        return s3.read_heads(locations, size)

    return source_ref_problems(refs, read_heads, readable)


def test_images_under_jobs_and_in_data_buckets_are_read_and_accepted(buckets):
    read: list = []
    refs = [f"s3://{JOB_BUCKET}/jobs/j/data/a.png", f"s3://{DATA_BUCKET}/a.png"]
    assert _problems(refs, ReadableBuckets(JOB_BUCKET, (DATA_BUCKET,)), read) == [None, None]
    assert read == [(JOB_BUCKET, "jobs/j/data/a.png"), (DATA_BUCKET, "a.png")]


def test_a_bucket_outside_the_setting_is_refused_naming_it_and_the_fix_without_reading_it(buckets):
    read: list = []
    (problem,) = _problems([f"s3://{OTHER_BUCKET}/a.png"], ReadableBuckets(JOB_BUCKET, (DATA_BUCKET,)), read)
    assert read == []  # the object exists, but the deployment may not read it: no request at all
    assert f"bucket '{OTHER_BUCKET}'" in problem
    assert "dataBuckets" in problem and f"copy the objects into the job bucket '{JOB_BUCKET}'" in problem


def test_a_data_bucket_is_refused_when_the_deployment_does_not_list_it(buckets):
    (problem,) = _problems([f"s3://{DATA_BUCKET}/a.png"], ReadableBuckets(JOB_BUCKET), [])
    assert f"bucket '{DATA_BUCKET}'" in problem


def test_a_job_bucket_key_outside_jobs_is_refused_with_where_to_move_it(buckets):
    (problem,) = _problems([f"s3://{JOB_BUCKET}/images/a.png"], ReadableBuckets(JOB_BUCKET), [])
    assert f"s3://{JOB_BUCKET}/images/a.png" in problem and "under jobs/" in problem


def test_a_manifest_of_unreadable_images_stops_naming_the_manifest_each_line_and_the_bucket(buckets):
    readable = ReadableBuckets(JOB_BUCKET, (DATA_BUCKET,))
    lines = [json.dumps({"source-ref": f"s3://{OTHER_BUCKET}/{name}.png"}) for name in ("a", "b")]
    check = check_manifest(lines, "source-ref",
                           object_check=lambda refs: source_ref_problems(refs, s3.read_heads, readable))
    with pytest.raises(ManifestError) as refused:
        check.raise_if_unusable("jobs/j/input.manifest", 10)
    message = str(refused.value)
    assert "jobs/j/input.manifest" in message and "line 1:" in message and "line 2:" in message
    assert f"bucket '{OTHER_BUCKET}'" in message and "dataBuckets" in message
