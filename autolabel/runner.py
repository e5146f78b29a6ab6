"""`autolabel run`: one labeling job on the local cloud, from upload to output folder.

Everything a user can get wrong is checked before the local cloud starts (the labels,
the settings, the answers, the output folder), and every message names the user's own
file and line: the staged copies keep the user's lines 1:1, and what the pipeline says
about the job's S3 objects is translated back to the files they came from.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, TextIO

import boto3

from autolabel import executions
from autolabel.localcloud import engine
from autolabel.localcloud.cloud import LocalCloud, SynthesizedApp, synthesize
from autolabel.localcloud.gateway import GatewayError, LocalGateway, check_port
from autolabel.localcloud.workforce import AnswersError, SimulatedWorkforce, load_answers, missing_answers
from autolabel.media import MediaStager
from autolabel.output_folder import WORKDIR, OutputFolder, OutputFolderError
from autolabel.run_errors import RunError, RunStopped
from autolabel.run_record import (
    RECORD,
    RunRecord,
    find_workdir,
    input_fingerprints,
    request_fields,
    request_values,
)
from labeling.layout import JOB_NAME, JobLayout, s3_uri
from labeling.logic.job_setup import JobSetupError, parse_job_config, parse_label_categories
from labeling.models.job import JobConfig, LabelCategories
from labeling.task_types import task_type

# The job.json fields `autolabel run` sets from its options: messages name the option.
SETTING_OPTIONS = {
    "TaskType": "--task-type",
    "TargetAccuracy": "--target-accuracy",
    "TargetMeanIoU": "--target-mean-iou",
    "MaxConcurrentTaskCount": "--human-batch-size",
    "CalibrationSampleSize": "--calibration-sample-size",
    "MaxInvalidLinePercentage": "--max-invalid-line-percentage",
    "Seed": "--seed",
    "Promise": "--promise",
}
# What the user calls the job.json that the run writes for them.
JOB_SETTINGS = "the job settings (command-line options)"
LABELS_EXAMPLE = json.dumps({"document-version": "2018-11-28", "labels": [{"label": "a"}, {"label": "b"}]})
# The pipeline's errors about what the user gave; any other error's name is worth showing.
INPUT_ERRORS = {"JobSetupError", "ManifestError", "InvalidJobName", "InvalidJobNameError"}
# The workdir's folder of the run's copies of its input files.
STAGING = "inputs"
# Who answers human tasks: known answers through the task API, or people at the labeling page.
WORKFORCES = ("simulated", "web")
MAX_WORKERS = 50


@dataclass
class RunRequest:
    manifest: Path
    task_type: str
    labels: Path
    output: Path
    answers: Path | None = None
    workforce: str = "simulated"
    target_accuracy: float | None = None  # None: job.json's default (TargetAccuracy 0.95)
    target_mean_iou: float | None = None  # object detection's target (job.json's TargetMeanIoU, default 0.6)
    job_name: str | None = None
    seed: int = 0
    settings: dict[str, Any] | None = None  # further job.json fields
    settings_file: str | None = None  # the job.json `settings` came from with the options (run --job-config)
    workdir: Path | None = None
    overwrite: bool = False  # replace what an earlier run wrote in `output` (output_folder.py)
    port: int | None = None  # the local gateway's port on 127.0.0.1 (None: a free one)
    workers: int | None = None  # workers (web: sign-in links); None: NumberOfHumanWorkersPerDataObject


def default_job_name(manifest: Path) -> str:
    name = re.sub(r"[^a-zA-Z0-9-]+", "-", manifest.stem).strip("-")[:40].strip("-")
    return name or "labeling-job"


# ------------------------------------------------------------ checks ----

def _check_request(request: RunRequest) -> str:
    """The job's name, once the files and the workforce are there; refuses what cannot start."""
    if request.workforce not in WORKFORCES:
        raise RunError(f"workforce {request.workforce!r} is not one of {', '.join(WORKFORCES)}")
    if request.port is not None and not 1 <= request.port <= 65535:
        raise RunError(f"--port {request.port} is not a port; give 1 to 65535, or leave it out for a free one")
    if request.workers is not None and not 1 <= request.workers <= MAX_WORKERS:
        raise RunError(f"--workers {request.workers}: give 1 to {MAX_WORKERS} workers")
    for what, path in (("manifest", request.manifest), ("labels", request.labels), ("answers", request.answers)):
        if path is not None and not path.is_file():
            state = "is a folder, not a file" if path.is_dir() else "does not exist"
            raise RunError(f"{what} file {path} {state}")
        if path is not None and not os.access(path, os.R_OK):
            raise RunError(f"{what} file {path} cannot be read (permission denied)")
    if request.answers is None and request.workforce == "simulated":
        raise RunError("the simulated workforce answers from --answers ANSWERS.manifest; give one")
    if request.answers is not None and request.workforce == "web":
        raise RunError("--answers is for --workforce simulated; web workers answer at the labeling page")
    if request.port is not None:
        try:
            check_port(request.port)
        except GatewayError as error:
            raise RunError(str(error)) from None
    job = request.job_name or default_job_name(request.manifest)
    if not JOB_NAME.match(job):
        raise RunError(f"job name {job!r} is not allowed; give --job-name 1-40 letters, digits or hyphens, "
                       "starting and ending with a letter or digit")
    return job


