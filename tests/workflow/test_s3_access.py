"""Every S3 call a job makes is one its function's IAM statements allow, as the stack synthesizes them.

The local cloud does not enforce IAM, so this test does what AWS would: while real jobs run on it
(an automated one to its end; one stopped, resumed and stopped again; one whose images sit in a
bucket the stack may not read), it records each function's S3 calls (action, bucket, key or prefix)
and evaluates each against that function's role in the synthesized template. A call no statement
allows would be AccessDenied in AWS, and fails the test; so does a function that made no call at all
(the run did not exercise it). Reading a key that is not there needs s3:ListBucket too: S3 answers
NoSuchKey only to a caller that may list the bucket, AccessDenied to any other.
"""

from __future__ import annotations

import contextvars
import io
import json
import shutil
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from fnmatch import fnmatchcase

import boto3
import pytest
from botocore.client import BaseClient
from botocore.exceptions import ClientError

from autolabel import executions
from autolabel.localcloud import engine
from autolabel.localcloud.asl import Resolver
from autolabel.localcloud.cloud import LocalCloud
from autolabel.localcloud.gateway import LocalGateway
from autolabel.runner import RunRequest, run
from labeling.dal import s3 as dal_s3
from labeling.logic import job_setup
from tests.gateway_client import call
from tests.workflow.test_local_workflow import _wait_for, headlines, upload_job  # noqa: F401

_calling = contextvars.ContextVar("calling_function", default=None)
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
FOREIGN_BUCKET = "someone-elses-images"
# S3 operations -> the IAM action each needs (CopyObject: read the source, write the target).
ACTIONS = {
    "GetObject": "s3:GetObject", "HeadObject": "s3:GetObject", "PutObject": "s3:PutObject",
    "CreateMultipartUpload": "s3:PutObject", "UploadPart": "s3:PutObject", "CompleteMultipartUpload": "s3:PutObject",
    "AbortMultipartUpload": "s3:AbortMultipartUpload", "DeleteObject": "s3:DeleteObject",
    "ListObjectsV2": "s3:ListBucket", "ListObjects": "s3:ListBucket",
}


@dataclass(frozen=True)
class Call:
    function: str
    action: str
    resource: str  # the ARN IAM evaluates: the object's, or the bucket's for a listing
    prefix: str | None = None  # a listing's s3:prefix


@pytest.fixture
def recorded(monkeypatch) -> list[Call]:
    """Each S3 call made while one of the stack's functions runs, named by that function."""
    calls: list[Call] = []
    invoke, make_api_call, submit = (engine.LambdaRegistry.invoke, BaseClient._make_api_call,
                                     ThreadPoolExecutor.submit)
    presign = dal_s3.presigned_get_url

    def invoking(self, function_name_or_arn, event):
        token = _calling.set(function_name_or_arn.split(":function:")[-1].split(":")[0])
        try:
            return invoke(self, function_name_or_arn, event)
        finally:
            _calling.reset(token)

    def calling(client, operation, params):
        function = _calling.get()
        if function is None or client.meta.service_model.service_name != "s3":
            return make_api_call(client, operation, params)
        bucket = params.get("Bucket", "")
        if operation not in ACTIONS and operation != "CopyObject":
            calls.append(Call(function, f"unexpected S3 operation {operation}", f"arn:aws:s3:::{bucket}"))
        elif operation == "CopyObject":
            source = params["CopySource"]
            calls.append(Call(function, "s3:GetObject", f"arn:aws:s3:::{source['Bucket']}/{source['Key']}"))
            calls.append(Call(function, "s3:PutObject", f"arn:aws:s3:::{bucket}/{params['Key']}"))
        elif ACTIONS[operation] == "s3:ListBucket":
            calls.append(Call(function, "s3:ListBucket", f"arn:aws:s3:::{bucket}", params.get("Prefix", "")))
        else:
            calls.append(Call(function, ACTIONS[operation], f"arn:aws:s3:::{bucket}/{params['Key']}"))
        try:
            return make_api_call(client, operation, params)
        except ClientError as error:
            if error.response["Error"]["Code"] in ("NoSuchKey", "404", "NotFound"):
                calls.append(Call(function, "s3:ListBucket", f"arn:aws:s3:::{bucket}", ""))  # a 404, not a 403
            raise

    def presigning(bucket, key, seconds):
        function = _calling.get()
        if function is not None:  # whoever holds the URL GETs the object with the signer's permissions
            calls.append(Call(function, "s3:GetObject", f"arn:aws:s3:::{bucket}/{key}"))
        return presign(bucket, key, seconds)

    def submitting(pool, fn, /, *args, **kwargs):
        return submit(pool, contextvars.copy_context().run, fn, *args, **kwargs)  # the function's own threads

    monkeypatch.setattr(engine.LambdaRegistry, "invoke", invoking)
    monkeypatch.setattr(BaseClient, "_make_api_call", calling)
    monkeypatch.setattr(ThreadPoolExecutor, "submit", submitting)
    monkeypatch.setattr(dal_s3, "presigned_get_url", presigning)
    return calls


