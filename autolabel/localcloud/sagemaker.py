"""SageMaker training and batch-transform jobs, run from the containers' own entry points.

moto records the jobs; this module does what SageMaker does with them, with
local processes instead of instances:
  * training: channels are copied from S3 to <ml root>/input/data/<channel>/,
    hyperparameters to input/config/, the image's `train` runs, model/ is
    tarred to the job's S3ModelArtifacts; output/failure becomes FailureReason.
  * batch transform: the model is unpacked to <ml root>/model, and TransformResources'
    InstanceCount `serve` processes (the instances) each listen on their own
    SAGEMAKER_BIND_TO_PORT. As in SageMaker, a transform is spread over its instances by input
    object only: the objects under the input prefix are dealt out to the instances, each splits
    its objects by line and sends them in mini-batches of at most MaxPayloadInMB to its
    /invocations, and the responses are written to <output path>/<key relative to the input
    prefix>.out.
  * a container that fails: FailureReason is "AlgorithmError: " and what the container wrote to
    output/failure or else the last lines of its log, as SageMaker reports it (it keeps the full
    log in CloudWatch Logs; here it is <workdir>/logs/<job>.log).
The image URI is mapped to the folder the image is built from (the staged Docker asset), and
its entry points run with this Python.

Tests make SageMaker fail on purpose through `FAULTS` (Faults): create calls that answer an
error, jobs that end Failed with a given FailureReason (CapacityError, InternalServerError),
containers that exit non-zero after writing some lines.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import socket
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import boto3
from moto.sagemaker.exceptions import SagemakerClientError
from moto.sagemaker.models import SageMakerModelBackend

from labeling.logic import jsonl

SERVE_START_TIMEOUT_SECONDS = 300
# SageMaker's default when a job sets no ModelClientConfig.InvocationsTimeoutInSeconds.
DEFAULT_INVOCATION_TIMEOUT_SECONDS = 600


# SageMaker's FailureReason holds at most 1,024 characters.
FAILURE_REASON_MAX_CHARACTERS = 1024
# The log lines an AlgorithmError's FailureReason ends with.
FAILURE_LOG_LINES = 10


class ContainerError(RuntimeError):
    pass


class InjectedError(SagemakerClientError):
    """A SageMaker API error answered on purpose (Faults.fail_create)."""

    def __init__(self, code: str, message: str):
        self.code = code
        super().__init__(message)


def resource_limit_message(instance_type: str, usage: str, limit: int = 0, in_use: int = 0, delta: int = 1) -> str:
    """ResourceLimitExceeded's message as SageMaker words it, e.g. for ('ml.p3.2xlarge', 'training job usage')."""
    return (f"The account-level service limit '{instance_type} for {usage}' is {limit} Instances, with current "
            f"utilization of {in_use} Instances and a request delta of {delta} Instances. Please use AWS Service "
            "Quotas to request an increase for this quota. If AWS Service Quotas is not available, contact AWS "
            "support to request an increase for this quota.")


CAPACITY_ERROR = ("CapacityError: Unable to provision requested ML compute capacity. "
                  "Please retry using a different ML instance type.")


@dataclass
class Faults:
    """What the local SageMaker does wrong next, for tests. Each queue entry is used once, in order.

    kind is "training" or "transform".
      * fail_create(operation, code, message): the next call of operation ("CreateTrainingJob",
        "CreateTransformJob") answers that error and creates nothing (ThrottlingException,
        ResourceLimitExceeded, InternalFailure...).
      * fail_job(kind, reason): the next job of that kind is created and ends Failed with that
        FailureReason without running its container (CapacityError, InternalServerError).
      * break_container(kind, lines, code): the next job of that kind runs a container that writes
        `lines` to its log and exits with `code`.
    """

    creates: dict[str, deque] = field(default_factory=dict)
    jobs: dict[str, deque] = field(default_factory=dict)
    containers: dict[str, deque] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def fail_create(self, operation: str, code: str, message: str, times: int = 1) -> None:
        with self.lock:
            self.creates.setdefault(operation, deque()).extend([(code, message)] * times)

    def fail_job(self, kind: str, reason: str, times: int = 1) -> None:
        with self.lock:
            self.jobs.setdefault(kind, deque()).extend([reason] * times)

    def break_container(self, kind: str, lines: list[str], code: int = 1) -> None:
        with self.lock:
            self.containers.setdefault(kind, deque()).append((list(lines), code))

    def clear(self) -> None:
        with self.lock:
            self.creates.clear()
            self.jobs.clear()
            self.containers.clear()

    def _next(self, queues: dict[str, deque], key: str):
        with self.lock:
            queue = queues.get(key)
            return queue.popleft() if queue else None

    def create_error(self, operation: str) -> InjectedError | None:
        fault = self._next(self.creates, operation)
        return InjectedError(*fault) if fault else None

    def job_failure(self, kind: str) -> str | None:
        return self._next(self.jobs, kind)

    def broken_container(self, kind: str) -> tuple[list[str], int] | None:
        return self._next(self.containers, kind)


