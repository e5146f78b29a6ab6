"""Patches that let moto 5.2.5's Step Functions interpreter run our state machine.

Every patch point is a private internal of moto, which is why moto is pinned
(pyproject.toml) and tests/workflow/test_engine_patch_points.py fails loudly
when one moves (PATCH_POINTS lists them, with the signatures relied on):
  * Lambda tasks: moto's "simple" Lambda backend echoes; `invoke` is replaced
    by a dispatcher to the real handlers, in-process, returning Lambda's
    "Unhandled" error shape so Retry/Catch see the exception's class name.
  * SageMaker: moto lists it as unsupported in the interpreter; a service
    integration with .sync (create, then poll describe) is registered.
  * Time: Retry intervals and .sync polling really sleep; they are shortened.
  * DynamoDB: each request is made atomic, and a transaction backs up only the items it names.

Each install_* returns its patches; uninstall() takes them back out (a
LocalCloud does so on stop()). Patches nest: while several local clouds
run in one process, the newest one's patch is live, and when the last one is
uninstalled, in whatever order, moto's original is back.
"""

from __future__ import annotations

import copy
import importlib
import json
import logging
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError
from moto.awslambda_simple.models import LambdaSimpleBackend
from moto.dynamodb import models as dynamodb_models
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.table import Table
from moto.dynamodb.responses import DynamoHandler
from moto.s3.models import S3Backend
from moto.stepfunctions.parser.api import HistoryEventType, TaskFailedEventDetails
from moto.stepfunctions.parser.asl.component.common.error_name.custom_error_name import CustomErrorName
from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
    FailureEvent,
    FailureEventException,
)
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
    StatesErrorNameType,
)
from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
from moto.stepfunctions.parser.asl.component.state.exec.state_task import state_task_factory
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
    state_task_service_callback,
    state_task_service_factory,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.resource import ResourceCondition
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_callback import (
    StateTaskServiceCallback,
)
from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails
from moto.stepfunctions.parser.asl.utils.boto_client import boto_client_for
from moto.stepfunctions.parser.asl.utils.encoding import to_json_str

from labeling.observability import SERVICE_NAME

# ------------------------------------------------------------------ Lambda ----


class LambdaContext:
    """What the Lambda runtime hands a handler (the fields Powertools reads)."""

    def __init__(self, function_name: str, arn: str):
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = arn
        self.memory_limit_in_mb = 1024
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "local"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 900_000


class FunctionLogs:
    """Where handlers' output goes, as CloudWatch Logs would hold it.

    Handlers print (Powertools Logger, metrics in EMF) to stdout; in-process,
    that would drown the run's progress. Writes made while a handler runs on
    a thread go to the log file; everything else passes through.
    """

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._file = path.open("a", encoding="utf-8", buffering=1)
        self._active = threading.local()
        self._streams = {"stdout": sys.stdout, "stderr": sys.stderr}

    def capturing(self) -> bool:
        return getattr(self._active, "on", False)

    def run(self, fn: Callable[[], Any]) -> Any:
        self._active.on = True
        try:
            return fn()
        finally:
            self._active.on = False

    def install(self) -> None:
        # print() (metrics in EMF) goes through sys.stdout; Powertools' Logger keeps
        # the stream it was created with, so it gets a routed stream of its own,
        # whose passthrough (the process's stderr) outlives this run.
        sys.stdout = _RoutedStream(self, self._streams["stdout"])
        sys.stderr = _RoutedStream(self, self._streams["stderr"])
        for handler in logging.getLogger(SERVICE_NAME).handlers:
            if isinstance(handler, logging.StreamHandler):
                handler.setStream(_RoutedStream(self, sys.__stderr__))

    def uninstall(self) -> None:
        sys.stdout, sys.stderr = self._streams["stdout"], self._streams["stderr"]
        self._file.close()


