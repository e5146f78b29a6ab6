"""Patches that let moto 5.2.5's Step Functions interpreter run our state machine.

Every patch point is a private internal of moto, which is why moto is pinned
(pyproject.toml) and tests/workflow/test_engine_patch_points.py fails loudly
when one moves:
  * Lambda tasks: moto's "simple" Lambda backend echoes; `invoke` is replaced
    by a dispatcher to the real handlers, in-process, returning Lambda's
    "Unhandled" error shape so Retry/Catch see the exception's class name.
  * SageMaker: moto lists it as unsupported in the interpreter; a service
    integration with .sync (create, then poll describe) is registered.
  * Time: Retry intervals and .sync polling really sleep; they are shortened.
"""

from __future__ import annotations

import importlib
import json
import logging
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError
from moto.awslambda_simple.models import LambdaSimpleBackend
from moto.dynamodb.responses import DynamoHandler
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
        return self

    def __exit__(self, *exc) -> None:
        logger = logging.getLogger(self.LOGGER)
        logger.removeHandler(self._handler)
        logger.propagate = self._propagate
        self._handler.close()


class LambdaRegistry:
    """Function name -> the real handler, imported from its `module.function` string."""

    def __init__(self, logs: FunctionLogs | None = None):
        self._handlers: dict[str, Callable[[Any, Any], Any]] = {}
        self._logs = logs

    def register(self, function_name: str, handler_path: str) -> None:
        module_name, _, attribute = handler_path.rpartition(".")
        self._handlers[function_name] = getattr(importlib.import_module(module_name), attribute)

    def invoke(self, function_name_or_arn: str, event: Any) -> tuple[Any, bool]:
        """(result, failed); a failure result is Lambda's Unhandled error payload."""
        name = function_name_or_arn.split(":function:")[-1].split(":")[0]
        handler = self._handlers.get(name)
        if handler is None:
            return {"errorType": "ResourceNotFoundException", "errorMessage": f"Function not found: {name}"}, True
        context = LambdaContext(name, function_name_or_arn)
        try:
            if self._logs:
                return self._logs.run(lambda: handler(event, context)), False
            return handler(event, context), False
        except Exception as error:  # the Lambda runtime reports any exception this way
            return {
                "errorType": type(error).__name__, "errorMessage": str(error),
                "stackTrace": traceback.format_exc().splitlines(),
            }, True


def install_lambda_dispatcher(registry: LambdaRegistry) -> None:
    def invoke(self, function_name, qualifier, body, headers, response_headers):  # noqa: ARG001
        raw = body.decode() if isinstance(body, bytes) else body
        result, failed = registry.invoke(function_name, json.loads(raw) if raw else {})
        if failed:
            response_headers["x-amz-function-error"] = "Unhandled"
        return json.dumps(result).encode()

    LambdaSimpleBackend.invoke = invoke


# --------------------------------------------------- SageMaker integration ----

# create action -> (describe call, name parameter, status key)
_SAGEMAKER_JOBS = {
    "createtrainingjob": ("describe_training_job", "TrainingJobName", "TrainingJobStatus"),
    "createtransformjob": ("describe_transform_job", "TransformJobName", "TransformJobStatus"),
}


def _epoch_millis(value: Any) -> Any:
    # Step Functions emits SageMaker timestamps as epoch milliseconds.
    return int(value.timestamp() * 1000) if hasattr(value, "timestamp") else str(value)


class SageMakerService(StateTaskServiceCallback):
    """arn:aws:states:::sagemaker:<action>[.sync], as Step Functions runs it."""

    def __init__(self):
        super().__init__(supported_integration_patterns={ResourceCondition.Sync, ResourceCondition.WaitForTaskToken})

    def _get_supported_parameters(self):
        return set()

    def _client(self, resource_runtime_part, credentials):
        return boto_client_for(region=resource_runtime_part.region, service="sagemaker", state_credentials=credentials)

    def _from_error(self, env, ex):
        if isinstance(ex, ClientError):
            name = f"SageMaker.{ex.response['Error']['Code']}"
            return FailureEvent(
                env=env, error_name=CustomErrorName(name), event_type=HistoryEventType.TaskFailed,
                event_details=EventDetails(taskFailedEventDetails=TaskFailedEventDetails(
                    error=name, cause=ex.response["Error"]["Message"],
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
                event_details=EventDetails(taskFailedEventDetails=TaskFailedEventDetails(
                    resource=self._get_sfn_resource(), resourceType=self._get_sfn_resource_type(),
                    error=StatesErrorNameType.StatesTaskFailed.to_name(), cause=to_json_str(described))),
            ))

        return resolve


_original_service_for = state_task_service_factory.state_task_service_for


def _service_for(service_name: str):
    if service_name == "sagemaker":
        return SageMakerService()
    return _original_service_for(service_name)


def install_sagemaker_integration() -> None:
    # state_task_factory imported the factory function by name: patch it there.
    state_task_factory.state_task_service_for = _service_for


# -------------------------------------------------------------------- time ----


class _ScaledSleep:
    def __init__(self, scale: float):
        self.scale = scale

    def __getattr__(self, name):
        return getattr(time, name)

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds * self.scale)


def install_fast_time(retry_scale: float = 0.01, sync_poll_seconds: float = 0.2) -> None:
    retrier_decl.time = _ScaledSleep(retry_scale)
    state_task_service_callback._DELAY_SECONDS_SYNC_CONDITION_CHECK = sync_poll_seconds


# ---------------------------------------------------------------- dynamodb ----

_MOTO_DYNAMODB_CALL_ACTION = DynamoHandler.call_action
_dynamodb_lock = threading.RLock()


def _atomic_call_action(self):
    with _dynamodb_lock:
        return _MOTO_DYNAMODB_CALL_ACTION(self)


def install_atomic_dynamodb() -> None:
    """Each DynamoDB request atomic, as DynamoDB's are. moto's are not when threads race (workers
    answering at once through the gateway): a transaction that fails its condition restores a deep
    copy of the whole table, undoing what other requests wrote meanwhile, a counted answer included."""
    DynamoHandler.call_action = _atomic_call_action


PATCH_POINTS = {
    "moto.awslambda_simple.models.LambdaSimpleBackend.invoke": lambda: LambdaSimpleBackend.invoke,
    "state_task_factory.state_task_service_for": lambda: state_task_factory.state_task_service_for,
    "state_task_service_factory.state_task_service_for": lambda: state_task_service_factory.state_task_service_for,
    "StateTaskServiceCallback._build_sync_resolver": lambda: StateTaskServiceCallback._build_sync_resolver,
    "StateTaskServiceCallback._eval_service_task": lambda: StateTaskServiceCallback._eval_service_task,
    "retrier_decl.time": lambda: retrier_decl.time.sleep,
    "state_task_service_callback._DELAY_SECONDS_SYNC_CONDITION_CHECK":
        lambda: state_task_service_callback._DELAY_SECONDS_SYNC_CONDITION_CHECK,
    "moto.dynamodb.responses.DynamoHandler.call_action": lambda: _MOTO_DYNAMODB_CALL_ACTION,
}
