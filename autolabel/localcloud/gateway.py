"""The local API gateway: the workers' labeling page and task API on 127.0.0.1.

In AWS, CloudFront serves the page (web/) from a private bucket and sends `/api/*` to an
API Gateway HTTP API whose routes have a Cognito JWT authorizer; the task API Lambda
(`TaskApiFunction`) gets API Gateway's payload 2.0 event. Here one HTTP server in the
`autolabel run` process plays all of them (docs/task-api.md):

  GET  /, /<file>           the static site in web/ (no folder listings, nothing outside web/)
  GET  /config.json         {"apiBase": "/api", "auth": {"kind": "local"}}
  POST /local/session       {"code": "<one-time code>"} -> {"token": "<JWT>", ...}: Cognito's sign-in
  /api/...                  the HTTP API's routes, as the stack declares them (its
                            AWS::ApiGatewayV2::Route resources; no route: 404 {"message": "Not Found"}),
                            the JWT authorizer's check (signature, exp, iss, aud; else 401
                            {"message": "Unauthorized"} and the handler is not called), then the
                            payload 2.0 event, to the function through the local cloud's Lambda
  GET  /local/s3/<bucket>/<key>?<signature>
                            S3's endpoint for the presigned URLs in the API's answers (below)

Tokens are HS256 JWTs signed with a key made for this gateway (so, per run), with the claims
of a Cognito ID token that the handler reads: sub (the worker id), email, iss, aud, iat, exp.

Images: the handler answers with presigned GET URLs of the job bucket, which point at S3
(https://<bucket>.s3.amazonaws.com/...), where a browser cannot reach the local cloud's
objects. The gateway rewrites each such URL in a JSON answer to the same object and query
under /local/s3/, and serves exactly the URLs it handed out, until they expire.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import mimetypes
import re
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import boto3
import jwt
from botocore.exceptions import ClientError

from autolabel.localcloud.asl import ACCOUNT

HOST = "127.0.0.1"  # never another interface: the sign-in codes and tokens are the only protection
WEB_ROOT = Path(__file__).resolve().parents[2] / "web"
TASK_API_OUTPUT = "TaskApiFunction"  # the stack output naming the task API function
API_PREFIX = "/api"
SESSION_PATH = "/local/session"
S3_PATH = "/local/s3/"
CONFIG_PATH = "/config.json"
SITE_CONFIG = {"apiBase": API_PREFIX, "auth": {"kind": "local"}}
TOKEN_SECONDS = 12 * 3600
AUDIENCE = "autolabel-labeling-page"  # Cognito: the user pool app client's id
ALGORITHM = "HS256"
REQUIRED_CLAIMS = ("sub", "iss", "aud", "iat", "exp")
MAX_BODY = 10 * 1024 * 1024  # API Gateway's payload limit
DEFAULT_URL_SECONDS = 900  # a presigned URL whose query names no expiry
UNAUTHORIZED = {"message": "Unauthorized"}
# Content types of the site's files: explicit for the ones browsers are strict about.
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8",
    ".json": "application/json", ".map": "application/json", ".svg": "image/svg+xml",
    ".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif",
    ".webp": "image/webp", ".ico": "image/x-icon", ".txt": "text/plain; charset=utf-8",
    ".woff": "font/woff", ".woff2": "font/woff2", ".webmanifest": "application/manifest+json",
}
# Request bodies API Gateway passes as text (others arrive base64-encoded).
TEXT_TYPES = re.compile(r"^(text/.*|application/(.*\+)?(json|xml|javascript|x-www-form-urlencoded))$")
# A presigned URL of a bucket, virtual-hosted (<bucket>.s3[.region].amazonaws.com/<key>) or path style.
PRESIGNED = re.compile(
    r"https://(?:(?P<vbucket>[a-z0-9][a-z0-9.-]*)\.s3(?:[.-][a-z0-9-]+)?\.amazonaws\.com/"
    r"|s3(?:[.-][a-z0-9-]+)?\.amazonaws\.com/(?P<pbucket>[a-z0-9][a-z0-9.-]*)/)"
    r"(?P<key>[^?\"\\\s]*)\?(?P<query>[^\"\\\s]*)")

log = logging.getLogger(__name__)


class GatewayError(RuntimeError):
    """The gateway cannot start (its port is taken, the stack has no task API function)."""


class Route:
    """One route of the HTTP API: "METHOD /path/{var}/{rest+}" (or ANY, or $default)."""

    def __init__(self, route_key: str, authorization: str = "JWT"):
        self.key = route_key
        self.authorized = authorization.upper() == "JWT"
        method, _, path = route_key.partition(" ")
        self.method = method.upper()
        self.segments = path.strip("/").split("/") if path.strip("/") else []

    def match(self, method: str, segments: list[str]) -> dict[str, str] | None:
        """The path parameters, when the route takes this request; None when it does not."""
        if self.key == "$default":
            return {}
        if self.method not in ("ANY", method):
            return None
        parameters: dict[str, str] = {}
        for number, pattern in enumerate(self.segments):
            if pattern.startswith("{") and pattern.endswith("+}"):  # greedy: the rest of the path
                rest = segments[number:]
                if not rest or not all(rest):
                    return None
                parameters[pattern[1:-2]] = "/".join(rest)
                return parameters
            if number >= len(segments):
                return None
            if pattern.startswith("{") and pattern.endswith("}"):
                if not segments[number]:
                    return None
                parameters[pattern[1:-1]] = segments[number]
            elif pattern != segments[number]:
                return None
        return parameters if len(segments) == len(self.segments) else None

    @property
    def specificity(self) -> tuple[bool, int, int, bool]:
        """API Gateway prefers the most specific route: literal segments, then variables, then ANY."""
        literal = sum(not s.startswith("{") for s in self.segments)
        greedy = any(s.endswith("+}") for s in self.segments)
        return (self.key != "$default", literal, -greedy, self.method != "ANY")


def template_routes(template: dict[str, Any]) -> list[Route]:
    """The HTTP API's routes in a synthesized template, most specific first ($default when none)."""
    routes = [Route(str(resource["Properties"]["RouteKey"]), str(resource["Properties"].get(
        "AuthorizationType", "NONE"))) for resource in template.get("Resources", {}).values()
        if resource.get("Type") == "AWS::ApiGatewayV2::Route"]
    return sorted(routes or [Route("$default", "JWT")], key=lambda route: route.specificity, reverse=True)