def _statements_by_function(template) -> dict[str, list[dict]]:
    """Function logical id -> its role's statements, resolved as the local cloud names things."""
    resolve = Resolver(template)
    by_role: dict[str, list[dict]] = {}
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::IAM::Policy":
            for role in resource["Properties"]["Roles"]:
                statements = resolve(resource["Properties"]["PolicyDocument"]["Statement"])
                by_role.setdefault(role["Ref"], []).extend(statements)
    return {lid: by_role.get(r["Properties"]["Role"]["Fn::GetAtt"][0], [])
            for lid, r in template["Resources"].items() if r["Type"] == "AWS::Lambda::Function"}


def _listed(value) -> list:
    return value if isinstance(value, list) else [value]


def _conditions_hold(conditions: dict, call: Call) -> bool:
    for operator, tests in conditions.items():
        for key, patterns in tests.items():
            if key != "s3:prefix" or operator not in ("StringLike", "StringEquals") or call.prefix is None:
                return False  # a condition this evaluation does not know allows nothing
            match = fnmatchcase if operator == "StringLike" else str.__eq__
            if not any(match(call.prefix, pattern) for pattern in _listed(patterns)):
                return False
    return True


def allowed(statements: list[dict], call: Call) -> bool:
    """IAM's evaluation for Allow statements (no Deny in our policies): action and resource wildcards
    (`*` matches across `/`, as fnmatch's does) and the s3:prefix condition of a listing."""
    return any(
        statement["Effect"] == "Allow"
        and any(fnmatchcase(call.action.lower(), a.lower()) for a in _listed(statement["Action"]))
        and any(fnmatchcase(call.resource, r) for r in _listed(statement["Resource"]))
        and _conditions_hold(statement.get("Condition", {}), call)
        for statement in statements
    )


def _open_tasks(gateway: LocalGateway, job: str) -> int:
    status, body = call(gateway.base_url, "GET", "/api/jobs", gateway.mint_token("w1"), None)
    return next((j["openTasks"] for j in body.get("jobs", []) if j["job"] == job and j["openTasks"]), 0)


def _stop_and_resume_and_stop(cloud: LocalCloud, gateway: LocalGateway, lines: list[str], labels: bytes) -> None:
    """A job stopped while its first batch waits (RecordStop), resumed (ResumeJob), stopped again."""
    sfn, out = boto3.client("stepfunctions"), io.StringIO()
    layout = upload_job(cloud, "stopped", lines, labels, MaxConcurrentTaskCount=12, CalibrationSampleSize=10)
    _wait_for(lambda: _open_tasks(gateway, "stopped"))
    token = gateway.mint_token("w1")
    status, claimed = call(gateway.base_url, "POST", "/api/jobs/stopped/claim", token, None)
    assert status == 200
    task = claimed["task"]
    status, _ = call(gateway.base_url, "POST", f"/api/jobs/stopped/tasks/{task['taskId']}/answer", token,
                     {"label": "business"})
    assert status == 200
    arn = executions.wait_for_execution("stopped", cloud.state_machine_arn)
    executions.stop(cloud, arn, out)
    assert json.loads(boto3.client("s3").get_object(Bucket=cloud.bucket, Key=layout.report)["Body"].read())[
        "status"] == "Stopped"
    resumed = sfn.start_execution(stateMachineArn=cloud.state_machine_arn, name="stopped-resume-1",
                                  input=json.dumps({"resume": {"bucket": cloud.bucket, "job": "stopped"}}))
    _wait_for(lambda: any(e.get("stateEnteredEventDetails", {}).get("name") == "HumanLabeling"
                          for e in executions.history(sfn, resumed["executionArn"])))
    executions.stop(cloud, resumed["executionArn"], out)


def _refused_foreign_images(cloud: LocalCloud, labels: bytes) -> dict:
    """An image job whose source-refs name a bucket the stack may not read: ValidateJob refuses it."""
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=FOREIGN_BUCKET)
    for n in range(3):
        s3.put_object(Bucket=FOREIGN_BUCKET, Key=f"images/{n}.png", Body=PNG)
    lines = [json.dumps({"source-ref": f"s3://{FOREIGN_BUCKET}/images/{n}.png"}) for n in range(3)]
    layout = upload_job(cloud, "elsewhere", lines, labels, TaskType="image-classification")
    failure = _wait_for(lambda: dal_s3.read_json_if_present(cloud.bucket, layout.failure))
    return failure