class _RoutedStream:
    def __init__(self, logs: FunctionLogs, passthrough):
        self._logs, self._passthrough = logs, passthrough

    def write(self, text: str) -> int:
        if self._logs.capturing() and not self._logs._file.closed:
            return self._logs._file.write(text)
        return self._passthrough.write(text)

    def __getattr__(self, name):
        return getattr(self._passthrough, name)


class EngineLogs:
    """Where moto's own log goes while a job runs: a file in the workdir, not the terminal.

    moto's Step Functions interpreter logs each failed state at ERROR, with the Lambda
    error's payload (its stack trace included). moto configures no handler, so Python's
    last-resort handler prints those to stderr: every failed job would show a dump before
    the one reason the run gives. They stay readable in the file.
    """

    LOGGER = "moto"

    def __init__(self, path: Path):
        self.path = path
        self._handler: logging.Handler | None = None
        self._propagate = True

    def __enter__(self) -> EngineLogs:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._handler = logging.FileHandler(self.path, encoding="utf-8")
        self._handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        logger = logging.getLogger(self.LOGGER)
        self._propagate = logger.propagate
        logger.addHandler(self._handler)
        logger.propagate = False  # nor to the root logger's handlers, which may print
        # The interpreter runs each execution and each waiting task in threads of its own; one that
        # dies (moto's .sync wait raises a TypeError when its execution is stopped) goes to this
        # file too, not to the terminal as a traceback.
        self._excepthook = threading.excepthook
        threading.excepthook = self._thread_died
        return self

    def _thread_died(self, args) -> None:
        if args.exc_type is SystemExit:
            return
        logging.getLogger(self.LOGGER).error("thread %s died", getattr(args.thread, "name", "?"),
                                             exc_info=(args.exc_type, args.exc_value, args.exc_traceback))

    def __exit__(self, *exc) -> None:
        threading.excepthook = self._excepthook
        logger = logging.getLogger(self.LOGGER)
        assert self._handler is not None  # made by __enter__
        logger.removeHandler(self._handler)
        logger.propagate = self._propagate
        self._handler.close()


class S3WriteListener:
    """Told of each object moto's S3 stores or removes, in the thread that asked, once it is done."""

    def saved(self, bucket: str, key: str, value: bytes) -> None: ...

    def deleted(self, bucket: str, key: str) -> None: ...


# What Step Functions calls a Lambda function that did not end: its runtime crashed, ran out of
# memory or timed out (the workflow retries it: infra/constructs/workflow.py LAMBDA_CRASHES).
LAMBDA_CRASH = "Lambda.Unknown"
# Where an injected crash happens (LambdaRegistry.inject): before the handler runs, at its first
# S3 write (that object is stored, nothing after it is), or after it returned (its result is lost).
CRASH_POINTS = ("before", "midway", "after")


class _MidwayCrash(Exception):
    pass


class _CrashAtFirstWrite(S3WriteListener):
    """Stops the handler running in the armed thread once its first S3 object is stored."""

    def __init__(self) -> None:
        self._armed = threading.local()

    def arm(self) -> None:
        self._armed.on, self._armed.crashed = True, False

    def disarm(self) -> bool:
        """Whether it crashed the handler."""
        crashed = getattr(self._armed, "crashed", False)
        self._armed.on = self._armed.crashed = False
        return crashed

    def saved(self, bucket: str, key: str, value: bytes) -> None:
        if getattr(self._armed, "on", False):
            self._armed.on, self._armed.crashed = False, True
            raise _MidwayCrash(f"crashed after writing s3://{bucket}/{key}")