# The faults every local SageMaker reads; tests set them and clear them after.
FAULTS = Faults()


def _broken_container_command(lines: list[str], code: int) -> list[str]:
    script = "import sys\nfor line in sys.argv[2:]:\n    print(line, file=sys.stderr)\nsys.exit(int(sys.argv[1]))\n"
    return [sys.executable, "-c", script, str(code), *lines]


def _algorithm_error(root: Path, log: Path, what: str, code: int) -> str:
    """FailureReason of a container that exited with `code`: its output/failure, else its log's last lines."""
    failure = root / "output" / "failure"
    if failure.exists() and failure.read_text().strip():
        detail = failure.read_text().strip()
    else:
        tail = [line for line in log.read_text(errors="replace").splitlines() if line.strip()][-FAILURE_LOG_LINES:]
        detail = "\n".join(tail) if tail else "the container wrote nothing to its log"
    reason = f"AlgorithmError: {detail}, exit code: {code} ({what}; local log {log})"
    if len(reason) > FAILURE_REASON_MAX_CHARACTERS:  # SageMaker keeps the end, where the error is
        reason = "AlgorithmError: ..." + reason[-(FAILURE_REASON_MAX_CHARACTERS - len("AlgorithmError: ...")):]
    return reason


def _split_uri(uri: str) -> tuple[str, str]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return bucket, key


def output_name(input_prefix: str, key: str) -> str:
    """Where SageMaker writes the transform output of input object `key`, relative to S3OutputPath.

    The key relative to the input prefix, with .out: s3://b/pool/ and pool/part-00001.jsonl give
    part-00001.jsonl.out. A prefix that is no folder (a whole key, or a key's start) counts from
    the folder it is in, so s3://b/x/validation.jsonl gives validation.jsonl.out.
    """
    folder = input_prefix if input_prefix.endswith("/") else input_prefix.rpartition("/")[0] + "/"
    folder = "" if folder == "/" else folder
    return key[len(folder):] + ".out"


