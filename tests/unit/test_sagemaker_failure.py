"""labeling/logic/sagemaker_failure.py: the user's words for SageMaker failures, and the shards'
instance counts (labeling/logic/sagemaker_step.py)."""

from __future__ import annotations

import json

import pytest

from autolabel.localcloud.sagemaker import CAPACITY_ERROR, output_name, resource_limit_message
from labeling.logic.predictions import prediction_key
from labeling.logic.sagemaker_failure import RETRIED_API_ERRORS, describe
from labeling.logic.sagemaker_step import rows_per_shard, transform_instances
from labeling.models.job import JobConfig

STATE = {"sagemaker": {"trainingJobName": "j-r1-0-train", "validationTransformJobName": "j-r1-0-val",
                       "poolTransformJobName": "j-r1-0-pool", "retries": {"training": {"suffix": "-c1"}}}}
JAVA = " (Service: AmazonSageMaker; Status Code: 400; Error Code: {}; Request ID: 1; Proxy: null)"


def test_a_resource_limit_names_the_quota_the_job_and_how_to_ask_for_more():
    cause = resource_limit_message("ml.p3.2xlarge", "training job usage") + JAVA.format("ResourceLimitExceeded")
    text = describe({"Error": "SageMaker.ResourceLimitExceededException", "Cause": cause}, STATE)
    assert "'ml.p3.2xlarge for training job usage' is 0 instances" in text
    assert "training job j-r1-0-train-c1" in text
    assert "Service Quotas console" in text and "--service-code sagemaker" in text


def test_a_transform_quota_names_the_transform_that_was_refused():
    cause = resource_limit_message("ml.c5.xlarge", "transform job usage", limit=2, in_use=2, delta=3)
    state = {**STATE, "training": {"startTime": 1, "endTime": 2}, "validationTransform": {"startTime": 1}}
    text = describe({"Error": "SageMaker.ResourceLimitExceededException", "Cause": cause + JAVA.format("x")}, state)
    assert "transform job j-r1-0-pool" in text and "is 2 instances and 2 are in use, and the job asks for 3" in text


def test_a_container_error_shows_its_last_lines_and_where_the_whole_log_is():
    described = {"TrainingJobName": "j-r1-0-train", "TrainingJobStatus": "Failed",
                 "ResourceConfig": {"InstanceType": "ml.p3.2xlarge"},
                 "FailureReason": "AlgorithmError: Traceback...\nValueError: bad, exit code: 1"}
    text = describe({"Error": "States.TaskFailed", "Cause": json.dumps(described)}, STATE)
    assert "model container of the training job j-r1-0-train on ml.p3.2xlarge failed" in text
    assert "ValueError: bad, exit code: 1" in text
    assert "log group /aws/sagemaker/TrainingJobs, stream j-r1-0-train/algo-1-" in text


def test_a_transform_that_kept_failing_for_capacity_says_so():
    described = {"TransformJobName": "j-r1-0-pool-c3", "TransformResources": {"InstanceType": "ml.c5.xlarge"},
                 "FailureReason": CAPACITY_ERROR}
    text = describe({"Error": "States.TaskFailed", "Cause": json.dumps(described)}, STATE)
    assert "transform job j-r1-0-pool-c3 on ml.c5.xlarge failed 4 times" in text and "CapacityError" in text


def test_throttling_that_outlasted_the_retries_names_the_code():
    cause = "Rate exceeded" + JAVA.format("ThrottlingException")
    text = describe({"Error": RETRIED_API_ERRORS[0], "Cause": cause}, STATE)
    assert "ThrottlingException: Rate exceeded" in text and "7 tries" in text


@pytest.mark.parametrize("error", [
    {"Error": "ManifestError", "Cause": "line 2"},
    {"Error": "States.TaskFailed", "Cause": json.dumps({"errorMessage": "a Lambda's"})},
    {"Error": "States.TaskFailed", "Cause": "not json"},
    {"Error": "States.Timeout", "Cause": ""},
    {},
])
def test_other_failures_are_not_sagemakers(error):
    assert describe(error, STATE) is None


def test_transform_output_keys_follow_the_input_prefix_as_sagemaker_writes_them():
    assert output_name("out/pool/", "out/pool/part-00002.jsonl") == "part-00002.jsonl.out"
    assert output_name("out/validation.jsonl", "out/validation.jsonl") == "validation.jsonl.out"
    assert prediction_key("s3://b/inf/pool/", "out/pool/part-00002.jsonl", input_prefix="out/pool/") == \
        "inf/pool/part-00002.jsonl.out"
    assert prediction_key("s3://b/inf/", "out/pool.jsonl") == "inf/pool.jsonl.out"


def test_transform_instances_follow_the_items_up_to_the_jobs_cap():
    one, ten = JobConfig(TaskType="text-classification"), JobConfig(TaskType="text-classification",
                                                                      MaxTransformInstanceCount=10)
    assert transform_instances(1_000_000, one) == 1 and rows_per_shard(1_000_000, one) == 1_000_000
    assert transform_instances(1_000_000, ten) == 10 and rows_per_shard(1_000_000, ten) == 100_000
    assert transform_instances(25_000, ten) == 3 and rows_per_shard(25_000, ten) == 8_334
    assert transform_instances(0, ten) == 1 and rows_per_shard(0, ten) == 1
    with pytest.raises(ValueError):
        JobConfig(TaskType="text-classification", MaxTransformInstanceCount=0)
    with pytest.raises(ValueError):
        JobConfig(TaskType="text-classification", MaxTransformInstanceCount=101)


def test_shards_are_contiguous_runs_that_read_back_in_order_with_their_predictions():
    import boto3
    from moto import mock_aws

    from labeling.dal import shards

    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket="shard-test")
        with shards.ShardedJsonlWriter("shard-test", "pool/", rows_per_shard=4) as writer:
            for n in range(10):
                writer.write({"id": n})
        assert (writer.count, writer.shards) == (10, 3)
        assert shards.shard_keys("shard-test", "pool/") == ["pool/part-00000.jsonl", "pool/part-00001.jsonl",
                                                   "pool/part-00002.jsonl"]
        assert [r["id"] for r in shards.read_jsonl("shard-test", "pool/")] == list(range(10))
        for key in shards.shard_keys("shard-test", "pool/"):
            ids = [r["id"] for r in shards.read_jsonl("shard-test", key)]
            client.put_object(Bucket="shard-test", Key="inf/" + key.removeprefix("pool/") + ".out",
                              Body="".join(json.dumps({"p": n}) + "\n" for n in ids).encode())
        pairs = list(shards.read_with_predictions("s3://shard-test/pool/", "s3://shard-test/inf/", what="pool"))
        assert [(item["id"], p["p"]) for item, p in pairs] == [(n, n) for n in range(10)]
        with shards.ShardedJsonlWriter("shard-test", "empty/", rows_per_shard=4):
            pass
        assert shards.shard_keys("shard-test", "empty/") == ["empty/part-00000.jsonl"]
        assert list(shards.read_jsonl("shard-test", "empty/")) == []