class LambdaRegistry:
    """Function name -> the real handler, imported from its `module.function` string.

    Tests inject crashes (`inject`): the function's next invocations fail as Step Functions
    sees a crashed function (LAMBDA_CRASH), at one of CRASH_POINTS each; `crashes` lists them.
    """

    def __init__(self, logs: FunctionLogs | None = None):
        self._handlers: dict[str, Callable[[Any, Any], Any]] = {}
        self._logs = logs
        self._faults: dict[str, list[str]] = {}
        self._faults_lock = threading.Lock()
        self._midway = _CrashAtFirstWrite()
        self._midway_patches: Patches = ()
        self.crashes: list[tuple[str, str]] = []  # (function, crash point) of each injected crash

    def register(self, function_name: str, handler_path: str) -> None:
        module_name, _, attribute = handler_path.rpartition(".")
        self._handlers[function_name] = getattr(importlib.import_module(module_name), attribute)

    def inject(self, function_name: str, *points: str) -> None:
        """The next len(points) invocations of the function crash, at these points in turn."""
        unknown = set(points) - set(CRASH_POINTS)
        if unknown:
            raise ValueError(f"crash points are {CRASH_POINTS}, not {sorted(unknown)}")
        with self._faults_lock:
            self._faults.setdefault(function_name, []).extend(points)
            if "midway" in points and not self._midway_patches:
                self._midway_patches = install_s3_listener(self._midway)

    def uninstall(self) -> None:
        uninstall(self._midway_patches)
        self._midway_patches = ()

    def _next_fault(self, name: str) -> str | None:
        with self._faults_lock:
            pending = self._faults.get(name)
            return pending.pop(0) if pending else None

    def _crash(self, name: str, point: str, detail: str) -> tuple[dict[str, Any], bool]:
        self.crashes.append((name, point))
        return {"errorType": LAMBDA_CRASH, "errorMessage": f"{name} crashed ({point}: {detail}), injected"}, True

    def invoke(self, function_name_or_arn: str, event: Any) -> tuple[Any, bool]:
        """(result, failed); a failure result is Lambda's Unhandled error payload."""
        name = function_name_or_arn.split(":function:")[-1].split(":")[0]
        handler = self._handlers.get(name)
        if handler is None:
            return {"errorType": "ResourceNotFoundException", "errorMessage": f"Function not found: {name}"}, True
        fault = self._next_fault(name)
        if fault == "before":
            return self._crash(name, fault, "nothing ran")
        context = LambdaContext(name, function_name_or_arn)
        if fault == "midway":
            self._midway.arm()
        try:
            result = self._logs.run(lambda: handler(event, context)) if self._logs else handler(event, context)
        except Exception as error:  # the Lambda runtime reports any exception this way
            if fault == "midway" and self._midway.disarm():
                return self._crash(name, fault, "stopped at its first S3 write")
            return {
                "errorType": type(error).__name__, "errorMessage": str(error),
                "stackTrace": traceback.format_exc().splitlines(),
            }, True
        if fault == "midway" and not self._midway.disarm():
            return self._crash(name, fault, "it wrote nothing to S3; crashed at its end")
        if fault == "after":
            return self._crash(name, fault, "it ran to its end; its result was lost")
        return result, False


def install_lambda_dispatcher(registry: LambdaRegistry) -> Patches:
    def invoke(self, function_name, qualifier, body, headers, response_headers):  # noqa: ARG001
        raw = body.decode() if isinstance(body, bytes) else body
        result, failed = registry.invoke(function_name, json.loads(raw) if raw else {})
        if failed:
            response_headers["x-amz-function-error"] = "Unhandled"
        return json.dumps(result).encode()

    return _install("LambdaSimpleBackend.invoke", invoke)


# --------------------------------------------------- SageMaker integration ----

# create action -> (describe call, name parameter, status key)
_SAGEMAKER_JOBS = {
    "createtrainingjob": ("describe_training_job", "TrainingJobName", "TrainingJobStatus"),
    "createtransformjob": ("describe_transform_job", "TransformJobName", "TransformJobStatus"),
}


def _epoch_millis(value: Any) -> Any:
    # Step Functions emits SageMaker timestamps as epoch milliseconds.
    return int(value.timestamp() * 1000) if hasattr(value, "timestamp") else str(value)