def check_port(port: int) -> None:
    """Refuse a port that another program listens on, before anything slow starts."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((HOST, port))
        except OSError as error:
            raise GatewayError(f"port {port} of {HOST} cannot be used ({error.strerror}); give another --port, "
                               "or none for a free one") from None


def _claim_value(value: Any) -> str:
    """A claim as API Gateway's JWT authorizer hands it to the function: always a string."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + " ".join(_claim_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def s3_uri_of(url: str) -> str | None:
    """The s3:// URI of the object a presigned URL (S3's, or the gateway's /local/s3/ one) reads."""
    parts = urlsplit(url)
    if parts.path.startswith(S3_PATH):
        bucket, _, key = parts.path[len(S3_PATH):].partition("/")
        return f"s3://{bucket}/{unquote(key)}" if bucket and key else None
    match = PRESIGNED.match(url if "?" in url else url + "?")
    if not match:
        return None
    return f"s3://{match['vbucket'] or match['pbucket']}/{unquote(match['key'])}"


def _expiry(query: str, now: float) -> float:
    """When a presigned URL's signature expires: SigV4's X-Amz-Date + X-Amz-Expires, SigV2's Expires."""
    fields = dict(parse_qsl(query))
    try:
        if "X-Amz-Date" in fields:
            signed = datetime.strptime(fields["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC).timestamp()
            return signed + int(fields.get("X-Amz-Expires", DEFAULT_URL_SECONDS))
        if "Expires" in fields:
            return float(fields["Expires"])
    except ValueError:
        pass
    return now + DEFAULT_URL_SECONDS


class LocalGateway:
    """The page, the sign-in and the task API behind one HTTP server on 127.0.0.1.

    Use it inside a started LocalCloud (its Lambda dispatch and S3 are the mock's):
        with LocalGateway(cloud, port=8080) as gateway:
            print(gateway.login_url("worker-1"))
    """

    def __init__(self, cloud, *, port: int = 0, site: Path = WEB_ROOT, function: str | None = None,
                 log_file: Path | None = None):
        self.cloud = cloud
        self.site = Path(site).resolve()
        if function is None:
            try:
                function = cloud.function(TASK_API_OUTPUT)
            except KeyError:
                raise GatewayError(f"the stack has no {TASK_API_OUTPUT} output naming the task API function") \
                    from None
        self.function = function
        self.requested_port = port
        self.log_file = log_file or Path(cloud.workdir) / "logs" / "gateway.log"
        self.signing_key = secrets.token_bytes(32)  # made per gateway, so per run
        self.audience = AUDIENCE
        self.issuer = ""  # the base URL, once the port is known
        self.function_errors: dict[str, str] = {}  # request id -> the Lambda error, for the simulated workforce
        self._codes: dict[str, tuple[str, str]] = {}  # one-time sign-in code -> (worker id, email)
        self._urls: dict[tuple[str, str, str], float] = {}  # (bucket, key, query) handed out -> expiry
        self._lock = threading.Lock()
        self.routes = template_routes(cloud.app.template)
        self._buckets = {cloud.resolve.ref(logical_id) for logical_id, resource in
                         cloud.app.template.get("Resources", {}).items() if resource["Type"] == "AWS::S3::Bucket"}
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._log: logging.Logger | None = None

    # ------------------------------------------------------------ lifecycle ----
    def __enter__(self) -> LocalGateway:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> None:
        try:
            self._server = _Server((HOST, self.requested_port), _Handler)
        except OSError as error:
            raise GatewayError(f"cannot listen on {HOST} port {self.requested_port}: {error.strerror}; "
                               "give another --port, or none for a free one") from None
        self._server.gateway = self
        self.issuer = self.base_url
        self._lambda = boto3.client("lambda")
        self._s3 = boto3.client("s3")
        self._log = _file_logger(self.log_file)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.2},
                                        daemon=True, name="local-gateway")
        self._thread.start()

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.close_connections()
        self._server.server_close()
        self._server = None
        if self._log:
            for handler in self._log.handlers:
                handler.close()
            self._log.handlers.clear()

    @property
    def host(self) -> str:
        return HOST

    @property
    def port(self) -> int:
        if self._server is None:
            raise GatewayError("the gateway is not started")
        return self._server.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    # -------------------------------------------------------------- sign-in ----
    def login_url(self, worker_id: str, email: str | None = None) -> str:
        """A sign-in link for one worker; its code works once (POST /local/session)."""
        return f"{self.base_url}/?login={self.login_code(worker_id, email)}"

    def login_code(self, worker_id: str, email: str | None = None) -> str:
        code = secrets.token_urlsafe(24)
        with self._lock:
            self._codes[code] = (worker_id, email or f"{worker_id}@autolabel.local")
        return code

    def redeem(self, code: str) -> dict[str, Any] | None:
        """The session for a one-time code ({"token", ...}); None for an unknown or used code."""
        with self._lock:
            worker = self._codes.pop(code, None)
        if worker is None:
            return None
        worker_id, email = worker
        token = self.mint_token(worker_id, email)
        expires = jwt.decode(token, options={"verify_signature": False})["exp"]
        return {"token": token, "tokenType": "Bearer", "expiresIn": TOKEN_SECONDS,
                "expiresAt": datetime.fromtimestamp(expires, UTC).isoformat().replace("+00:00", "Z"),
                "workerId": worker_id, "email": email}

    def mint_token(self, worker_id: str, email: str | None = None, *, seconds: int = TOKEN_SECONDS) -> str:
        """A token for a programmatic client (the simulated workforce): what a sign-in gives."""
        now = int(time.time())
        return jwt.encode({"sub": worker_id, "email": email or f"{worker_id}@autolabel.local",
                           "iss": self.issuer, "aud": self.audience, "iat": now, "exp": now + seconds},
                          self.signing_key, algorithm=ALGORITHM)

    def verify(self, authorization: str | None) -> dict[str, Any] | None:
        """The token's claims, checked as API Gateway's JWT authorizer checks them; None when refused."""
        if not authorization:
            return None
        scheme, _, rest = authorization.strip().partition(" ")
        token = rest.strip() if scheme.lower() == "bearer" else authorization.strip()  # the prefix is optional
        try:
            return jwt.decode(token, self.signing_key, algorithms=[ALGORITHM], audience=self.audience,
                              issuer=self.issuer, options={"require": list(REQUIRED_CLAIMS)})
        except jwt.PyJWTError:
            return None

    # ------------------------------------------------------------------ API ----
    def route(self, method: str, raw_path: str) -> tuple[Route, dict[str, str]] | None:
        """The route that takes a request and its path parameters (decoded); None: API Gateway's 404."""
        segments = [unquote(segment) for segment in raw_path.lstrip("/").split("/")]
        for route in self.routes:
            parameters = route.match(method, segments)
            if parameters is not None:
                return route, parameters
        return None

    def event(self, *, method: str, raw_path: str, raw_query: str, headers: list[tuple[str, str]], body: bytes,
              source_ip: str, claims: dict[str, Any] | None, route: Route | None = None,
              path_parameters: dict[str, str] | None = None) -> dict[str, Any]:
        """API Gateway's HTTP API payload 2.0 event for one request."""
        route_key = route.key if route else "$default"
        joined: dict[str, str] = {}
        cookies: list[str] = []
        for name, value in headers:
            name = name.lower()
            if name == "cookie":
                cookies.extend(c.strip() for c in value.split(";") if c.strip())
                continue
            joined[name] = f"{joined[name]},{value}" if name in joined else value
        joined.setdefault("x-forwarded-for", source_ip)
        joined.setdefault("x-forwarded-proto", "http")
        joined.setdefault("x-forwarded-port", str(self.port))
        now = time.time()
        request_id = base64.b64encode(secrets.token_bytes(12)).decode()
        # HTTP APIs hand the function the path percent-decoded (rawPath and http.path alike).
        path = unquote(raw_path)
        event: dict[str, Any] = {
            "version": "2.0",
            "routeKey": route_key,
            "rawPath": path,
            "rawQueryString": raw_query,
            "headers": joined,
            "requestContext": {
                "accountId": ACCOUNT,
                "apiId": "local",
                "domainName": f"{HOST}:{self.port}",
                "domainPrefix": HOST,
                "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": source_ip,
                         "userAgent": joined.get("user-agent", "")},
                "requestId": request_id,
                "routeKey": route_key,
                "stage": "$default",
                "time": datetime.fromtimestamp(now, UTC).strftime("%d/%b/%Y:%H:%M:%S +0000"),
                "timeEpoch": int(now * 1000),
            },
            "isBase64Encoded": False,
        }
        if claims is not None:
            event["requestContext"]["authorizer"] = {
                "jwt": {"claims": {k: _claim_value(v) for k, v in claims.items()}, "scopes": None}}
        if cookies:
            event["cookies"] = cookies
        if path_parameters:
            event["pathParameters"] = path_parameters
        if raw_query:
            params: dict[str, str] = {}
            for key, value in parse_qsl(raw_query, keep_blank_values=True):
                params[key] = f"{params[key]},{value}" if key in params else value
            event["queryStringParameters"] = params
        if body:
            media_type = joined.get("content-type", "").split(";")[0].strip().lower()
            text = None
            if TEXT_TYPES.match(media_type):
                try:
                    text = body.decode("utf-8")
                except UnicodeDecodeError:
                    pass
            event["body"] = text if text is not None else base64.b64encode(body).decode()
            event["isBase64Encoded"] = text is None
        return event

    def invoke(self, event: dict[str, Any]) -> tuple[int, list[tuple[str, str]], bytes]:
        """Call the task API function; its answer as API Gateway returns it: (status, headers, body)."""
        request_id = event["requestContext"]["requestId"]
        headers = [("apigw-requestid", request_id)]
        response = self._lambda.invoke(FunctionName=self.function, Payload=json.dumps(event).encode())
        payload = response["Payload"].read()
        try:
            result = json.loads(payload) if payload else None
        except json.JSONDecodeError:
            result = payload.decode("utf-8", "replace")
        if response.get("FunctionError"):
            error = result if isinstance(result, dict) else {"errorMessage": str(result)}
            self._function_failed(request_id, event, error)
            return 500, headers + [("content-type", "application/json")], \
                json.dumps({"message": "Internal Server Error"}).encode()
        if not (isinstance(result, dict) and "statusCode" in result):
            # API Gateway: a function answer without statusCode is a 200 with that JSON as the body.
            text = result if isinstance(result, str) else json.dumps(result)
            return 200, headers + [("content-type", "application/json")], self._rewrite_urls(text).encode()
        try:
            status = int(result["statusCode"])
            if not 100 <= status <= 599:
                raise ValueError(status)
            for name, value in (result.get("headers") or {}).items():
                headers.append((str(name), str(value)))
            for cookie in result.get("cookies") or []:
                headers.append(("set-cookie", str(cookie)))
            raw = result.get("body") or ""
            if result.get("isBase64Encoded"):
                body = base64.b64decode(raw, validate=True)
            else:
                body = str(raw).encode("utf-8")
        except (ValueError, TypeError, AttributeError, binascii.Error) as error:
            self._function_failed(request_id, event, {"errorType": "MalformedResponse",
                                                      "errorMessage": f"{type(error).__name__}: {error}"})
            return 500, [("apigw-requestid", request_id), ("content-type", "application/json")], \
                json.dumps({"message": "Internal Server Error"}).encode()
        content_type = next((v for k, v in headers if k.lower() == "content-type"), "")
        if "json" in content_type and not result.get("isBase64Encoded"):
            body = self._rewrite_urls(body.decode("utf-8", "replace")).encode("utf-8")
        return status, headers, body

    def _function_failed(self, request_id: str, event: dict[str, Any], error: dict[str, Any]) -> None:
        summary = f"{error.get('errorType', 'Error')}: {error.get('errorMessage', '')}"
        with self._lock:
            self.function_errors[request_id] = summary
        self._write_log(f"{event['requestContext']['http']['method']} {event['rawPath']} -> function error "
                        f"(request {request_id}) {summary}\n" + "\n".join(error.get("stackTrace") or []))

    # ------------------------------------------------------------- S3 URLs ----
    def _rewrite_urls(self, text: str) -> str:
        if "amazonaws.com" not in text:
            return text

        def local(match: re.Match) -> str:
            bucket = match["vbucket"] or match["pbucket"]
            if bucket not in self._buckets:
                return match[0]
            key = unquote(match["key"])
            now = time.time()
            with self._lock:
                if len(self._urls) > 10_000:  # forget the expired ones
                    self._urls = {k: t for k, t in self._urls.items() if t > now}
                self._urls[(bucket, key, match["query"])] = _expiry(match["query"], now)
            return f"{self.base_url}{S3_PATH}{bucket}/{match['key']}?{match['query']}"

        return PRESIGNED.sub(local, text)

    def s3_object(self, raw_path: str, raw_query: str) -> tuple[int, str, bytes]:
        """(status, content type, body) of a /local/s3/ URL: only the ones handed out, until they expire."""
        bucket, _, key = unquote(raw_path[len(S3_PATH):]).partition("/")
        with self._lock:
            expires = self._urls.get((bucket, key, raw_query))
        if expires is None:
            return 403, "application/xml", b"<Error><Code>AccessDenied</Code></Error>"
        if expires < time.time():
            return 403, "application/xml", b"<Error><Code>AccessDenied</Code><Message>Request has expired" \
                                           b"</Message></Error>"
        try:
            obj = self._s3.get_object(Bucket=bucket, Key=key)
        except ClientError:
            return 404, "application/xml", b"<Error><Code>NoSuchKey</Code></Error>"
        content_type = obj.get("ContentType") or ""
        if not content_type or content_type == "binary/octet-stream":
            content_type = mimetypes.guess_type(key)[0] or "application/octet-stream"
        return 200, content_type, obj["Body"].read()

    # ---------------------------------------------------------- static site ----
    def static_file(self, raw_path: str) -> Path | None:
        """The file of web/ that a path names; None for anything else (.., hidden names, folders)."""
        path = unquote(raw_path, errors="strict")
        if path in ("", "/"):
            path = "/index.html"
        if "\\" in path or "\x00" in path:
            return None
        parts = path.lstrip("/").split("/")
        if any(part in ("", ".", "..") or part.startswith(".") for part in parts):
            return None
        candidate = self.site.joinpath(*parts)
        try:
            resolved = candidate.resolve()
        except (OSError, RuntimeError):
            return None
        if not resolved.is_relative_to(self.site) or not resolved.is_file():
            return None
        return resolved

    # -------------------------------------------------------------- logging ----
    def _write_log(self, line: str) -> None:
        if self._log:
            self._log.info(line)


