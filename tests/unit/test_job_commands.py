"""The job commands' checks and refusals against moto's in-process AWS: what a user can get wrong
is one line naming the fix, nothing is uploaded before the checks pass, a download never replaces a
user's file unless told, status reads a running job's checkpoint. (Whole jobs through moto's server:
tests/workflow/test_job_commands.py.)"""

from __future__ import annotations

import json
import threading
import time

import boto3
import pytest
from moto import mock_aws

from autolabel import cli
from infra.names import STACK_NAME
from labeling.layout import JobLayout

REGION = "us-east-1"
BUCKET = "jobs-bucket"
LABELS = {"document-version": "2018-11-28", "labels": [{"label": "cat"}, {"label": "dog"}]}
PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 32


@pytest.fixture
def stack(monkeypatch):
    """A stand-in for the deployed stack: its bucket, a state machine (moto runs none of it) and the outputs."""
    for key in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws():
        boto3.client("s3").create_bucket(Bucket=BUCKET)
        machine = boto3.client("stepfunctions").create_state_machine(
            name="Workflow", roleArn="arn:aws:iam::123456789012:role/sfn",
            definition=json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}}),
        )["stateMachineArn"]
        template = {"Resources": {"StandIn": {"Type": "AWS::SQS::Queue"}},
                    "Outputs": {"JobsBucket": {"Value": BUCKET}, "StateMachine": {"Value": machine}}}
        boto3.client("cloudformation").create_stack(StackName=STACK_NAME, TemplateBody=json.dumps(template))
        yield machine


@pytest.fixture
def files(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "a.png").write_bytes(PNG)
    (tmp_path / "input.manifest").write_text(
        json.dumps({"source-ref": "images/a.png"}) + "\n" + json.dumps({"source-ref": f"s3://{BUCKET}/b.png"}) + "\n")
    (tmp_path / "labels.json").write_text(json.dumps(LABELS))
    (tmp_path / "job.json").write_text(json.dumps({"TaskType": "image-classification"}))
    return tmp_path


def _main(argv, capsys) -> tuple[int, str, str]:
    code = cli.main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _refused(argv, capsys) -> str:
    code, _, err = _main(argv, capsys)
    lines = err.strip().splitlines()
    assert code == 1 and len(lines) == 1 and lines[0].startswith("autolabel: "), err
    return lines[0]