def _labels(path: Path) -> tuple[LabelCategories, bytes]:
    """labels.json parsed, and as the pipeline gets it (a UTF-8 BOM, which Windows editors write, dropped)."""
    name = str(path)
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise RunError(f"labels file {name} is not UTF-8 text (byte {error.start + 1} is not); "
                       "save it as UTF-8") from None
    if not text.strip():
        raise RunError(f"labels file {name} is empty; write the label categories in it, e.g. {LABELS_EXAMPLE}")
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as error:
        raise RunError(f"labels file {name} is not valid JSON: {error.msg} at line {error.lineno} column "
                       f"{error.colno}; write the label categories as JSON, e.g. {LABELS_EXAMPLE}") from None
    try:
        labels = parse_label_categories(raw, name)
    except JobSetupError as error:
        raise RunError(_without_pydantic_words(str(error))) from None
    return labels, json.dumps(raw, ensure_ascii=False).encode()


def _without_pydantic_words(text: str) -> str:
    return text.replace("(file): ", "").replace("Value error, ", "")


def _in_cli_terms(text: str) -> str:
    """A message about job.json fields, naming the options that set them instead."""
    for field, option in SETTING_OPTIONS.items():
        text = re.sub(rf"\b{field}\b(?: in job\.json)?", option, text)
    return text


def _job_config(request: RunRequest) -> dict[str, Any]:
    config = {"TaskType": request.task_type, "Seed": request.seed,
              **({"TargetAccuracy": request.target_accuracy} if request.target_accuracy is not None else {}),
              **({"TargetMeanIoU": request.target_mean_iou} if request.target_mean_iou is not None else {}),
              **(request.settings or {})}
    try:
        parse_job_config(config, JOB_SETTINGS)  # fail here, before anything starts
    except JobSetupError as error:
        message = _without_pydantic_words(str(error)).replace(f"{JOB_SETTINGS} is invalid: ", "invalid job settings: ")
        if request.settings_file is not None:  # the field may be the file's: its job.json name says where to look
            raise RunError(f"{message} (job settings from {request.settings_file}, options overriding its fields)") \
                from None
        message = _in_cli_terms(message)
        raise RunError(message + _values_named(message, config)) from None
    return config


def _values_named(message: str, config: dict[str, Any]) -> str:
    """The values of the options a message names, defaults too: the user may not know those."""
    defaults = JobConfig.model_fields
    values = [f"{option} {config.get(field, defaults[field].default)}" for field, option in SETTING_OPTIONS.items()
              if re.search(rf"{option}\b", message) and field != "TaskType"]
    return f" (here {', '.join(values)})" if values else ""


def _workers(request: RunRequest, config: dict[str, Any]) -> int:
    """How many workers the run has: each item needs NumberOfHumanWorkersPerDataObject distinct ones."""
    needed = int(config.get("NumberOfHumanWorkersPerDataObject", JobConfig.model_fields[
        "NumberOfHumanWorkersPerDataObject"].default))
    workers = request.workers or needed
    if workers < needed:
        raise RunError(f"--workers {workers} is too few: each item needs {needed} different workers "
                       f"(NumberOfHumanWorkersPerDataObject {needed}); give --workers {needed} or more")
    return workers


def _check_output(request: RunRequest) -> OutputFolder:
    inputs = [path for path in (request.manifest, request.labels, request.answers) if path is not None]
    output = OutputFolder(request.output, overwrite=request.overwrite, keep=inputs)
    try:
        output.check()
    except OutputFolderError as error:
        raise RunError(str(error)) from None
    return output


