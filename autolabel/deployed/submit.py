"""`autolabel submit`: a job's files to the deployed stack's bucket, in the order that starts it once.

Local images the manifest names are uploaded first (under the job's prefix, the manifest then
naming them by S3 URI, as `autolabel run` stages them: media.py), then job.json and labels.json,
and input.manifest last: its upload is the trigger (S3 -> EventBridge -> Uploads queue ->
StartJob, which names the execution after the job). Submit does not start the execution itself:
the trigger does, and a second start would only be refused. It then waits for that execution
to appear and reports its ARN.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from botocore.exceptions import ClientError

from autolabel.deployed.stack import DeployedError, DeployedStack, aws_errors, has_objects, job_executions, job_keys
from autolabel.job_settings_file import JobSettingsFileError, read_job_settings
from autolabel.media import MediaStager
from autolabel.run_errors import RunError

# The runner's checks of labels.json and of messages about job.json, so both commands say the same.
from autolabel.runner import _in_cli_terms, _labels, _without_pydantic_words, default_job_name
from labeling.layout import JOB_NAME
from labeling.logic.job_setup import JobSetupError, parse_job_config

# What a message calls the job settings when no job.json file was given.
OPTIONS = "the job settings (command-line options)"


@dataclass
class Submission:
    manifest: Path
    labels: Path
    job_config: Path | None = None  # a job.json; the options in `settings` override its fields
    settings: dict[str, Any] = field(default_factory=dict)
    job_name: str | None = None
    overwrite: bool = False  # replace the files of a job name that has files but no execution
    wait_seconds: float = 60.0


def _checked_file(what: str, path: Path) -> None:
    if not path.is_file():
        raise DeployedError(f"{what} file {path} {'is a folder, not a file' if path.is_dir() else 'does not exist'}")


def job_config(submission: Submission) -> dict[str, Any]:
    """job.json as the pipeline gets it: the file's fields, the options', checked as ValidateJob checks."""
    name, config = OPTIONS, {}
    if submission.job_config is not None:
        name = str(submission.job_config)
        try:
            config = read_job_settings(submission.job_config)
        except JobSettingsFileError as error:
            raise DeployedError(str(error)) from None
    config = {**config, **submission.settings}
    if "TaskType" not in config:
        raise DeployedError(f"no task type: give --task-type, or TaskType in {name}")
    try:
        parse_job_config(config, name)
    except JobSetupError as error:
        message = _without_pydantic_words(str(error))
        raise DeployedError(_in_cli_terms(message) if submission.job_config is None else message) from None
    return config


def _job_name(submission: Submission) -> str:
    job = submission.job_name or default_job_name(submission.manifest)
    if not JOB_NAME.match(job):
        raise DeployedError(f"job name {job!r} is not allowed; give --job-name 1-40 letters, digits or hyphens, "
                            "starting and ending with a letter or digit")
    return job


def _check_unused(stack: DeployedStack, job: str, overwrite: bool) -> list[str]:
    """The keys an earlier, unstarted upload of the job left (to replace with --overwrite)."""
    executions = job_executions(stack, job)
    if executions:
        latest = executions[-1]
        raise DeployedError(
            f"job {job} has an execution already ({latest['name']}: {latest['status']}), and Step Functions keeps "
            f"an execution's name: give another --job-name, or follow it with autolabel status {job} --stack "
            f"{stack.name} (continue a stopped or failed one with autolabel resume {job} --stack {stack.name})")
    layout = stack.layout(job)
    if not has_objects(stack, layout.prefix):
        return []
    if not overwrite:
        raise DeployedError(f"s3://{stack.bucket}/{layout.prefix} holds files of a job {job} that never started; "
                            "pass --overwrite to replace them, or give another --job-name")
    return job_keys(stack, layout.prefix)


def submit(connect: Callable[[], DeployedStack], submission: Submission, out: TextIO) -> str:
    """Check the user's files, then upload the job to the stack `connect` finds and wait for its
    execution; its ARN. A mistyped path is named before any AWS call can fail on the user's setup."""
    _checked_file("manifest", submission.manifest)
    _checked_file("labels", submission.labels)
    job = _job_name(submission)
    try:
        labels, labels_json = _labels(submission.labels)
    except RunError as error:
        raise DeployedError(str(error)) from None
    config = job_config(submission)
    stack = connect()
    earlier = _check_unused(stack, job, submission.overwrite)
    layout = stack.layout(job)
    s3 = stack.client("s3")
    with aws_errors(f"s3:PutObject and s3:DeleteObject on s3://{stack.bucket}/{layout.prefix}*"):
        for start in range(0, len(earlier), 1000):  # DeleteObjects takes 1,000 keys a call
            batch = [{"Key": key} for key in earlier[start:start + 1000]]
            s3.delete_objects(Bucket=stack.bucket, Delete={"Objects": batch})
        if earlier:
            print(f"removed the {len(earlier)} file(s) of the earlier, unstarted job {job} (--overwrite)", file=out)
        media = MediaStager()
        with tempfile.TemporaryDirectory(prefix="autolabel-submit-") as staging:
            absolute = media.absolute_copy(submission.manifest.absolute(), Path(staging) / "absolute.manifest")
            manifest = media.uploaded_copy(absolute, Path(staging) / "input.manifest", bucket=stack.bucket,
                                           prefix=layout.media, upload=s3.upload_file)
            if media.uri_of:
                # For download to give the output manifest the references as written, as `autolabel run` does.
                references = {uri: media.original[uri] for uri in media.uri_of.values()}
                s3.put_object(Bucket=stack.bucket, Key=layout.media_references, Body=json.dumps(references).encode())
                print(f"uploaded {len(media.uri_of)} local image(s) to s3://{stack.bucket}/{layout.media}", file=out)
            s3.put_object(Bucket=stack.bucket, Key=layout.job_config, Body=json.dumps(config).encode())
            s3.put_object(Bucket=stack.bucket, Key=layout.label_categories, Body=labels_json)
            s3.upload_file(str(manifest), stack.bucket, layout.input_manifest)  # the trigger: last
    print(f"uploaded s3://{stack.bucket}/{layout.input_manifest} ({len(labels.names)} labels, "
          f"{config['TaskType']}); waiting for job {job} to start ...", file=out, flush=True)
    arn = wait_for_start(stack, job, submission.wait_seconds)
    print(f"job {job} started: {arn}", file=out)
    print(f"follow it with: autolabel status {job} --watch --stack {stack.name}", file=out)
    return arn