# The service model's own errors, which the optimized integration (backed by the AWS SDK for Java)
# names after their exception class; every other code (ThrottlingException, InternalFailure,
# ServiceUnavailable, ValidationException) reaches a Retry as the base class. See
# labeling/logic/sagemaker_failure.py for the names and where they come from.
_SAGEMAKER_MODELED_ERRORS = {"ConflictException", "ResourceAlreadyExists", "ResourceInUse", "ResourceLimitExceeded",
                             "ResourceNotFound"}


def sagemaker_error(ex: ClientError) -> tuple[str, str]:
    """(Error, Cause) of a failed SageMaker call, as Step Functions reports them in AWS."""
    error = ex.response.get("Error", {})
    code, message = error.get("Code", "Unknown"), error.get("Message", "")
    if code in _SAGEMAKER_MODELED_ERRORS:
        name = f"SageMaker.{code}" + ("" if code.endswith("Exception") else "Exception")
    else:
        name = "SageMaker.AmazonSageMakerException"
    status = ex.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 400)
    request = ex.response.get("ResponseMetadata", {}).get("RequestId", "local")
    return name, (f"{message} (Service: AmazonSageMaker; Status Code: {status}; Error Code: {code}; "
                  f"Request ID: {request}; Proxy: null)")


class SageMakerService(StateTaskServiceCallback):
    """arn:aws:states:::sagemaker:<action>[.sync], as Step Functions runs it."""

    def __init__(self):
        # moto types the set by the constants' class, ResourceCondition; the constants are str.
        super().__init__(supported_integration_patterns={
            ResourceCondition.Sync, ResourceCondition.WaitForTaskToken})  # type: ignore[arg-type]

    def _get_supported_parameters(self):
        return set()

    def _client(self, resource_runtime_part, credentials):
        return boto_client_for(region=resource_runtime_part.region, service="sagemaker", state_credentials=credentials)

    def _from_error(self, env, ex):
        if isinstance(ex, ClientError):
            name, cause = sagemaker_error(ex)
            # moto declares EventDetails with every key required; an event has just one of them.
            return FailureEvent(
                env=env, error_name=CustomErrorName(name), event_type=HistoryEventType.TaskFailed,
                event_details=EventDetails(  # type: ignore[typeddict-item]
                    taskFailedEventDetails=TaskFailedEventDetails(
                    error=name, cause=cause,
                    resource=self._get_sfn_resource(), resourceType=self._get_sfn_resource_type())),
            )
        return super()._from_error(env=env, ex=ex)

    def _eval_service_task(self, env, resource_runtime_part, normalised_parameters, state_credentials):
        client = self._client(resource_runtime_part, state_credentials)
        response = getattr(client, self._get_boto_service_action())(**normalised_parameters)
        response.pop("ResponseMetadata", None)
        env.stack.append(response)

    def _build_sync_resolver(self, env, resource_runtime_part, normalised_parameters, state_credentials):
        env.stack.pop()  # the create call's output; .sync returns the describe output
        describe, name_key, status_key = _SAGEMAKER_JOBS[self.resource.api_action.lower()]
        client = self._client(resource_runtime_part, state_credentials)
        job_name = normalised_parameters[name_key]

        def resolve():
            described = getattr(client, describe)(**{name_key: job_name})
            described.pop("ResponseMetadata", None)
            status = described[status_key]
            if status in ("InProgress", "Stopping"):
                return None
            described = json.loads(json.dumps(described, default=_epoch_millis))
            if status == "Completed":
                return described
            raise FailureEventException(FailureEvent(
                env=env, error_name=StatesErrorName(typ=StatesErrorNameType.StatesTaskFailed),
                event_type=HistoryEventType.TaskFailed,
                event_details=EventDetails(  # type: ignore[typeddict-item]
                    taskFailedEventDetails=TaskFailedEventDetails(
                    resource=self._get_sfn_resource(), resourceType=self._get_sfn_resource_type(),
                    error=StatesErrorNameType.StatesTaskFailed.to_name(), cause=to_json_str(described))),
            ))

        return resolve