def test_every_s3_call_of_every_function_is_allowed_by_its_own_statements(
        headlines, bbc_news, tmp_path, synthesized_app, recorded, monkeypatch):  # noqa: F811
    labels = bbc_news["labels"].read_bytes()
    lines = headlines["manifest"].read_text(encoding="utf-8").splitlines()
    with LocalCloud(synthesized_app, tmp_path / "cloud") as cloud, LocalGateway(cloud) as gateway:
        failure = _refused_foreign_images(cloud, labels)
        # An upload that names no valid job: StartJob writes its failure.json and starts nothing.
        boto3.client("s3").put_object(Bucket=cloud.bucket, Key="jobs/not_a_job/input.manifest", Body=b"{}")
        _wait_for(lambda: dal_s3.read_json_if_present(cloud.bucket, "jobs/not_a_job/output/failure.json"))
        _stop_and_resume_and_stop(cloud, gateway, lines[:20], labels)
    # The source-ref check, as the user reads it in failure.json: the manifest, the line, the bucket, the fix.
    assert failure["error"] == "ManifestError"
    cause = failure["cause"]
    assert "jobs/elsewhere/input.manifest" in cause and "line 1:" in cause and f"'{FOREIGN_BUCKET}'" in cause
    assert "dataBuckets" in cause and "copy the objects into the job bucket" in cause

    # An automated job to its end: the model steps (Ground Truth's 1,250-item floor lowered to 200), and
    # the audit of its machine labels (a low target for some to audit).
    monkeypatch.setattr(job_setup, "AUTOMATED_LABELING_MIN_ITEMS", 200)
    shutil.copytree(headlines["embedding-cache"], tmp_path / "work" / "embedding-cache")
    report = run(RunRequest(
        manifest=headlines["manifest"], task_type="text-classification", labels=headlines["labels"],
        answers=headlines["answers"], output=tmp_path / "out", workdir=tmp_path / "work", job_name="automated",
        settings={"MaxConcurrentTaskCount": 80, "CalibrationSampleSize": 60,
                  "StoppingConditions": {"MaxHumanLabeledObjectCount": 230},
                  "TargetAccuracy": 0.6, "ConfidenceLevel": 0.5, "AuditSampleSize": 10},
    ), out=io.StringIO(), app=synthesized_app)
    assert report["automatedLabeling"] is True  # a model was trained, thresholded and applied
    assert report["audit"]["status"] == "Completed"

    statements = _statements_by_function(synthesized_app.template)
    handlers = {lid: r["Properties"]["Handler"].split(".")[2]
                for lid, r in synthesized_app.template["Resources"].items()
                if r["Type"] == "AWS::Lambda::Function" and r["Properties"].get("Handler", "").startswith("labeling.")}
    denied = sorted({f"{handlers.get(c.function, c.function)}: {c.action} {c.resource}"
                     + (f" (prefix {c.prefix!r})" if c.prefix is not None else "")
                     for c in recorded if not allowed(statements.get(c.function, []), c)})
    assert denied == [], "calls AWS would deny:\n" + "\n".join(denied)
    exercised = {handlers[c.function] for c in recorded if c.function in handlers}
    assert exercised >= {
        "validate_job", "select_sample", "publish_human_tasks", "consolidate_annotations", "compute_threshold",
        "apply_threshold", "select_ambiguous", "write_output", "record_failure", "resume_job", "start_job",
        "record_stop", "task_api", "select_audit", "consolidate_audit",
    }


def test_the_evaluation_denies_what_iam_would():
    """The evaluation itself: a key outside the statement's pattern, another action, a listing outside
    its prefix condition are denied; what the statements name is allowed."""
    statements = [
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/jobs/*"},
        {"Effect": "Allow", "Action": ["s3:PutObject"], "Resource": ["arn:aws:s3:::b/jobs/*/output/report.json"]},
        {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::b",
         "Condition": {"StringLike": {"s3:prefix": ["jobs/*"]}}},
    ]
    assert allowed(statements, Call("f", "s3:GetObject", "arn:aws:s3:::b/jobs/j/x.png"))
    assert allowed(statements, Call("f", "s3:PutObject", "arn:aws:s3:::b/jobs/j/output/report.json"))
    assert allowed(statements, Call("f", "s3:ListBucket", "arn:aws:s3:::b", "jobs/j/"))
    assert not allowed(statements, Call("f", "s3:GetObject", "arn:aws:s3:::b/other/x.png"))
    assert not allowed(statements, Call("f", "s3:GetObject", "arn:aws:s3:::c/jobs/j/x.png"))
    assert not allowed(statements, Call("f", "s3:DeleteObject", "arn:aws:s3:::b/jobs/j/output/report.json"))
    assert not allowed(statements, Call("f", "s3:PutObject", "arn:aws:s3:::b/jobs/j/output/report.md"))
    assert not allowed(statements, Call("f", "s3:ListBucket", "arn:aws:s3:::b", "other/"))
    assert not allowed(statements, Call("f", "s3:ListBucket", "arn:aws:s3:::b", ""))  # a 404 needs ListBucket