def _keys(prefix: str = "") -> list[str]:
    return [o["Key"] for o in boto3.client("s3").list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", [])]


def _put(key: str, body: bytes | str | dict) -> None:
    data = json.dumps(body) if isinstance(body, dict) else body
    boto3.client("s3").put_object(Bucket=BUCKET, Key=key, Body=data.encode() if isinstance(data, str) else data)


def _submit(files, *extra) -> list[str]:
    return ["submit", str(files / "input.manifest"), "--labels", str(files / "labels.json"),
            "--job-config", str(files / "job.json"), "--job-name", "pets", *extra]


class Trigger:
    """What the stack's trigger does with an upload of input.manifest: StartJob's execution, named after the
    job. It notes which of the job's files were there when the manifest arrived."""

    def __init__(self, machine: str):
        self.machine, self.seen_with_manifest = machine, None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def __enter__(self) -> Trigger:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _watch(self):
        layout = JobLayout("jobs/pets")
        while not self._stop.is_set():
            keys = _keys(layout.prefix)
            if layout.input_manifest in keys:
                self.seen_with_manifest = keys
                boto3.client("stepfunctions").start_execution(stateMachineArn=self.machine, name="pets",
                                                              input=json.dumps({"bucket": BUCKET}))
                return
            time.sleep(0.05)


def test_submit_uploads_local_images_then_the_settings_and_the_manifest_last(stack, files, capsys):
    with Trigger(stack) as trigger:
        code, out, err = _main(_submit(files, "--human-batch-size", "200"), capsys)
    assert code == 0, err
    layout = JobLayout("jobs/pets")
    assert f"job pets started: {stack.replace(':stateMachine:', ':execution:')}:pets" in out
    (image,) = _keys(layout.media)
    assert sorted(trigger.seen_with_manifest) == sorted([image, layout.media_references, layout.job_config,
                                                        layout.label_categories, layout.input_manifest])
    body = boto3.client("s3").get_object(Bucket=BUCKET, Key=layout.input_manifest)["Body"].read().decode()
    # The local image is named by the S3 URI it was uploaded to; an S3 reference stays as written.
    assert [json.loads(line)["source-ref"] for line in body.splitlines()] == [
        f"s3://{BUCKET}/{image}", f"s3://{BUCKET}/b.png"]
    config = json.loads(boto3.client("s3").get_object(Bucket=BUCKET, Key=layout.job_config)["Body"].read())
    assert config == {"TaskType": "image-classification", "MaxConcurrentTaskCount": 200}

    # The job's output names the uploaded copy; the downloaded manifest gives the reference as written back.
    _put(layout.output_manifest, "".join(json.dumps({"source-ref": ref, "label": 0}) + "\n" for ref in (
        f"s3://{BUCKET}/{image}", f"s3://{BUCKET}/b.png")))
    sfn = boto3.client("stepfunctions")
    sfn.stop_execution(executionArn=sfn.list_executions(stateMachineArn=stack)["executions"][0]["executionArn"])
    assert _main(["download", "pets", "--to", str(files / "out")], capsys)[0] == 0
    downloaded = (files / "out" / "manifests" / "output" / "output.manifest").read_text().splitlines()
    assert [json.loads(line)["source-ref"] for line in downloaded] == ["images/a.png", f"s3://{BUCKET}/b.png"]


def test_bad_settings_are_refused_naming_the_file_before_anything_is_uploaded(stack, files, capsys):
    (files / "job.json").write_text(json.dumps({"TaskType": "image-classification", "TargetAccuracy": 2}))
    message = _refused(_submit(files), capsys)
    assert str(files / "job.json") in message and "TargetAccuracy" in message
    (files / "labels.json").write_text("{")
    assert f"labels file {files / 'labels.json'} is not valid JSON" in _refused(_submit(files), capsys)
    assert _keys() == []


def test_an_earlier_unstarted_upload_is_replaced_only_when_told(stack, files, capsys):
    _put("jobs/pets/output/old.json", {"old": True})
    assert "pass --overwrite" in _refused(_submit(files), capsys)
    message = _refused(_submit(files, "--overwrite", "--wait-seconds", "0"), capsys)
    assert "job pets did not start within 0 s of the upload" in message  # nothing starts jobs here
    assert "jobs/pets/output/old.json" not in _keys() and "jobs/pets/input.manifest" in _keys()


def test_status_of_a_running_job_reads_its_checkpoint(stack, capsys):
    boto3.client("stepfunctions").start_execution(stateMachineArn=stack, name="pets", input="{}")
    _put(JobLayout("jobs/pets").checkpoint, {"after": "ApplyThreshold", "state": {
        "iteration": 2, "counts": {"total": 200, "invalid": 3, "humanLabeled": 100, "machineLabeled": 20},
        "threshold": {"value": 0.9, "measure": "accuracy", "estimate": 0.982, "lowerBound": 0.951}}})
    code, out, _ = _main(["status", "pets"], capsys)
    assert code == 0
    assert out.splitlines() == [
        "job pets: RUNNING (execution pets)", "iteration 2, last step ApplyThreshold",
        "labeled 120 of 200: human 100, machine 20, unlabeled 80, invalid 3",
        "threshold: 0.900, estimated accuracy 0.982 (lower bound 0.951)",
        "machine labels' estimated accuracy: 0.982"]


def test_download_waits_for_the_end_and_never_replaces_a_users_file_unless_told(stack, tmp_path, capsys):
    sfn = boto3.client("stepfunctions")
    arn = sfn.start_execution(stateMachineArn=stack, name="pets", input="{}")["executionArn"]
    layout = JobLayout("jobs/pets")
    _put(layout.output_manifest, '{"source": "a", "label": 0}\n')
    _put(layout.report, {"status": "Stopped"})
    assert "job pets is still running" in _refused(["download", "pets", "--to", str(tmp_path / "out")], capsys)
    sfn.stop_execution(executionArn=arn)
    code, out, _ = _main(["download", "pets", "--to", str(tmp_path / "out")], capsys)
    manifest = tmp_path / "out" / "manifests" / "output" / "output.manifest"
    assert code == 0 and manifest.read_text() == '{"source": "a", "label": 0}\n'
    assert json.loads((tmp_path / "out" / "report.json").read_text()) == {"status": "Stopped"}
    manifest.write_text("mine\n")
    (tmp_path / "out" / "notes.txt").write_text("mine\n")
    assert "output.manifest exists" in _refused(["download", "pets", "--to", str(tmp_path / "out")], capsys)
    assert manifest.read_text() == "mine\n"
    assert _main(["download", "pets", "--to", str(tmp_path / "out"), "--overwrite"], capsys)[0] == 0
    assert manifest.read_text().startswith('{"source": "a"')
    assert (tmp_path / "out" / "notes.txt").read_text() == "mine\n"  # not the job's: untouched


def test_what_a_user_can_get_wrong_is_one_line(stack, capsys):
    assert "there is no stack 'Elsewhere'" in _refused(["list", "--stack", "Elsewhere"], capsys)
    assert "there is no job 'nothing'" in _refused(["status", "nothing"], capsys)
    _put(JobLayout("jobs/humans").report, {"status": "Completed", "automatedLabeling": False,
                                            "finalActiveLearningModel": None})
    assert "job humans trained no model" in _refused(["model", "deploy", "humans"], capsys)
    assert "job humans never started" in _refused(["resume", "humans", "--stack", STACK_NAME], capsys)
    assert "job humans is not running" in _refused(["stop", "humans"], capsys)


def test_no_credentials_is_one_line_saying_how_to_configure_them(no_aws_credentials, capsys):
    assert _refused(["list", "--region", REGION], capsys).startswith("autolabel: no AWS credentials found")


def test_a_mistyped_manifest_is_named_before_the_stack_is_looked_up(no_aws_credentials, tmp_path, capsys):
    missing = tmp_path / "input.manifest"
    message = _refused(["submit", str(missing), "--labels", str(tmp_path / "labels.json"), "--region", REGION], capsys)
    assert message == f"autolabel: manifest file {missing} does not exist"