def _die_with_parent() -> None:
    """A container process must not outlive the run that started it (Linux: PR_SET_PDEATHSIG), and
    leaves Ctrl-C to it: the terminal sends SIGINT to the whole process group, and a training job
    that died of it would fail the job before the run could stop it (the run stops the job, then
    exits, and the container with it)."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)
    except (OSError, AttributeError):
        pass


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# moto's own job creation, captured once: each local cloud's emulator wraps these, never
# an earlier emulator's wrapper, which would run every job again with a stopped cloud's settings.
_MOTO_CREATE_TRAINING_JOB = SageMakerModelBackend.create_training_job
_MOTO_CREATE_TRANSFORM_JOB = SageMakerModelBackend.create_transform_job


class LocalSageMaker:
    def __init__(self, images: dict[str, Path], workdir: Path, environment: dict[str, str],
                 faults: Faults | None = None):
        self.images = images  # "repository:tag" -> folder with Dockerfile, train, serve
        self.workdir = workdir
        self.environment = environment  # extra variables for every container process
        self.faults = faults if faults is not None else FAULTS
        self.s3 = boto3.client("s3")

    # ------------------------------------------------------------ wiring ----
    def install(self) -> None:
        emulator = self
        original_training, original_transform = _MOTO_CREATE_TRAINING_JOB, _MOTO_CREATE_TRANSFORM_JOB

        def create_training_job(backend, training_job_name, *args, **kwargs):
            error = emulator.faults.create_error("CreateTrainingJob")
            if error:
                raise error
            job = original_training(backend, training_job_name, *args, **kwargs)
            job.training_job_status, job.secondary_status = "InProgress", "Starting"
            emulator._start(job, "training_job_status", emulator._failing("training", emulator.run_training))
            return job

        def create_transform_job(backend, transform_job_name, *args, **kwargs):
            error = emulator.faults.create_error("CreateTransformJob")
            if error:
                raise error
            job = original_transform(backend, transform_job_name, *args, **kwargs)
            job.transform_job_status = "InProgress"
            model = backend.describe_model(job.model_name)
            emulator._start(job, "transform_job_status", emulator._failing(
                "transform", lambda j: emulator.run_transform(j, model.primary_container)))
            return job

        # The emulator's patch of moto's backend class (module docstring); uninstall() puts moto's back.
        SageMakerModelBackend.create_training_job = create_training_job  # type: ignore[method-assign,assignment]
        SageMakerModelBackend.create_transform_job = create_transform_job  # type: ignore[method-assign,assignment]

    @staticmethod
    def uninstall() -> None:
        SageMakerModelBackend.create_training_job = _MOTO_CREATE_TRAINING_JOB  # type: ignore[method-assign]
        SageMakerModelBackend.create_transform_job = _MOTO_CREATE_TRANSFORM_JOB  # type: ignore[method-assign]

    def _failing(self, kind: str, run):
        """`run`, unless Faults says this job ends Failed with a FailureReason of its own."""
        def job_run(job):
            reason = self.faults.job_failure(kind)
            if reason:
                raise ContainerError(reason)
            return run(job)

        return job_run

    def _start(self, job, status_attribute: str, run) -> None:
        def work():
            started = datetime.now(UTC)
            try:
                run(job)
                status = "Completed"
            except Exception as error:  # the job fails; the workflow's Catch takes over
                job.failure_reason = str(error)
                status = "Failed"
            ended = datetime.now(UTC)
            if hasattr(job, "training_start_time"):
                job.training_start_time, job.training_end_time = started, ended
                job.secondary_status = status
            else:
                job.transform_start_time, job.transform_end_time = started, ended
            setattr(job, status_attribute, status)

        threading.Thread(target=work, daemon=True, name=f"sagemaker-{status_attribute}").start()

    # ----------------------------------------------------------- helpers ----
    def _container(self, image: str) -> Path:
        """The image URI carries the registry host; the asset is known by repository:tag."""
        for repository_tag, folder in self.images.items():
            if image == repository_tag or image.endswith("/" + repository_tag):
                return folder
        raise ContainerError(f"no local container for image {image}; known: {sorted(self.images)}")

    def _ml_root(self, job_name: str) -> Path:
        root = self.workdir / "sagemaker" / job_name
        shutil.rmtree(root, ignore_errors=True)
        root.mkdir(parents=True)
        return root

    def _process_env(self, ml_root: Path, **extra: str) -> dict[str, str]:
        return {**os.environ, **self.environment, "AUTOLABEL_ML_ROOT": str(ml_root), **extra}

    def _download_prefix(self, uri: str, target: Path) -> int:
        bucket, prefix = _split_uri(uri)
        count = 0
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for obj in page.get("Contents", []):
                relative = obj["Key"][len(prefix):].lstrip("/") or obj["Key"].rsplit("/", 1)[-1]
                path = target / relative
                path.parent.mkdir(parents=True, exist_ok=True)
                self.s3.download_file(bucket, obj["Key"], str(path))
                count += 1
        return count

    # ----------------------------------------------------------- training ----
    def run_training(self, job) -> None:
        container = self._container(job.algorithm_specification["TrainingImage"])
        root = self._ml_root(job.training_job_name)
        config = root / "input" / "config"
        config.mkdir(parents=True)
        (config / "hyperparameters.json").write_text(json.dumps(job.hyper_parameters or {}))
        (config / "resourceconfig.json").write_text(json.dumps({"current_host": "algo-1", "hosts": ["algo-1"]}))
        channels = {}
        for channel in job.input_data_config:
            name = channel["ChannelName"]
            uri = channel["DataSource"]["S3DataSource"]["S3Uri"]
            if not self._download_prefix(uri, root / "input" / "data" / name):
                raise ContainerError(f"channel {name!r} is empty: no object under {uri}")
            channels[name] = {"ContentType": channel.get("ContentType", "")}
        (config / "inputdataconfig.json").write_text(json.dumps(channels))
        (root / "model").mkdir()
        (root / "output").mkdir()
        job.secondary_status = "Training"
        log = self.workdir / "logs" / f"{job.training_job_name}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        broken = self.faults.broken_container("training")
        command = _broken_container_command(*broken) if broken else [sys.executable, str(container / "train")]
        with log.open("w") as out:
            code = subprocess.run(
                command, env=self._process_env(root),
                stdout=out, stderr=subprocess.STDOUT, cwd=root, preexec_fn=_die_with_parent,
            ).returncode
        if code != 0:
            raise ContainerError(_algorithm_error(root, log, "train", code))
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
            for path in sorted((root / "model").rglob("*")):
                archive.add(path, arcname=str(path.relative_to(root / "model")))
        bucket, key = _split_uri(job.model_artifacts["S3ModelArtifacts"])
        self.s3.put_object(Bucket=bucket, Key=key, Body=buffer.getvalue())

    # ---------------------------------------------------------- transform ----
    def run_transform(self, job, primary_container: dict) -> None:
        container = self._container(primary_container["Image"])
        root = self._ml_root(job.transform_job_name)
        model_dir = root / "model"
        model_dir.mkdir()
        bucket, key = _split_uri(primary_container["ModelDataUrl"])
        with tarfile.open(fileobj=io.BytesIO(self.s3.get_object(Bucket=bucket, Key=key)["Body"].read())) as archive:
            archive.extractall(model_dir, filter="data")
        source = job.transform_input["DataSource"]["S3DataSource"]["S3Uri"]
        keys = self._input_keys(source)
        count = max(1, int((job.transform_resources or {}).get("InstanceCount", 1)))
        # SageMaker spreads a transform over its instances by input object: each instance gets a
        # share of the objects (never part of one); an instance with none has nothing to do.
        shares = [keys[i::count] for i in range(count)]
        shares = [share for share in shares if share] or [[]]
        broken = self.faults.broken_container("transform")
        command = _broken_container_command(*broken) if broken else [sys.executable, str(container / "serve")]
        logs = [self.workdir / "logs" / (f"{job.transform_job_name}.log" if len(shares) == 1
                                         else f"{job.transform_job_name}-algo-{n + 1}.log") for n in range(len(shares))]
        logs[0].parent.mkdir(parents=True, exist_ok=True)
        with ThreadPoolExecutor(len(shares), thread_name_prefix=f"transform-{job.transform_job_name}") as instances:
            runs = [instances.submit(self._run_instance, job, command, root, log, share)
                    for share, log in zip(shares, logs, strict=True)]
            for run in runs:
                run.result()

    def _input_keys(self, source: str) -> list[str]:
        bucket, prefix = _split_uri(source)
        pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        keys = sorted(o["Key"] for page in pages for o in page.get("Contents", []))
        if not keys:
            raise ContainerError(f"no input object under {source}")
        return keys

    def _run_instance(self, job, command: list[str], root: Path, log: Path, keys: list[str]) -> None:
        """One transform instance: a serve process answering for its share of the input objects."""
        port = _free_port()
        with log.open("w") as out:
            server = subprocess.Popen(
                command, env=self._process_env(root, SAGEMAKER_BIND_TO_PORT=str(port)),
                stdout=out, stderr=subprocess.STDOUT, cwd=root, preexec_fn=_die_with_parent,
            )
            try:
                self._wait_until_healthy(server, port, log, root)
                self._transform_objects(job, port, keys)
            finally:
                server.terminate()
                try:
                    server.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    server.kill()

    def _wait_until_healthy(self, server: subprocess.Popen, port: int, log: Path, root: Path) -> None:
        deadline = time.monotonic() + SERVE_START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if server.poll() is not None:
                raise ContainerError(_algorithm_error(root, log, "serve, before it answered /ping",
                                                      server.returncode))
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.2)
        raise ContainerError(f"serve did not answer /ping within {SERVE_START_TIMEOUT_SECONDS} s; see {log}")

    def _invoke(self, port: int, body: bytes, content_type: str, accept: str, timeout: float) -> bytes:
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/invocations", data=body, method="POST",
            headers={"Content-Type": content_type, "Accept": accept},
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.read()
        except urllib.error.HTTPError as error:
            detail = error.read().decode(errors="replace")
            raise ContainerError(f"/invocations answered {error.code}: {detail}") from None

    def _transform_objects(self, job, port: int, keys: list[str]) -> None:
        source = job.transform_input["DataSource"]["S3DataSource"]["S3Uri"]
        content_type = job.transform_input.get("ContentType", "application/jsonlines")
        accept = job.transform_output.get("Accept", content_type)
        max_payload = int(job.max_payload_in_mb or 6) * 1024 * 1024
        timeout = float((job.model_client_config or {}).get("InvocationsTimeoutInSeconds")
                        or DEFAULT_INVOCATION_TIMEOUT_SECONDS)
        bucket, prefix = _split_uri(source)
        out_bucket, out_prefix = _split_uri(job.transform_output["S3OutputPath"])
        for key in keys:
            with tempfile.TemporaryFile() as output:
                batch: list[bytes] = []
                size = 0

                def flush():
                    nonlocal batch, size
                    if batch:
                        answer = self._invoke(port, b"\n".join(batch) + b"\n", content_type, accept, timeout)
                        lines = [line for line in jsonl.split_lines([answer]) if line.strip()]
                        if len(lines) != len(batch):
                            raise ContainerError(f"/invocations returned {len(lines)} lines for {len(batch)} records")
                        output.write(b"\n".join(lines) + b"\n")
                    batch, size = [], 0

                # SplitType Line: records end at "\n" (iter_lines() would split at "\r" too).
                body = self.s3.get_object(Bucket=bucket, Key=key)["Body"]
                for line in jsonl.split_lines(body.iter_chunks(1 << 20)):
                    if not line.strip():
                        continue
                    if batch and size + len(line) + 1 > max_payload:
                        flush()
                    batch.append(line)
                    size += len(line) + 1
                flush()
                output.seek(0)
                target = out_prefix.rstrip("/") + "/" + output_name(prefix, key)
                self.s3.upload_fileobj(output, out_bucket, target)