_original_service_for = state_task_service_factory.state_task_service_for


def _service_for(service_name: str):
    if service_name == "sagemaker":
        return SageMakerService()
    return _original_service_for(service_name)


def install_sagemaker_integration() -> Patches:
    # state_task_factory imported the factory function by name: patch it there.
    return _install("state_task_factory.state_task_service_for", _service_for)


# -------------------------------------------------------------------- time ----


class _ScaledSleep:
    def __init__(self, scale: float):
        self.scale = scale

    def __getattr__(self, name):
        return getattr(time, name)

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds * self.scale)


def install_fast_time(retry_scale: float = 0.01, sync_poll_seconds: float = 0.2) -> Patches:
    return (*_install("retrier_decl.time", _ScaledSleep(retry_scale)),
            *_install("state_task_service_callback._DELAY_SECONDS_SYNC_CONDITION_CHECK", sync_poll_seconds))


# ---------------------------------------------------------------- dynamodb ----

_MOTO_DYNAMODB_CALL_ACTION = DynamoHandler.call_action
_dynamodb_lock = threading.RLock()


def _atomic_call_action(self):
    with _dynamodb_lock:
        return _MOTO_DYNAMODB_CALL_ACTION(self)


class _CopyKeepingTables:
    """moto.dynamodb.models' `copy` module, except that a Table's deep copy is the table itself.

    moto backs up every table a transaction touches with a deep copy, to put back if it fails. A
    job's task table holds every task, answer and worker record of the job, so each answer cost a
    copy of all of them, and a job's answers the square of its human tasks: profiled on a
    300-headline job (tests/workflow/test_faults.py's), the copies were a fifth of its 174 s, and
    answering through the gateway two thirds. _transact_write_items keeps the items it touches
    instead, which is all a failed transaction has to put back.
    """

    @staticmethod
    def deepcopy(value: Any, memo: dict | None = None) -> Any:
        return value if isinstance(value, Table) else copy.deepcopy(value, memo)

    def __getattr__(self, name: str) -> Any:  # the rest of the module as it is
        return getattr(copy, name)