def wait_for_start(stack: DeployedStack, job: str, seconds: float) -> str:
    """The execution StartJob names after the job, once it exists."""
    arn = stack.execution_arn(job)
    sfn = stack.client("stepfunctions")
    layout = stack.layout(job)
    deadline = time.monotonic() + seconds
    with aws_errors("states:DescribeExecution on the stack's state machine"):
        while True:
            try:
                return sfn.describe_execution(executionArn=arn)["executionArn"]
            except ClientError as error:
                if error.response.get("Error", {}).get("Code") != "ExecutionDoesNotExist":
                    raise
            if has_objects(stack, layout.failure):  # StartJob could not start it, and said why there
                failure = s3_text(stack, layout.failure)
                raise DeployedError(f"job {job} did not start: {failure}")
            if time.monotonic() > deadline:
                raise DeployedError(
                    f"job {job} did not start within {seconds:g} s of the upload: the upload may wait in the stack's "
                    f"Uploads queue, or in its dead-letter queue (stack output UploadDeadLetterQueue); "
                    f"autolabel status {job} --stack {stack.name} shows it once it starts")
            time.sleep(0.5)


def s3_text(stack: DeployedStack, key: str) -> str:
    body = stack.client("s3").get_object(Bucket=stack.bucket, Key=key)["Body"].read()
    try:
        return str(json.loads(body).get("cause", body.decode("utf-8", "replace")))
    except (ValueError, AttributeError):
        return body.decode("utf-8", "replace")