def _workdir(path: Path | None) -> Path:
    # Absolute: the SageMaker jobs' processes run in folders of their own.
    workdir = (path or Path(tempfile.mkdtemp(prefix="autolabel-"))).absolute()
    if workdir.exists() and not workdir.is_dir():
        raise RunError(f"--workdir {path} is a file; give a folder")
    try:
        workdir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise RunError(f"--workdir {path} cannot be made: {error.strerror}") from None
    return workdir


def _check_answers(request: RunRequest, manifest: Path, answers: dict[str, Any], source_key: str,
                   bad_ref: Callable[[str], bool]) -> None:
    missing = missing_answers(manifest, answers, source_key, bad_ref=bad_ref)
    if missing:
        raise RunError(
            f"{request.answers} has no answer for {len(missing)} manifest line(s), e.g. line(s) {missing[:5]} "
            f"of {request.manifest}; the simulated workforce answers only items it knows: add a line with the "
            f"same {source_key!r} and its label to {request.answers}")


# ----------------------------------------------------------- the run ----

def _download(bucket: str, prefix: str, target: Path) -> None:
    s3 = boto3.client("s3")
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            path = target / obj["Key"][len(prefix):]
            path.parent.mkdir(parents=True, exist_ok=True)
            s3.download_file(bucket, obj["Key"], str(path))


def _in_users_terms(text: str, request: RunRequest, bucket: str, layout: JobLayout, media: MediaStager) -> str:
    """A pipeline message naming the user's files, not the S3 objects the run made of them.

    Line numbers stay right: the uploaded manifest has the user's lines 1:1 (media.py).
    """
    names = {layout.input_manifest: str(request.manifest), layout.label_categories: str(request.labels),
             layout.job_config: JOB_SETTINGS}
    for key, name in names.items():
        text = text.replace(s3_uri(bucket, key), name).replace(key, name)
    for uri, ref in sorted(media.original.items(), key=lambda item: -len(item[0])):
        if uri.startswith("s3://") and uri in text:  # an uploaded image: the reference as written
            text = text.replace(uri, ref)
    return _in_cli_terms(text)


def _failure(staged: Path, execution: dict[str, Any]) -> tuple[str | None, str]:
    """(error name, cause) of a job that did not succeed: failure.json's, else the execution's."""
    failure = staged / "failure.json"
    reason = json.loads(failure.read_text(encoding="utf-8")) if failure.exists() else execution
    cause = reason.get("cause")
    return reason.get("error"), cause if isinstance(cause, str) else json.dumps(cause)[:2000]


def _failed(job: str, execution: dict[str, Any], error: str | None, cause: str, translate: Callable[[str], str],
            logs: Path) -> RunError:
    status = execution["status"].lower().replace("_", " ")
    named = "" if error in INPUT_ERRORS or not error else f" ({error})"
    return RunError(f"job {job} {status}: {translate(cause)}{named}", logs=logs)


def _completed(job: str, report: dict[str, Any], request: RunRequest, seconds: float, out: TextIO) -> None:
    counters = report["counters"]
    print(f"job {job} complete in {seconds:.0f} s: {counters['TotalLabeled']} labeled, "
          f"{counters['HumanLabeled']} by humans, {counters['MachineLabeled']} by the model; "
          f"output in {request.output}", file=out, flush=True)
    invalid = counters.get("FailedNonRetryableError", 0)
    if invalid:
        print(f"{invalid} line(s) of {request.manifest} could not be labeled "
              f"(see {request.output / 'report.md'})", file=out, flush=True)


def _gateway(cloud: LocalCloud, request: RunRequest) -> LocalGateway:
    gateway = LocalGateway(cloud, port=request.port or 0)
    try:
        gateway.start()
    except GatewayError as error:
        raise RunError(str(error)) from None
    return gateway


def _print_sign_in(gateway: LocalGateway, workers: int, out: TextIO) -> None:
    print(f"labeling page: {gateway.base_url}/ ; each worker signs in with their own link (it works once):",
          file=out, flush=True)
    for number in range(1, workers + 1):
        print(f"worker {number}: {gateway.login_url(f'worker-{number}')}", file=out, flush=True)