def _file_logger(path: Path) -> logging.Logger:
    path.parent.mkdir(parents=True, exist_ok=True)
    logger = logging.getLogger(f"{__name__}.{id(path)}.{secrets.token_hex(4)}")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    logger.addHandler(handler)
    return logger


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True  # a port left in TIME_WAIT by an earlier run; Linux still refuses one in use
    gateway: LocalGateway

    def __init__(self, *args, **kwargs):
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(*args, **kwargs)

    def process_request(self, request, client_address):
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request):
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """End the kept-alive connections too, so that no request reaches a stopped local cloud."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: every answer has a Content-Length
    server_version = "autolabel-local-gateway"
    sys_version = ""
    timeout = 60  # an idle kept-alive connection is closed after this long
    disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms wait for a delayed ACK
    server: _Server

    # --------------------------------------------------------------- routing ----
    def do_GET(self):
        self._dispatch()

    def do_HEAD(self):
        self._dispatch()

    def do_POST(self):
        self._dispatch()

    def do_PUT(self):
        self._dispatch()

    def do_PATCH(self):
        self._dispatch()

    def do_DELETE(self):
        self._dispatch()

    def do_OPTIONS(self):
        self._dispatch()

    def _dispatch(self) -> None:
        self._started = time.monotonic()
        self._body: bytes | None = None  # one handler serves every request of a kept-alive connection
        gateway = self.server.gateway
        target = self.path
        if not target.startswith("/"):  # absolute-form (a proxy's request line)
            parts = urlsplit(target)
            target = parts.path + (f"?{parts.query}" if parts.query else "")
        raw_path, _, raw_query = target.partition("?")
        try:
            path = unquote(raw_path, errors="strict")
        except UnicodeDecodeError:
            self.close_connection = True
            self._send_json(400, {"message": "Bad Request"})
            return
        try:
            self._read_body()  # whatever the route, so that the connection stays usable
            if path == API_PREFIX or path.startswith(API_PREFIX + "/"):
                self._api(gateway, raw_path, raw_query)
            elif path == SESSION_PATH:
                self._session(gateway)
            elif path.startswith(S3_PATH):
                if self._only("GET", "HEAD"):
                    self._send(*self._s3(gateway, raw_path, raw_query))
            elif path == CONFIG_PATH:
                if self._only("GET", "HEAD"):
                    self._send_json(200, SITE_CONFIG, cache="no-store")
            else:
                if self._only("GET", "HEAD"):
                    self._static(gateway, raw_path)
        except _BodyError as error:
            self.close_connection = True
            self._send_json(error.status, {"message": error.message})
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception as error:  # a bug here: the client gets API Gateway's 500, the log the details
            gateway._write_log(f"{self.command} {raw_path}: gateway error {type(error).__name__}: {error}")
            log.exception("local gateway")
            self.close_connection = True
            self._send_json(500, {"message": "Internal Server Error"})

    def _only(self, *methods: str) -> bool:
        if self.command in methods:
            return True
        self._send_json(405, {"message": "Method Not Allowed"}, extra=[("allow", ", ".join(methods))])
        return False

    def _s3(self, gateway: LocalGateway, raw_path: str, raw_query: str) -> tuple[int, list[tuple[str, str]], bytes]:
        status, content_type, body = gateway.s3_object(raw_path, raw_query)
        return status, [("content-type", content_type), ("cache-control", "private, max-age=300")], body

    def _static(self, gateway: LocalGateway, raw_path: str) -> None:
        file = gateway.static_file(raw_path)
        if file is None:
            self._send(404, [("content-type", "text/plain; charset=utf-8")], b"Not Found")
            return
        content_type = CONTENT_TYPES.get(file.suffix.lower()) or mimetypes.guess_type(file.name)[0] or \
            "application/octet-stream"
        self._send(200, [("content-type", content_type), ("cache-control", "no-cache"),
                         ("referrer-policy", "no-referrer")], file.read_bytes())

    def _session(self, gateway: LocalGateway) -> None:
        if not self._only("POST"):
            return
        body = self._read_body()
        try:
            request = json.loads(body or b"{}")
            code = request.get("code") if isinstance(request, dict) else None
        except (json.JSONDecodeError, UnicodeDecodeError):
            code = None
        if not isinstance(code, str) or not code:
            self._send_json(400, {"message": 'send {"code": "<the code of the sign-in link>"}'})
            return
        session = gateway.redeem(code)
        if session is None:
            self._send_json(401, {"message": "this sign-in link is unknown or was used already; "
                                             "ask for a new one"}, cache="no-store")
            return
        gateway._write_log(f"signed in {session['workerId']}")
        self._send_json(200, session, cache="no-store")

    def _api(self, gateway: LocalGateway, raw_path: str, raw_query: str) -> None:
        body = self._read_body()
        matched = gateway.route(self.command, raw_path)
        if matched is None:  # API Gateway answers a request no route takes itself, before any authorizer
            self._send_json(404, {"message": "Not Found"})
            return
        route, parameters = matched
        claims = None
        if route.authorized:
            claims = gateway.verify(self.headers.get("Authorization"))
            if claims is None:
                challenge = 'Bearer error="invalid_token"' if self.headers.get("Authorization") else "Bearer"
                self._send_json(401, UNAUTHORIZED, extra=[("www-authenticate", challenge)])
                return
        event = gateway.event(method=self.command, raw_path=raw_path, raw_query=raw_query,
                              headers=list(self.headers.items()), body=body, source_ip=self.client_address[0],
                              claims=claims, route=route, path_parameters=parameters)
        self._send(*gateway.invoke(event))

    # ------------------------------------------------------------------ I/O ----
    def _read_body(self) -> bytes:
        body = getattr(self, "_body", None)
        if body is not None:
            return body
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            self._body = self._read_chunked()
            return self._body
        length = self.headers.get("Content-Length")
        try:
            size = int(length) if length else 0
        except ValueError:
            raise _BodyError(400, "Bad Request") from None
        if size < 0:
            raise _BodyError(400, "Bad Request")
        if size > MAX_BODY:
            raise _BodyError(413, "Request Entity Too Large")
        self._body = self.rfile.read(size) if size else b""
        return self._body

    def _read_chunked(self) -> bytes:
        chunks, total = [], 0
        for chunk in self._chunks():
            total += len(chunk)
            if total > MAX_BODY:
                raise _BodyError(413, "Request Entity Too Large")
            chunks.append(chunk)
        return b"".join(chunks)

    def _chunks(self) -> Iterator[bytes]:
        while True:
            line = self.rfile.readline(1024)
            try:
                size = int(line.split(b";")[0].strip(), 16)
            except ValueError:
                raise _BodyError(400, "Bad Request") from None
            if size == 0:
                while self.rfile.readline(1024).strip():  # trailers
                    pass
                return
            if size > MAX_BODY:
                raise _BodyError(413, "Request Entity Too Large")
            yield self.rfile.read(size)
            self.rfile.readline(8)

    def _send_json(self, status: int, value: Any, *, cache: str | None = None,
                   extra: list[tuple[str, str]] | None = None) -> None:
        headers = [("content-type", "application/json"), *(extra or [])]
        if cache:
            headers.append(("cache-control", cache))
        self._send(status, headers, json.dumps(value).encode())

    def _send(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.send_response(status)
        for name, value in headers:
            if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                self.send_header(name, value)
        self.send_header("x-content-type-options", "nosniff")
        self.send_header("content-length", str(len(body)))
        if self.close_connection:
            self.send_header("connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        self._status = status

    def log_request(self, code="-", size="-"):
        path = re.sub(r"([?&]login=)[^&]*", r"\1...", self.path)  # sign-in codes stay out of the log
        elapsed = (time.monotonic() - getattr(self, "_started", time.monotonic())) * 1000
        status = code.value if isinstance(code, HTTPStatus) else code
        self.server.gateway._write_log(f"{self.client_address[0]} {self.command} {path} {status} {elapsed:.0f} ms")

    def log_message(self, format, *args):  # noqa: A002 (BaseHTTPRequestHandler's name)
        self.server.gateway._write_log(format % args)


class _BodyError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message
