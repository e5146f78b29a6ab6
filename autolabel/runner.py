"""`autolabel run`: one labeling job on the local cloud, from upload to output folder."""

from __future__ import annotations

import json
import re
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import boto3

from autolabel.localcloud.asl import ACCOUNT, REGION
from autolabel.localcloud.cloud import LocalCloud, SynthesizedApp, synthesize
from autolabel.localcloud.workforce import ITEM_KEYS, SimulatedWorkforce, load_answers, missing_answers
from autolabel.media import MediaError, MediaStager
from labeling.layout import JobLayout
from labeling.logic.job_setup import JobSetupError, parse_job_config, parse_label_categories

# States after which the job's counts are worth showing.
PROGRESS_STATES = {"SelectSample", "ConsolidateAnnotations", "ApplyThreshold", "SelectAmbiguous"}


class RunError(RuntimeError):
    """The run could not start or did not complete; the message says why."""


@dataclass
class RunRequest:
    manifest: Path
    task_type: str
    labels: Path
    output: Path
    answers: Path | None = None
    workforce: str = "simulated"
    target_accuracy: float = 0.95
    target_mean_iou: float | None = None  # object detection's target (job.json's TargetMeanIoU, default 0.6)
    job_name: str | None = None
    seed: int = 0
    settings: dict[str, Any] | None = None  # further job.json fields
    workdir: Path | None = None


def default_job_name(manifest: Path) -> str:
    name = re.sub(r"[^a-zA-Z0-9-]+", "-", manifest.stem).strip("-")[:40].strip("-")
    return name or "labeling-job"


def _answerable_items(lines):
    """Manifest items the workforce will be asked about; bad lines are ValidateJob's to report."""
    for line in lines:
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict) and any(key in record for key in ITEM_KEYS):
            yield record


def _job_config(request: RunRequest) -> dict[str, Any]:
    config = {"TaskType": request.task_type, "TargetAccuracy": request.target_accuracy, "Seed": request.seed,
              **({"TargetMeanIoU": request.target_mean_iou} if request.target_mean_iou is not None else {}),
              **(request.settings or {})}
    parse_job_config(config, "the job settings")  # fail here, before anything starts
    return config


def _print_progress(out: TextIO, state: str, output: dict[str, Any]) -> None:
    counts = output.get("counts", {})
    line = (f"[{state:>22}] iteration {output.get('iteration', 0)}: human {counts.get('humanLabeled', 0)}, "
            f"machine {counts.get('machineLabeled', 0)}, in human batch {counts.get('inHumanBatch', 0)}, "
            f"unlabeled pool {counts.get('pool', 0)} of {counts.get('total', '?')}")
    threshold = output.get("threshold")
    if state == "ApplyThreshold" and threshold:
        value = threshold.get("value")
        line += (f"; threshold {value:.3f} (calibration {threshold['measure']} "
                 f"{threshold['estimate']:.3f}, "
                 f"lower bound {threshold.get('lowerBound'):.3f})" if value is not None
                 else "; no threshold met the target: nothing machine-labeled")
    print(line, file=out, flush=True)


def _history(sfn, execution_arn: str) -> list[dict]:
    events, token = [], None
    while True:
        page = sfn.get_execution_history(executionArn=execution_arn, maxResults=1000,
                                         **({"nextToken": token} if token else {}))
        events.extend(page["events"])
        token = page.get("nextToken")
        if not token:
            return events


def _wait(cloud: LocalCloud, execution_arn: str, workforce: SimulatedWorkforce | None, out: TextIO) -> dict:
    sfn = boto3.client("stepfunctions")
    seen = 0
    while True:
        described = sfn.describe_execution(executionArn=execution_arn)
        events = _history(sfn, execution_arn)
        for event in events[seen:]:
            details = event.get("stateExitedEventDetails")
            if details and details["name"] in PROGRESS_STATES:
                _print_progress(out, details["name"], json.loads(details.get("output") or "{}"))
        seen = len(events)
        if described["status"] != "RUNNING":
            return described
        if workforce and workforce.errors:
            raise RunError(f"the simulated workforce stopped: {workforce.errors[0]}")
        time.sleep(0.5)


def _wait_for_execution(job: str, state_machine_arn: str, timeout: float = 60) -> str:
    sfn = boto3.client("stepfunctions")
    arn = f"arn:aws:states:{REGION}:{ACCOUNT}:execution:{state_machine_arn.rsplit(':', 1)[-1]}:{job}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        executions = sfn.list_executions(stateMachineArn=state_machine_arn)["executions"]
        if any(e["executionArn"] == arn for e in executions):
            return arn
        time.sleep(0.1)
    raise RunError(f"no execution started for job {job}; the upload trigger did not fire")