def _run_job(request: RunRequest, job: str, labels: LabelCategories, labels_json: bytes, config: dict[str, Any],
             output: OutputFolder, workdir: Path, record: RunRecord, out: TextIO,
             app: SynthesizedApp | None) -> dict[str, Any]:
    source_key = task_type(request.task_type).source_key
    workers = _workers(request, config)
    simulated = request.workforce == "simulated"
    # Local image files: named by absolute path in both files, so they match wherever each lies.
    media = MediaStager()
    # The run's own copies of the inputs, in a folder of its own: a --workdir may hold the user's files.
    staging = workdir / STAGING
    staging.mkdir(parents=True, exist_ok=True)
    manifest = media.absolute_copy(request.manifest.absolute(), staging / "input.manifest")
    if simulated:
        assert request.answers is not None  # the request's checks: a simulated workforce needs --answers
        answers_file = media.absolute_copy(request.answers.absolute(), staging / "answers.manifest")
        answers = load_answers(answers_file, labels.names, name=str(request.answers), source_key=source_key)
        _check_answers(request, manifest, answers, source_key, media.is_bad)
    started = time.monotonic()
    if app is None:
        print(f"synthesizing the CDK app (workdir {workdir}) ...", file=out, flush=True)
        app = synthesize(workdir / "cdk.out")
    logs = workdir / "logs"
    stopped = False
    with engine.EngineLogs(logs / "engine.log"), LocalCloud(app, workdir, durable=True) as cloud:
        s3 = boto3.client("s3")
        layout = JobLayout(f"jobs/{job}")
        s3.put_object(Bucket=cloud.bucket, Key=layout.job_config, Body=json.dumps(config).encode())
        s3.put_object(Bucket=cloud.bucket, Key=layout.label_categories, Body=labels_json)
        manifest = media.uploaded_copy(manifest, staging / "input.uploaded.manifest", bucket=cloud.bucket,
                                       prefix=layout.media, upload=s3.upload_file)
        if simulated:
            answers = load_answers(media.named_like_uploads(answers_file, staging / "answers.uploaded.manifest"),
                                   labels.names, name=str(request.answers), source_key=source_key)
        gateway = _gateway(cloud, request)  # the task API, as workers reach it (docs/task-api.md)
        execution_arn = None
        try:
            execution_arn = executions.start_execution(cloud, job, record, manifest, layout, out)
            record.save(workdir)
            workforce = SimulatedWorkforce(answers, job=job, gateway=gateway, workers=workers) if simulated \
                else None
            if workforce:
                workforce.start()
            else:
                _print_sign_in(gateway, workers, out)
            try:
                execution = executions.wait(cloud, execution_arn, workforce, out)
            finally:
                if workforce:
                    workforce.stop()
        except KeyboardInterrupt:
            if execution_arn is None:
                raise RunStopped(f"job {job} stopped before it started; "
                                 f"continue it with: {resume_command(request, workdir)}") from None
            print(f"stopping job {job} ...", file=out, flush=True)
            execution, stopped = executions.stop(cloud, execution_arn, out), True
        finally:
            gateway.stop()
        staged = Path(tempfile.mkdtemp(prefix="output-", dir=workdir))
        _download(cloud.bucket, layout.output, staged)
        translate = partial(_in_users_terms, request=request, bucket=cloud.bucket, layout=layout, media=media)
    media.restore(staged / "manifests" / "output" / "output.manifest")
    report_file = staged / "report.json"
    report = json.loads(report_file.read_text(encoding="utf-8")) if report_file.exists() else None
    failed: RunStopped | RunError | None = None
    if stopped:
        failed = RunStopped(_stopped_message(job, report, request, workdir))
    elif execution["status"] != "SUCCEEDED" or not report:
        error, cause = _failure(staged, execution)  # read before publishing moves failure.json
        failed = _failed(job, execution, error, cause, translate, logs)
        if error not in INPUT_ERRORS:  # the user's input, which a resume cannot mend (S3 has the files checked)
            failed.args = (f"{failed}; everything labeled so far is in {request.output}; after fixing the cause, "
                           f"continue the job with: {resume_command(request, workdir)}",)
    record.history.append({"execution": execution.get("executionArn"), "status": execution["status"]})
    record.completed = failed is None
    record.save(workdir)
    for name in output.publish(staged, job):
        print(f"kept the file {request.output / name} that was there; this run's {name} is {staged / name}",
              file=out, flush=True)
    if failed:
        raise failed
    assert report is not None  # a run without report.json failed above
    _completed(job, report, request, time.monotonic() - started, out)
    _tidy(workdir)
    return report


