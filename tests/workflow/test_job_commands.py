"""The job commands against a deployed stack, as a user runs them: `autolabel submit`, `status`,
`stop`, `resume --stack`, `download`, `list` and `model deploy`, each a process of its own talking
to moto's server (AWS_ENDPOINT_URL), where the local cloud stands in for the deployed stack: the
uploads start the job through the stack's trigger, the simulated workforce answers through the
task API, and a stop reaches RecordStop through Step Functions' status-change event."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest

from autolabel.localcloud.asl import ACCOUNT, REGION
from autolabel.localcloud.cloud import LocalCloud
from autolabel.localcloud.gateway import LocalGateway
from autolabel.localcloud.workforce import SimulatedWorkforce, load_answers
from infra.names import STACK_NAME
from labeling.layout import JobLayout
from tests.conftest import read_jsonl

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Deployed:
    cloud: LocalCloud
    gateway: LocalGateway
    endpoint: str

    def autolabel(self, *argv: str, timeout: float = 120) -> subprocess.CompletedProcess:
        """The command line in a process of its own, configured as a user's shell is, pointed at moto's server."""
        env = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
        env.update(AWS_ENDPOINT_URL=self.endpoint, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
                   AWS_DEFAULT_REGION=REGION)
        return subprocess.run([sys.executable, "-m", "autolabel.cli", *argv], cwd=ROOT, env=env, text=True,
                              capture_output=True, timeout=timeout)

    def workforce(self, job: str, answers: Path, labels: list[str]) -> SimulatedWorkforce:
        workforce = SimulatedWorkforce(load_answers(answers, labels, source_key="source"), job=job,
                                       gateway=self.gateway)
        workforce.start()
        return workforce


@pytest.fixture(scope="module")
def deployed(synthesized_app, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("deployed")
    with LocalCloud(synthesized_app, workdir) as cloud, LocalGateway(cloud) as gateway:
        yield Deployed(cloud, gateway, cloud.serve_as_stack(STACK_NAME))


@pytest.fixture(scope="module")
def job_files(bbc_news, tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("job")
    lines = bbc_news["manifest"].read_text(encoding="utf-8").splitlines()
    for name, part in (("small", lines[:30]), ("paused", lines[30:50])):
        (folder / f"{name}.manifest").write_text("\n".join(part) + "\n", encoding="utf-8")
    (folder / "job.json").write_text(json.dumps({"TaskType": "text-classification", "MaxConcurrentTaskCount": 15,
                                                 "CalibrationSampleSize": 10}), encoding="utf-8")
    return {**bbc_news, "folder": folder}


def _labels(job_files) -> list[str]:
    return [label["label"] for label in json.loads(job_files["labels"].read_text())["labels"]]


def _ok(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 0, result.stderr
    return result.stdout


def _refused(result: subprocess.CompletedProcess) -> str:
    """A refusal: exit 1 and one line saying why, no traceback."""
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("autolabel: ") and "Traceback" not in result.stderr, result.stderr
    return lines[0]


def _submit(deployed: Deployed, job_files, job: str, *extra: str) -> subprocess.CompletedProcess:
    return deployed.autolabel("submit", str(job_files["folder"] / f"{job}.manifest"), "--labels",
                              str(job_files["labels"]), "--job-config", str(job_files["folder"] / "job.json"),
                              "--job-name", job, *extra)


def test_submit_status_download_label_every_item_of_a_job(deployed, job_files, tmp_path):
    workforce = deployed.workforce("small", job_files["answers"], _labels(job_files))
    try:
        out = _ok(_submit(deployed, job_files, "small"))
        machine = deployed.cloud.state_machine_arn.split(":")[-1]
        execution_arn = f"arn:aws:states:{REGION}:{ACCOUNT}:execution:{machine}:small"
        assert f"job small started: {execution_arn}" in out
        # The upload started the job once: one execution, named after the job.
        executions = boto3.client("stepfunctions").list_executions(
            stateMachineArn=deployed.cloud.state_machine_arn)["executions"]
        assert [e["name"] for e in executions if e["name"].startswith("small")] == ["small"]

        watched = _ok(deployed.autolabel("status", "small", "--watch", "--interval", "0.5"))
    finally:
        workforce.stop()
    assert "job small: SUCCEEDED, job Completed" in watched
    assert "labeled 30 of 30: human 30, machine 0, unlabeled 0, invalid 0" in watched
    assert "30/30" in watched  # the progress bar, full
    assert "iteration 1" in watched  # two batches of 15: iterations 0 and 1

    # A second submit of the same name is refused: the execution's name is taken for good.
    assert "has an execution already (small: SUCCEEDED)" in _refused(_submit(deployed, job_files, "small"))

    out = _ok(deployed.autolabel("download", "small", "--to", str(tmp_path / "small")))
    manifest = tmp_path / "small" / "manifests" / "output" / "output.manifest"
    assert f"downloaded {manifest}" in out
    labeled = read_jsonl(manifest)
    gold = {line["article-id"]: line["category"] for line in read_jsonl(job_files["answers"])}
    assert len(labeled) == 30 and all(line["label"] == gold[line["article-id"]] for line in labeled)
    assert all(line["label-metadata"]["human-annotated"] == "yes" for line in labeled)
    report = json.loads((tmp_path / "small" / "report.json").read_text())
    assert report["status"] == "Completed" and report["counters"]["HumanLabeled"] == 30
    assert (tmp_path / "small" / "report.md").is_file()
    # Its report.json says it trained no model (finalActiveLearningModel null): nothing to deploy.
    assert "job small trained no model" in _refused(deployed.autolabel("model", "deploy", "small"))


def test_a_stopped_job_has_its_outputs_so_far_and_resumes_to_the_end(deployed, job_files, tmp_path):
    _ok(_submit(deployed, job_files, "paused"))
    # No workforce yet: the job waits for its first human batch.
    layout = JobLayout("jobs/paused")
    s3 = boto3.client("s3")
    _wait_for(lambda: _has(s3, deployed.cloud.bucket, layout.checkpoint))

    assert "job paused stopped (ABORTED)" in _ok(deployed.autolabel("stop", "paused"))
    # RecordStop, on Step Functions' status-change event, writes the outputs so far (report.md after the rest).
    _wait_for(lambda: _has(s3, deployed.cloud.bucket, layout.report_summary))
    status = _ok(deployed.autolabel("status", "paused"))
    assert "job paused: ABORTED, job Stopped" in status and "unlabeled 20" in status
    _ok(deployed.autolabel("download", "paused", "--to", str(tmp_path / "stopped")))
    stopped = read_jsonl(tmp_path / "stopped" / "manifests" / "output" / "output.manifest")
    assert len(stopped) == 20
    assert all(line["label-metadata"]["failure-reason"].startswith("JobStopped") for line in stopped)

    out = _ok(deployed.autolabel("resume", "paused", "--stack", STACK_NAME))
    assert "job paused resuming:" in out
    resumed_arn = out.split("resuming: ")[1].split()[0]
    assert resumed_arn.endswith(":paused-resume-1")
    # Workers come back once the batch waits on the resumed execution's token: moto answers the stopped
    # execution's token with InvalidToken (not a "no longer waiting" error), which the task API does not expect.
    _wait_for(lambda: any(event["type"] == "TaskSubmitted" for event in boto3.client("stepfunctions")
                          .get_execution_history(executionArn=resumed_arn)["events"]))
    workforce = deployed.workforce("paused", job_files["answers"], _labels(job_files))
    try:
        watched = _ok(deployed.autolabel("status", "paused", "--watch", "--interval", "0.5"))
    finally:
        workforce.stop()
    assert "job paused: SUCCEEDED, job Completed" in watched and "labeled 20 of 20" in watched
    _ok(deployed.autolabel("download", "paused", "--to", str(tmp_path / "resumed")))
    resumed = read_jsonl(tmp_path / "resumed" / "manifests" / "output" / "output.manifest")
    assert len(resumed) == 20 and all("failure-reason" not in line["label-metadata"] for line in resumed)
    listed = _ok(deployed.autolabel("list")).splitlines()
    assert listed[0].split() == ["job", "status", "latest", "execution"]
    assert ["paused", "SUCCEEDED", "paused-resume-1"] in [line.split() for line in listed]


def test_model_deploy_creates_an_endpoint_for_the_jobs_final_model(deployed):
    """A model-trained job takes 1,250 items and minutes; the final model here is one made in moto's
    SageMaker, named in report.json as WriteOutput names it (finalActiveLearningModel)."""
    sagemaker, s3 = boto3.client("sagemaker"), boto3.client("s3")
    bucket = deployed.cloud.bucket
    artifacts = f"s3://{bucket}/jobs/trained/output/training/models/iteration-2/output/model.tar.gz"
    model = sagemaker.create_model(
        ModelName="trained-it2-model", ExecutionRoleArn=f"arn:aws:iam::{ACCOUNT}:role/sagemaker",
        PrimaryContainer={"Image": f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/text:latest", "ModelDataUrl": artifacts})
    report = {"job": "trained", "status": "Completed", "automatedLabeling": True, "finalActiveLearningModel": {
        "iteration": 2, "modelName": "trained-it2-model", "modelArn": model["ModelArn"], "modelArtifacts": artifacts,
        "taskType": "text-classification", "inferenceInstanceType": "ml.m4.xlarge"}}
    s3.put_object(Bucket=bucket, Key=JobLayout("jobs/trained").report, Body=json.dumps(report).encode())

    out = _ok(deployed.autolabel("model", "deploy", "trained"))
    assert "endpoint trained-iteration-2: InService" in out
    endpoint = sagemaker.describe_endpoint(EndpointName="trained-iteration-2")
    assert endpoint["EndpointStatus"] == "InService"
    (variant,) = sagemaker.describe_endpoint_config(
        EndpointConfigName=endpoint["EndpointConfigName"])["ProductionVariants"]
    assert (variant["ModelName"], variant["InstanceType"], variant["InitialInstanceCount"]) == (
        "trained-it2-model", "ml.m4.xlarge", 1)
    assert "exists already" in _refused(deployed.autolabel("model", "deploy", "trained"))


def _has(s3, bucket: str, key: str) -> bool:
    return s3.list_objects_v2(Bucket=bucket, Prefix=key).get("KeyCount", 0) > 0


def _wait_for(predicate, timeout: float = 60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError("timed out")
