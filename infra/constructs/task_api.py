"""The workers' task API (docs/task-api.md): one function behind an API Gateway HTTP API.

Every route carries the workers' Cognito JWT authorizer; API Gateway sends the function
payload format 2.0 events, whose `requestContext.authorizer.jwt.claims.sub` is the worker.
CloudFront sends the page's `/api/*` requests here unchanged, so the routes keep the prefix.
"""

from __future__ import annotations

import json

import jsii
from aws_cdk import Stack
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_apigatewayv2_integrations as integrations
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

# (method, path) of every route, as docs/task-api.md names them.
TASK_ROUTES: tuple[tuple[apigwv2.HttpMethod, str], ...] = (
    (apigwv2.HttpMethod.GET, "/api/jobs"),
    (apigwv2.HttpMethod.POST, "/api/jobs/{job}/claim"),
    (apigwv2.HttpMethod.POST, "/api/jobs/{job}/tasks/{taskId}/answer"),
    (apigwv2.HttpMethod.POST, "/api/jobs/{job}/tasks/{taskId}/release"),
    (apigwv2.HttpMethod.GET, "/api/jobs/{job}/progress"),
)

# The stage's defaults for every route: steady requests per second and the burst above them.
# A worker sends a few requests a minute; this is headroom for a few hundred at once.
THROTTLE_RATE_PER_SECOND = 100
THROTTLE_BURST = 200

# One JSON line per request (HTTP API $context variables); the worker is the token's sub.
ACCESS_LOG_FORMAT = {
    "requestId": "$context.requestId",
    "requestTime": "$context.requestTime",
    "ip": "$context.identity.sourceIp",
    "routeKey": "$context.routeKey",
    "status": "$context.status",
    "responseLength": "$context.responseLength",
    "latencyMs": "$context.responseLatency",
    "worker": "$context.authorizer.claims.sub",
    "authorizerError": "$context.authorizer.error",
    "integrationError": "$context.integrationErrorMessage",
}


@jsii.implements(apigwv2.IAccessLogSettings)
class _AccessLogs:
    def __init__(self, log_group: logs.ILogGroup):
        self._destination = apigwv2.LogGroupLogDestination(log_group)

    @property
    def destination(self) -> apigwv2.IAccessLogDestination:
        return self._destination

    @property
    def format(self) -> apigw.AccessLogFormat:
        return apigw.AccessLogFormat.custom(json.dumps(ACCESS_LOG_FORMAT))


class TaskHttpApi(Construct):
    """The HTTP API and its one stage; `add_routes` wires the routes once the authorizer exists.

    The API is made before the routes because the page's CloudFront distribution needs the
    API's domain, the user-pool client needs the distribution's URL, and the authorizer
    needs the client: API -> distribution -> client -> authorizer -> routes.
    """

    def __init__(self, scope: Construct, construct_id: str, *, handler: lambda_.IFunction) -> None:
        super().__init__(scope, construct_id)
        self.handler = handler
        self.api = apigwv2.HttpApi(
            self, "Api", api_name=f"{Stack.of(self).stack_name}-task-api",
            description="autolabel workers' task API (docs/task-api.md)", create_default_stage=False,
        )
        self.access_logs = logs.LogGroup(self, "AccessLogs", retention=logs.RetentionDays.THREE_MONTHS)
        self.stage = apigwv2.HttpStage(
            self, "DefaultStage", http_api=self.api, stage_name="$default", auto_deploy=True,
            throttle=apigwv2.ThrottleSettings(rate_limit=THROTTLE_RATE_PER_SECOND, burst_limit=THROTTLE_BURST),
            access_log_settings=_AccessLogs(self.access_logs),
        )

    @property
    def domain_name(self) -> str:
        """The API's execute-api host, CloudFront's origin for /api/*."""
        stack = Stack.of(self)
        return f"{self.api.api_id}.execute-api.{stack.region}.{stack.url_suffix}"

    @property
    def url(self) -> str:
        return self.stage.url

    def add_routes(self, authorizer: apigwv2.IHttpRouteAuthorizer) -> None:
        integration = integrations.HttpLambdaIntegration(
            "TaskApi", self.handler, payload_format_version=apigwv2.PayloadFormatVersion.VERSION_2_0,
        )
        for method, path in TASK_ROUTES:
            self.api.add_routes(path=path, methods=[method], integration=integration, authorizer=authorizer)
