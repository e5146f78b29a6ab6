"""report.json's finalActiveLearningModel, and a second job that starts from it (job.json's
InitialActiveLearningModelArn), on one local cloud: the second job's first model iteration
transforms with the first job's model and runs no training job."""

from __future__ import annotations

import io
import json
import shutil

import boto3
import pytest

from autolabel import cli, executions
from autolabel.localcloud.cloud import LocalCloud
from autolabel.localcloud.gateway import LocalGateway
from autolabel.localcloud.workforce import SimulatedWorkforce, load_answers
from labeling.layout import JobLayout, split_s3_uri
from labeling.logic import job_setup
from tests.workflow.test_local_workflow import headlines  # noqa: F401  (a fixture: 300 headlines, embedded once)

# Batches of 80 with 60 for calibration, as tests/workflow/test_local_workflow.py's capped job. A cap of
# 150 human labels ends the first job after iteration 0's batch (10 left, less than a calibration
# sample): one model. 230 gives the second job two model iterations: 0 (the first job's model), 1 (trained).
SETTINGS = {"MaxConcurrentTaskCount": 80, "CalibrationSampleSize": 60}


def _run_job(cloud: LocalCloud, gateway: LocalGateway, job: str, files: dict, **config) -> dict:
    """Upload the job's files, let the simulated workers answer, wait for the end; its report.json."""
    s3 = boto3.client("s3")
    layout = JobLayout(f"jobs/{job}")
    s3.put_object(Bucket=cloud.bucket, Key=layout.job_config,
                  Body=json.dumps({"TaskType": "text-classification", **SETTINGS, **config}).encode())
    s3.put_object(Bucket=cloud.bucket, Key=layout.label_categories, Body=files["labels"].read_bytes())
    s3.upload_file(str(files["manifest"]), cloud.bucket, layout.input_manifest)
    execution_arn = executions.wait_for_execution(job, cloud.state_machine_arn)
    names = [c["label"] for c in json.loads(files["labels"].read_text())["labels"]]
    workforce = SimulatedWorkforce(load_answers(files["answers"], names, source_key="source"), job=job,
                                   gateway=gateway, workers=4)
    workforce.start()
    try:
        described = executions.wait(cloud, execution_arn, workforce, io.StringIO())
    finally:
        workforce.stop()
    assert described["status"] == "SUCCEEDED", described
    return json.loads(s3.get_object(Bucket=cloud.bucket, Key=layout.report)["Body"].read())


def _training_jobs(sagemaker) -> list[str]:
    return sorted(j["TrainingJobName"] for j in sagemaker.list_training_jobs(MaxResults=100)["TrainingJobSummaries"])


@pytest.fixture
def automated_on_300(monkeypatch):
    # Ground Truth's 1,250-item floor, lowered so that 300 headlines take the automated path quickly.
    monkeypatch.setattr(job_setup, "AUTOMATED_LABELING_MIN_ITEMS", 200)


def test_the_final_model_is_reported_and_a_later_job_starts_from_it_without_training(
        headlines, tmp_path, synthesized_app, automated_on_300):  # noqa: F811
    shutil.copytree(headlines["embedding-cache"], tmp_path / "embedding-cache")
    with LocalCloud(synthesized_app, tmp_path) as cloud, LocalGateway(cloud) as gateway:
        sagemaker, s3 = boto3.client("sagemaker"), boto3.client("s3")
        first = _run_job(cloud, gateway, "first", headlines, StoppingConditions={"MaxHumanLabeledObjectCount": 150})

        # (a) the first job's final model: the model of its one model iteration, as SageMaker has it
        model = first["finalActiveLearningModel"]
        assert [row["modelTrained"] for row in first["iterations"]] == [True]
        assert model["iteration"] == 0 and model["taskType"] == "text-classification"
        assert model["inferenceInstanceType"] == "ml.m4.xlarge"
        described = sagemaker.describe_model(ModelName=model["modelName"])
        assert described["ModelArn"] == model["modelArn"] == first["labelingJobOutput"]["finalActiveLearningModelArn"]
        assert model["modelArn"].startswith("arn:aws:sagemaker:us-east-1:") and ":model/" in model["modelArn"]
        assert described["PrimaryContainer"]["ModelDataUrl"] == model["modelArtifacts"]
        bucket, key = split_s3_uri(model["modelArtifacts"])
        assert bucket == cloud.bucket and key.startswith("jobs/first/output/training/models/")
        assert key.endswith("/output/model.tar.gz") and s3.head_object(Bucket=bucket, Key=key)["ContentLength"] > 0
        assert first["labelingJobOutput"]["outputDatasetS3Uri"] == (
            f"s3://{cloud.bucket}/jobs/first/output/manifests/output/output.manifest")
        summary = s3.get_object(Bucket=cloud.bucket, Key="jobs/first/output/report.md")["Body"].read().decode()
        assert f"`{model['modelName']}`, the model of iteration 0" in summary
        trained_by_first = _training_jobs(sagemaker)
        assert len(trained_by_first) == 1

        # (b) a second job from that model: iteration 0 transforms with it and trains none; iteration 1 trains
        second = _run_job(cloud, gateway, "second", headlines, InitialActiveLearningModelArn=model["modelArn"],
                          StoppingConditions={"MaxHumanLabeledObjectCount": 230})
        trained_by_second = sorted(set(_training_jobs(sagemaker)) - set(trained_by_first))
        assert len(trained_by_second) == 1 and trained_by_second[0].startswith("second-")
        assert trained_by_second[0].endswith("-1-train")  # iteration 1's; none for iteration 0
        rows = second["iterations"]
        assert [(row["iteration"], row["initialModel"], row["modelTrained"]) for row in rows] == [
            (0, True, False), (1, False, True)]
        assert rows[0]["trainingSeconds"] == 0.0 and rows[0]["threshold"] is not None
        assert second["totals"]["modelsTrained"] == 1
        final = second["finalActiveLearningModel"]
        assert final["iteration"] == 1 and final["modelName"].startswith("second-")
        assert sagemaker.describe_model(ModelName=final["modelName"])["ModelArn"] == final["modelArn"]
        transforms = sagemaker.list_transform_jobs(MaxResults=100)["TransformJobSummaries"]
        iteration_0 = [sagemaker.describe_transform_job(TransformJobName=t["TransformJobName"])
                       for t in transforms if t["TransformJobName"].startswith("second-")
                       and "-0-" in t["TransformJobName"]]
        assert {t["ModelName"] for t in iteration_0} == {model["modelName"]} and len(iteration_0) == 2
        summary = s3.get_object(Bucket=cloud.bucket, Key="jobs/second/output/report.md")["Body"].read().decode()
        assert f"Iteration 0 labeled with the initial model `{model['modelArn']}`" in summary

        # (c) `autolabel model deploy` serves that model, as SageMaker made it, on an endpoint
        cloud.serve_as_stack("FinalModelStack")
        assert cli.main(["model", "deploy", "second", "--stack", "FinalModelStack"]) == 0
        endpoint = sagemaker.describe_endpoint(EndpointName="second-iteration-1")
        assert endpoint["EndpointStatus"] == "InService"
        (variant,) = sagemaker.describe_endpoint_config(
            EndpointConfigName=endpoint["EndpointConfigName"])["ProductionVariants"]
        assert variant["ModelName"] == final["modelName"] and variant["InstanceType"] == "ml.m4.xlarge"
