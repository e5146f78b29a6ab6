"""The workers' task API (docs/task-api.md): one function behind API Gateway's HTTP API.

API Gateway's JWT authorizer (locally, the gateway in autolabel/localcloud/gateway.py) lets
only requests with a valid token through, in payload format 2.0; the worker is the token's
`sub`, never a body's or a path's. What each route does is logic/task_api.py's; this module
only routes, reads the worker and the body, and answers JSON with the route's status:
400 for an answer that does not fit the task (the message says what to send), 404 for an
unknown job or task, 409 with a `reason` for an answer that can no longer count.
"""

from __future__ import annotations

import json
import re
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.utilities.typing import LambdaContext

from labeling.dal.tasks import HumanTaskStore
from labeling.logic import leases
from labeling.logic.task_api import ApiError, InvalidAnswerError, TaskApi
from labeling.observability import (
    DUPLICATE_HUMAN_ANSWERS,
    HUMAN_ANSWERS,
    HUMAN_TASKS_CLAIMED,
    LATE_HUMAN_ANSWERS,
    job_metric,
    logger,
    stack_metric,
    tracer,
)
from labeling.settings import tasks_table

# What a worker id may be: it names S3 objects and DynamoDB attributes. Cognito's sub is a UUID.
WORKER_ID = re.compile(r"^[A-Za-z0-9_.@+-]{1,128}$")

app = APIGatewayHttpResolver()


class _Forbidden(ApiError):
    status = 403


class _Unauthorized(ApiError):
    status = 401


def _worker() -> tuple[str, dict]:
    claims = dict(app.current_event.request_context.authorizer.jwt_claim)
    worker = claims.get("sub")
    if not worker:  # API Gateway's authorizer lets no such request through; say so if one comes anyway
        raise _Unauthorized("Unauthorized")
    if not WORKER_ID.match(str(worker)):
        raise _Forbidden(f"the token's subject {str(worker)[:40]!r} cannot name a worker here (letters, digits "
                         "and _.@+- only, at most 128)")
    return str(worker), claims


def _api() -> TaskApi:
    return TaskApi(HumanTaskStore(tasks_table()), leases.now_ms())


def _body() -> Any:
    try:
        return app.current_event.json_body
    except (json.JSONDecodeError, UnicodeDecodeError, ValueError):
        raise InvalidAnswerError('the body is not JSON; send {"label": "<class>"} or {"boundingBox": {...}}') from None


@app.get("/api/jobs")
def list_jobs() -> dict:
    worker, _ = _worker()
    return _api().jobs(worker).dump()


@app.post("/api/jobs/<job>/claim")
def claim(job: str) -> dict:
    worker, _ = _worker()
    reply = _api().claim(job, worker)
    if reply.task is not None:
        job_metric(HUMAN_TASKS_CLAIMED, 1, job=job)
    return reply.dump()


@app.post("/api/jobs/<job>/tasks/<task_id>/answer")
def answer(job: str, task_id: str) -> dict:
    worker, claims = _worker()
    reply = _api().answer(job, task_id, worker, claims, _body())
    job_metric(DUPLICATE_HUMAN_ANSWERS if reply.duplicate else HUMAN_ANSWERS, 1, job=job)
    return reply.dump()


@app.post("/api/jobs/<job>/tasks/<task_id>/release")
def release(job: str, task_id: str) -> dict:
    worker, _ = _worker()
    return _api().release(job, task_id, worker).dump()


@app.get("/api/jobs/<job>/progress")
def progress(job: str) -> dict:
    worker, _ = _worker()
    return _api().progress(job, worker).dump()


@app.exception_handler(ApiError)
def _refused(error: ApiError) -> Response:
    if error.status == 409:
        stack_metric(LATE_HUMAN_ANSWERS, 1)
    logger.info("request refused", extra={"status": error.status, "reason": error.reason, "why": error.message,
                                          "path": app.current_event.path})
    return Response(status_code=error.status, content_type=content_types.APPLICATION_JSON, body=error.body())


@app.not_found
def _no_route(error: Exception) -> Response:
    return Response(status_code=404, content_type=content_types.APPLICATION_JSON,
                    body={"message": f"no route {app.current_event.http_method} {app.current_event.path}"})


@logger.inject_lambda_context(correlation_id_path="requestContext.requestId")
@tracer.capture_lambda_handler
def handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)