def _touched_items(backend: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> list[tuple]:
    """(table, hash key, range key, a deep copy of the item or None) for each item the transaction names."""
    touched = []
    for entry in transact_items:
        try:
            _, op = next(iter(entry.items()))
            table = backend.get_table(op["TableName"])
            keys = op.get("Key") or {name: op["Item"][name] for name in (table.hash_key_attr, table.range_key_attr)
                                     if name is not None}
            hash_key, range_key = backend.get_keys_value(table, keys)
        except Exception:  # noqa: BLE001 - moto refuses this entry itself, before it writes anything for it
            continue
        touched.append((table, hash_key, range_key, copy.deepcopy(table.get_item(hash_key, range_key))))
    return touched


def _put_back(touched: list[tuple]) -> None:
    # Last first: an item named twice (which moto refuses) ends as it was before the first.
    for table, hash_key, range_key, item in reversed(touched):
        place = table.items[hash_key] if range_key is not None else table.items
        key = range_key if range_key is not None else hash_key
        if item is None:
            place.pop(key, None)
        else:
            place[key] = item


def _transact_write_items(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
    """moto's TransactWriteItems, backed up item by item instead of table by table (_CopyKeepingTables).

    Runs under _dynamodb_lock (the request's call_action), so nothing else writes meanwhile.
    """
    touched = _touched_items(self, transact_items)
    try:
        return ORIGINALS["DynamoDBBackend.transact_write_items"](self, transact_items)
    except Exception:
        _put_back(touched)
        raise


def install_atomic_dynamodb() -> Patches:
    """Each DynamoDB request atomic, as DynamoDB's are. moto's are not when threads race (workers
    answering at once through the gateway): a transaction that fails its condition restores a deep
    copy of the whole table, undoing what other requests wrote meanwhile, a counted answer included.
    And a transaction that fails puts back only the items it named (_CopyKeepingTables says why)."""
    return (*_install("DynamoHandler.call_action", _atomic_call_action),
            *_install("dynamodb_models.copy", _CopyKeepingTables()),
            *_install("DynamoDBBackend.transact_write_items", _transact_write_items))


# ------------------------------------------------------------ patch points ----


@dataclass(frozen=True)
class PatchPoint:
    """A private internal of moto that the engine replaces (patched) or builds on (subclasses, calls)."""

    module: str  # the moto module that holds it
    path: str  # from the module: "name" or "Class.attribute"
    parameters: tuple[str, ...] | None  # the signature the engine relies on; None: not a function
    patched: bool = True

    @property
    def attribute(self) -> str:
        return self.path.rpartition(".")[2]

    def owner(self) -> Any:
        """The module or class whose attribute this is."""
        owner: Any = importlib.import_module(self.module)
        for part in self.path.split(".")[:-1]:
            owner = getattr(owner, part)
        return owner

    def live(self) -> Any:
        """What moto uses now: the original, or the newest patch installed."""
        return getattr(self.owner(), self.attribute)


# The modules are named through the imports above, so that a moved one fails at import.
_CALLBACK = state_task_service_callback.__name__
_SERVICE_ARGS = ("self", "env", "resource_runtime_part", "normalised_parameters", "state_credentials")
PATCH_POINTS = {
    "LambdaSimpleBackend.invoke": PatchPoint(
        LambdaSimpleBackend.__module__, "LambdaSimpleBackend.invoke",
        ("self", "function_name", "qualifier", "body", "headers", "response_headers")),
    "state_task_factory.state_task_service_for": PatchPoint(
        state_task_factory.__name__, "state_task_service_for", ("service_name",)),
    "state_task_service_factory.state_task_service_for": PatchPoint(  # called for every other service
        state_task_service_factory.__name__, "state_task_service_for", ("service_name",), patched=False),
    "StateTaskServiceCallback._build_sync_resolver": PatchPoint(  # SageMakerService overrides these three
        _CALLBACK, "StateTaskServiceCallback._build_sync_resolver", _SERVICE_ARGS, patched=False),
    "StateTaskServiceCallback._eval_service_task": PatchPoint(
        _CALLBACK, "StateTaskServiceCallback._eval_service_task", _SERVICE_ARGS, patched=False),
    "StateTaskServiceCallback._from_error": PatchPoint(
        _CALLBACK, "StateTaskServiceCallback._from_error", ("self", "env", "ex"), patched=False),
    "retrier_decl.time": PatchPoint(  # the module `time`, whose sleep() the retrier calls
        retrier_decl.__name__, "time", None),
    "state_task_service_callback._DELAY_SECONDS_SYNC_CONDITION_CHECK": PatchPoint(
        _CALLBACK, "_DELAY_SECONDS_SYNC_CONDITION_CHECK", None),
    "DynamoHandler.call_action": PatchPoint(DynamoHandler.__module__, "DynamoHandler.call_action", ("self",)),
    "dynamodb_models.copy": PatchPoint(  # the module `copy`, whose deepcopy() backs up a transaction's tables
        dynamodb_models.__name__, "copy", None),
    "DynamoDBBackend.transact_write_items": PatchPoint(
        DynamoDBBackend.__module__, "DynamoDBBackend.transact_write_items", ("self", "transact_items")),
    # Every stored object comes through put_object (a PUT, a copy, a completed multipart upload)
    # and every removed one through delete_object (DeleteObjects calls it per key).
    "S3Backend.put_object": PatchPoint(S3Backend.__module__, "S3Backend.put_object", (
        "self", "bucket_name", "key_name", "value", "storage", "etag", "multipart", "encryption", "kms_key_id",
        "bucket_key_enabled", "lock_mode", "lock_legal_status", "lock_until", "checksum_value", "request_method",
        "disable_notification")),
    "S3Backend.delete_object": PatchPoint(S3Backend.__module__, "S3Backend.delete_object", (
        "self", "bucket_name", "key_name", "version_id", "bypass")),
}


class Patch:
    """One installed replacement of a patch point's attribute; compared by identity."""

    def __init__(self, name: str, value: Any):
        self.name, self.value = name, value

    def __repr__(self) -> str:
        return f"Patch({self.name!r})"


Patches = tuple[Patch, ...]

# Saved at import, before any install: the value, and whether the owner held it itself
# (a method inherited from a base class is deleted again, not copied onto the subclass).
ORIGINALS: dict[str, Any] = {name: point.live() for name, point in PATCH_POINTS.items()}
_OWN_ORIGINALS = {name: point.attribute in vars(point.owner()) for name, point in PATCH_POINTS.items()}
_installed: dict[str, list[Patch]] = {}  # patch point -> its installed patches, oldest first
_patch_lock = threading.RLock()


def _apply(name: str) -> None:
    point = PATCH_POINTS[name]
    owner, attribute = point.owner(), point.attribute
    if _installed.get(name):
        setattr(owner, attribute, _installed[name][-1].value)
    elif _OWN_ORIGINALS[name]:
        setattr(owner, attribute, ORIGINALS[name])
    elif attribute in vars(owner):
        delattr(owner, attribute)


def _install(name: str, value: Any) -> Patches:
    if not PATCH_POINTS[name].patched:
        raise ValueError(f"{name} is built on, not patched")
    patch = Patch(name, value)
    with _patch_lock:
        _installed.setdefault(name, []).append(patch)
        _apply(name)
    return (patch,)


def uninstall(patches: Iterable[Patch]) -> None:
    """Take these patches out; a patch point none is left on gets moto's original back. Idempotent."""
    with _patch_lock:
        for patch in patches:
            if isinstance(patch, _ListenerPatch):
                patch.remove()
                continue
            stack = _installed.get(patch.name, [])
            if any(p is patch for p in stack):
                stack[:] = [p for p in stack if p is not patch]
                _apply(patch.name)


def installed_patches() -> Patches:
    """Every patch installed and not yet uninstalled, oldest first per patch point."""
    with _patch_lock:
        return tuple(p for stack in _installed.values() for p in stack)


# --------------------------------------------------------------- S3 writes ----


_s3_listeners: list[S3WriteListener] = []


def _tell_listeners(tell: Callable[[S3WriteListener], None]) -> None:
    """Every listener hears of the write, even when one raises (an injected crash must not keep the
    object from the durable store): the first error is raised after."""
    failure: Exception | None = None
    for listener in list(_s3_listeners):
        try:
            tell(listener)
        except Exception as error:
            failure = failure or error
    if failure is not None:
        raise failure


def _put_object(self, bucket_name, key_name, value, *args, **kwargs):
    stored = ORIGINALS["S3Backend.put_object"](self, bucket_name, key_name, value, *args, **kwargs)
    _tell_listeners(lambda listener: listener.saved(bucket_name, key_name, value))
    return stored


def _delete_object(self, bucket_name, key_name, *args, **kwargs):
    result = ORIGINALS["S3Backend.delete_object"](self, bucket_name, key_name, *args, **kwargs)
    _tell_listeners(lambda listener: listener.deleted(bucket_name, key_name))
    return result


def install_s3_listener(listener: S3WriteListener) -> Patches:
    """Tell `listener` of every S3 write; uninstall the patches returned to stop."""
    with _patch_lock:
        _s3_listeners.append(listener)
        patches = _install("S3Backend.put_object", _put_object) + _install("S3Backend.delete_object", _delete_object)
    return patches + (_ListenerPatch(listener),)


class _ListenerPatch(Patch):
    """Uninstalled with the patches: takes the listener out."""

    def __init__(self, listener: S3WriteListener):
        super().__init__("S3 write listener", listener)
        self.listener = listener

    def remove(self) -> None:
        if self.listener in _s3_listeners:
            _s3_listeners.remove(self.listener)