def _stopped_message(job: str, report: dict[str, Any] | None, request: RunRequest, workdir: Path) -> str:
    done = ""
    if report:
        counters = report["counters"]
        done = (f": {counters['HumanLabeled']} item(s) labeled by humans and {counters['MachineLabeled']} by the "
                f"model so far, {counters['Unlabeled']} not yet, all in {request.output}")
    return f"job {job} stopped{done}; continue it with: {resume_command(request, workdir)}"


def resume_command(request: RunRequest, workdir: Path) -> str:
    inside = request.workdir is None  # the default workdir, inside the output folder
    return f"autolabel resume {shlex.quote(str(request.output if inside else workdir))}"


def _tidy(workdir: Path) -> None:
    """A completed job's workdir keeps its logs and run record; the copy of S3 and the models go."""
    for name in ("s3", "sagemaker", "cdk.out", STAGING):
        shutil.rmtree(workdir / name, ignore_errors=True)
    for staged in workdir.glob("output-*"):
        shutil.rmtree(staged, ignore_errors=True)


def _guarded(run_job: Callable[[], dict[str, Any]], workdir: Path) -> dict[str, Any]:
    try:
        return run_job()
    except (RunError, RunStopped, AnswersError):
        raise
    except Exception as error:  # a bug, not the user's input: the details in the workdir, one line here
        log = workdir / "logs" / "autolabel-error.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(traceback.format_exc(), encoding="utf-8")
        raise RunError(f"unexpected error ({type(error).__name__}: {error}); this is a bug in autolabel, "
                       f"not in your files; the details are in {log}", logs=workdir / "logs") from None


def run(request: RunRequest, out: TextIO | None = None, app: SynthesizedApp | None = None) -> dict[str, Any]:
    """Run the job; returns report.json. Raises RunError (or AnswersError) when it cannot start or fails,
    RunStopped when Ctrl-C stopped it (`resume` continues it then, and after a failure or a kill)."""
    out = out or sys.stdout
    job = _check_request(request)
    labels, labels_json = _labels(request.labels)
    config = _job_config(request)
    output = _check_output(request)
    made = [path for path in (request.output, request.output / WORKDIR) if not path.exists()]
    workdir = _workdir(request.workdir or request.output / WORKDIR)
    # A new run of the job: what an earlier run kept here (--overwrite, or a --workdir used again) is not its.
    shutil.rmtree(workdir / "s3", ignore_errors=True)
    record = RunRecord(request=request_fields(request), job=job, inputs=input_fingerprints(request))
    record.save(workdir)
    try:
        return _guarded(lambda: _run_job(request, job, labels, labels_json, config, output, workdir, record, out,
                                         app), workdir)
    except (RunError, AnswersError) as error:
        # Refused before the job started (not a bug, whose log is kept): leave no trace.
        if not record.started and request.workdir is None and getattr(error, "logs", None) is None:
            for path in reversed(made):
                shutil.rmtree(path, ignore_errors=True)
        raise


def resume(path: Path, out: TextIO | None = None, app: SynthesizedApp | None = None) -> dict[str, Any]:
    """Continue the job that `autolabel run` left in `path` (its output folder or workdir) stopped,
    failed or killed, from its last step; returns report.json as run does."""
    out = out or sys.stdout
    workdir = find_workdir(path)
    if workdir is None:
        raise RunError(f"{path} holds no job to resume: give the --output folder of an autolabel run "
                       f"(it keeps the job in {WORKDIR}/{RECORD}), or that run's --workdir")
    try:
        record = RunRecord.load(workdir)
        request = RunRequest(**request_values(record))
    except (OSError, ValueError, TypeError) as error:
        raise RunError(f"{workdir / RECORD} cannot be read ({error}); the job cannot be resumed") from None
    if record.completed:
        raise RunError(f"job {record.job} is complete; its output is in {request.output}")
    request.port = None  # any free port now
    job = _check_request(request)  # the files are there
    changed = record.changed_inputs(request)
    if changed:
        raise RunError(f"{changed[0]} changed since job {record.job} started, and a resume needs the files it started "
                       f"with (the labels so far are of those); put them back, or start the job again with "
                       f"autolabel run ... --output {request.output} --overwrite")
    labels, labels_json = _labels(request.labels)
    config = _job_config(request)
    output = OutputFolder(request.output, overwrite=True,
                          keep=[p for p in (request.manifest, request.labels, request.answers) if p is not None])
    try:
        output.check()
    except OutputFolderError as error:
        raise RunError(str(error)) from None
    return _guarded(lambda: _run_job(request, job, labels, labels_json, config, output, workdir, record, out,
                                     app), workdir)