def _download(bucket: str, prefix: str, target: Path) -> None:
    s3 = boto3.client("s3")
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            path = target / obj["Key"][len(prefix):]
            path.parent.mkdir(parents=True, exist_ok=True)
            s3.download_file(bucket, obj["Key"], str(path))


def run(request: RunRequest, out: TextIO | None = None, app: SynthesizedApp | None = None) -> dict[str, Any]:
    """Run the job; returns report.json. Raises RunError when it cannot start or fails."""
    out = out or sys.stdout
    if request.workforce != "simulated":
        raise RunError(f"workforce {request.workforce!r} is not available yet; use --workforce simulated")
    for what, path in (("manifest", request.manifest), ("labels", request.labels), ("answers", request.answers)):
        if path is not None and not path.is_file():
            raise RunError(f"{what} file {path} does not exist")
    if request.answers is None:
        raise RunError("the simulated workforce answers from --answers ANSWERS.manifest; give one")
    try:
        labels = parse_label_categories(json.loads(request.labels.read_text()), str(request.labels))
        config = _job_config(request)
    except (JobSetupError, json.JSONDecodeError) as error:
        raise RunError(str(error)) from None
    job = request.job_name or default_job_name(request.manifest)
    workdir = request.workdir or Path(tempfile.mkdtemp(prefix="autolabel-"))
    workdir.mkdir(parents=True, exist_ok=True)
    # Local image files: named by absolute path in both files, so they match wherever each lies.
    media = MediaStager()
    try:
        manifest = media.absolute_copy(request.manifest, workdir / "input.manifest", what=str(request.manifest),
                                       must_exist=True)
        answers_file = media.absolute_copy(request.answers, workdir / "answers.manifest",
                                           what=str(request.answers), must_exist=False)
    except MediaError as error:
        raise RunError(str(error)) from None
    answers = load_answers(answers_file, labels.names)
    with manifest.open(encoding="utf-8") as lines:
        missing = missing_answers(_answerable_items(lines), answers)
    if missing:
        raise RunError(f"{request.answers} has no answer for {len(missing)} manifest line(s), e.g. line(s) "
                       f"{missing[:5]}; the simulated workforce can only answer items it knows")
    started = time.monotonic()
    if app is None:
        print(f"synthesizing the CDK app (workdir {workdir}) ...", file=out, flush=True)
        app = synthesize(workdir / "cdk.out")
    with LocalCloud(app, workdir) as cloud:
        s3 = boto3.client("s3")
        layout = JobLayout(f"jobs/{job}")
        s3.put_object(Bucket=cloud.bucket, Key=layout.job_config, Body=json.dumps(config).encode())
        s3.put_object(Bucket=cloud.bucket, Key=layout.label_categories, Body=request.labels.read_bytes())
        manifest = media.uploaded_copy(manifest, workdir / "input.uploaded.manifest", bucket=cloud.bucket,
                                       prefix=layout.prefix + "data", upload=s3.upload_file)
        answers = load_answers(media.named_like_uploads(answers_file, workdir / "answers.uploaded.manifest"),
                               labels.names)
        s3.upload_file(str(manifest), cloud.bucket, layout.input_manifest)  # the trigger
        print(f"uploaded s3://{cloud.bucket}/{layout.input_manifest}; job {job} starting", file=out, flush=True)
        workforce = SimulatedWorkforce(
            answers, job=job, list_function=cloud.function("ListTasksFunction"),
            submit_function=cloud.function("SubmitAnswerFunction"),
            workers=int(config.get("NumberOfHumanWorkersPerDataObject", 1)),
        )
        workforce.start()
        try:
            execution = _wait(cloud, _wait_for_execution(job, cloud.state_machine_arn), workforce, out)
        finally:
            workforce.stop()
        if request.output.exists():
            shutil.rmtree(request.output)
        _download(cloud.bucket, layout.output, request.output)
        media.restore(request.output / "manifests" / "output" / "output.manifest")
        if execution["status"] != "SUCCEEDED":
            failure = request.output / "failure.json"
            reason = json.loads(failure.read_text()) if failure.exists() else execution
            raise RunError(f"job {job} {execution['status']}: {reason.get('error')}: {reason.get('cause')}")
    report = json.loads((request.output / "report.json").read_text())
    counters = report["counters"]
    print(f"job {job} complete in {time.monotonic() - started:.0f} s: {counters['TotalLabeled']} labeled, "
          f"{counters['HumanLabeled']} by humans, {counters['MachineLabeled']} by the model; "
          f"output in {request.output}", file=out, flush=True)
    return report
