"""The local gateway (autolabel/localcloud/gateway.py): what API Gateway, its JWT authorizer, CloudFront
and S3's presigned URLs do for the labeling page, on 127.0.0.1, against the real local cloud.

The task API's routes themselves are the task API's tests; here a recording function stands in
for it (registered in the local cloud's Lambda under a name of its own), except in the last
test, where the simulated workforce labels a job through the gateway and the real TaskApiFunction.
"""

from __future__ import annotations

import base64
import http.client
import io
import json
import re
import socket
import threading
import time
from pathlib import Path
from urllib.parse import quote

import boto3
import jwt
import pytest

from autolabel import runner
from autolabel.cli import main
from autolabel.localcloud.cloud import LocalCloud
from autolabel.localcloud.gateway import (
    SITE_CONFIG,
    WEB_ROOT,
    GatewayError,
    LocalGateway,
    check_port,
    s3_uri_of,
)
from autolabel.localcloud.workforce import SimulatedWorkforce, _Worker, load_answers, task_item_key
from autolabel.runner import RunRequest, run
from labeling.layout import JobLayout
from tests.conftest import read_jsonl
from tests.gateway_client import call as _call

STAND_IN = "RecordingTaskApi"
CALLS: list[dict] = []  # the events the stand-in function got


def recording_handler(event, context):
    """Stands in for the task API: records the event; some jobs ask for a special answer."""
    CALLS.append(event)
    job = (event.get("pathParameters") or {}).get("job")
    if job == "boom":
        raise RuntimeError("the stand-in failed on purpose")
    if job == "binary":
        return {"statusCode": 200, "headers": {"Content-Type": "application/octet-stream"},
                "body": base64.b64encode(b"\x00\x01\xff").decode(), "isBase64Encoded": True}
    if job == "image":
        s3 = boto3.client("s3")
        bucket = event["headers"]["x-test-bucket"]
        url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "jobs/image/data/a b.png"},
                                        ExpiresIn=int(event["headers"].get("x-test-expires", "300")))
        other = s3.generate_presigned_url("get_object", Params={"Bucket": "not-ours", "Key": "x.png"})
        return {"statusCode": 200, "headers": {"Content-Type": "application/json"},
                "body": json.dumps({"task": {"item": {"imageUrl": url}}, "other": other})}
    if job == "plain":
        return {"jobs": []}  # no statusCode: API Gateway makes it a 200 JSON answer
    if job == "slow-once":
        if sum((c.get("pathParameters") or {}).get("job") == job for c in CALLS) == 1:
            time.sleep(2)  # longer than the client waits: it gives up on this request and sends it again
        return {"worker": _claims(event).get("sub")}
    return {"statusCode": 201, "headers": {"Content-Type": "application/json", "X-Stand-In": "yes"},
            "cookies": ["a=1", "b=2"], "body": json.dumps({"worker": _claims(event).get("sub")}),
            "isBase64Encoded": False}


def _claims(event: dict) -> dict:
    return event["requestContext"].get("authorizer", {}).get("jwt", {}).get("claims", {})


@pytest.fixture(scope="module")
def cloud(synthesized_app, tmp_path_factory):
    with LocalCloud(synthesized_app, tmp_path_factory.mktemp("gateway-cloud")) as cloud:
        cloud.registry.register(STAND_IN, f"{__name__}.recording_handler")
        yield cloud


@pytest.fixture
def site(tmp_path) -> Path:
    """A site folder beside a file that must never be served."""
    (tmp_path / "secret.txt").write_text("TOP SECRET")
    root = tmp_path / "site"
    (root / "sub").mkdir(parents=True)
    (root / "index.html").write_text("<!doctype html><title>page</title>")
    (root / "app.js").write_text("console.log(1)")
    (root / "style.css").write_text("body{}")
    (root / "favicon.svg").write_text("<svg/>")
    (root / "sub" / "data.json").write_text("{}")
    (root / ".hidden").write_text("hidden")
    (root / "outside.txt").symlink_to(tmp_path / "secret.txt")
    return root


@pytest.fixture
def gateway(cloud, site):
    CALLS.clear()
    with LocalGateway(cloud, site=site, function=STAND_IN) as gateway:
        yield gateway


def _request(gateway: LocalGateway, method: str, path: str, *, body: bytes | None = None,
             headers: dict | None = None) -> tuple[int, dict, bytes]:
    """A raw request (http.client sends the path as given: no normalizing of .. or %2e)."""
    connection = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=30)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


def _bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def _token(gateway: LocalGateway, key: bytes | None = None, algorithm: str = "HS256", **claims) -> str:
    now = int(time.time())
    payload = {"sub": "worker-1", "email": "w1@example.com", "iss": gateway.issuer, "aud": gateway.audience,
               "iat": now, "exp": now + 3600, **claims}
    return jwt.encode({k: v for k, v in payload.items() if v is not None}, key or gateway.signing_key,
                      algorithm=algorithm)


# ------------------------------------------------------------------ autolabel run (first in this file) ----
# These start a local cloud of their own through the runner, so they come before the tests that use the
# module's `cloud` fixture (one local cloud at a time per process; pytest runs a file's tests in order).

class _Lines(io.StringIO):
    """What the run prints, readable while it runs."""

    def __init__(self):
        super().__init__()
        self.printed = threading.Condition()

    def write(self, text: str) -> int:
        with self.printed:
            written = super().write(text)
            self.printed.notify_all()
        return written

    def wait_for(self, pattern: str, count: int, timeout: float = 120) -> list[re.Match]:
        deadline = time.monotonic() + timeout
        with self.printed:
            while True:
                found = list(re.finditer(pattern, self.getvalue(), re.MULTILINE))
                if len(found) >= count or time.monotonic() > deadline:
                    return found
                self.printed.wait(0.5)


def test_a_web_run_prints_a_sign_in_link_per_worker_and_ends_when_they_have_labeled_the_job(
        bbc_news, tmp_path, synthesized_app):
    manifest = tmp_path / "small.manifest"
    lines = bbc_news["manifest"].read_text(encoding="utf-8").splitlines()[:12]
    manifest.write_text("\n".join(lines) + "\n", encoding="utf-8")
    request = RunRequest(manifest=manifest, task_type="text-classification", labels=bbc_news["labels"],
                         workforce="web", workers=2, output=tmp_path / "out", workdir=tmp_path / "work",
                         job_name="web-run", settings={"MaxConcurrentTaskCount": 11, "CalibrationSampleSize": 10})
    out, result = _Lines(), {}

    def running():
        try:
            result["report"] = run(request, out=out, app=synthesized_app)
        except Exception as error:  # shown by the assertion below
            result["error"] = error

    thread = threading.Thread(target=running, daemon=True)
    thread.start()
    links = out.wait_for(r"^worker (\d+): (http://127\.0\.0\.1:\d+)/\?login=(\S+)$", 2)
    assert [m[1] for m in links] == ["1", "2"], out.getvalue() + str(result)
    base_url = links[0][2]
    assert _call(base_url, "GET", "/")[0] == 200
    tokens = []
    for link in links:
        status, session = _call(base_url, "POST", "/local/session", body={"code": link[3]})
        assert status == 200 and session["workerId"] == f"worker-{link[1]}"
        assert _call(base_url, "POST", "/local/session", body={"code": link[3]})[0] == 401  # once only
        tokens.append(session["token"])

    names = [label["label"] for label in json.loads(bbc_news["labels"].read_text())["labels"]]
    answers = load_answers(bbc_news["answers"], names, source_key="source")
    answered = {token: 0 for token in tokens}
    deadline = time.monotonic() + 120
    while thread.is_alive() and time.monotonic() < deadline:
        try:
            for token in tokens:  # the two workers take turns
                status, task = _call(base_url, "POST", "/api/jobs/web-run/claim", token)
                if status == 200 and task["task"]:
                    answer_path = f"/api/jobs/web-run/tasks/{quote(task['task']['taskId'], safe='')}/answer"
                    status, _ = _call(base_url, "POST", answer_path, token, answers[task_item_key(task["task"])])
                    assert status == 200
                    answered[token] += 1
        except OSError:  # the job ended meanwhile, and the run stopped its gateway
            thread.join(30)
        time.sleep(0.1)
    thread.join(60)
    assert "report" in result, (out.getvalue(), result)
    assert result["report"]["counters"]["HumanLabeled"] == 12 and all(answered.values()), answered
    out_lines = read_jsonl(tmp_path / "out" / "manifests" / "output" / "output.manifest")
    gold = {line["article-id"]: line["category"] for line in read_jsonl(bbc_news["answers"])}
    assert all(line["label"] == gold[line["article-id"]] for line in out_lines)
    assert "job web-run complete" in out.getvalue()


def _cli_error(capsys, *argv: str) -> str:
    with pytest.raises(SystemExit) as stopped:
        main(["run", "in.manifest", "--task-type", "text-classification", "--labels", "l.json",
              "--output", "out", *argv])
    assert stopped.value.code == 2
    return capsys.readouterr().err


@pytest.mark.parametrize("argv, message", [
    (["--port", "0"], "argument --port: must be at least 1 and at most 65535, not 0"),
    (["--port", "65536"], "argument --port: must be at least 1 and at most 65535, not 65536"),
    (["--port", "http"], "argument --port: a whole number is needed, not 'http'"),
    (["--workers", "0"], "argument --workers: must be at least 1 and at most 50, not 0"),
    (["--workers", "51"], "argument --workers: must be at least 1 and at most 50, not 51"),
    (["--workforce", "crowd"], "argument --workforce: invalid choice: 'crowd'"),
])
def test_the_cli_refuses_ports_and_worker_counts_out_of_range(capsys, argv, message):
    assert message in _cli_error(capsys, *argv)


def _web_request(bbc_news, tmp_path, **changes) -> RunRequest:
    return RunRequest(**{"manifest": bbc_news["manifest"], "task_type": "text-classification",
                         "labels": bbc_news["labels"], "output": tmp_path / "out", "workdir": tmp_path / "work",
                         "workforce": "web", **changes})


@pytest.mark.parametrize("changes, message", [
    ({"answers": "answers"}, "--answers is for --workforce simulated; web workers answer at the labeling page"),
    ({"workers": 2, "settings": {"NumberOfHumanWorkersPerDataObject": 3}},
     "--workers 2 is too few: each item needs 3 different workers (NumberOfHumanWorkersPerDataObject 3); "
     "give --workers 3 or more"),
    ({"settings": {"NumberOfHumanWorkersPerDataObject": 2}}, None),  # default: as many workers as needed
    ({"port": 70000}, "--port 70000 is not a port; give 1 to 65535, or leave it out for a free one"),
    ({"workers": 51}, "--workers 51: give 1 to 50 workers"),
])
def test_a_run_refuses_what_its_workforce_cannot_do_before_anything_starts(bbc_news, tmp_path, changes, message):
    if changes.get("answers"):
        changes = {**changes, "answers": bbc_news["answers"]}
    request = _web_request(bbc_news, tmp_path, **changes)
    if message is None:
        assert runner._workers(request, request.settings) == 2
        return
    with pytest.raises(runner.RunError) as refused:
        run(request, app=object())  # refused before the app is used
    assert str(refused.value) == message


def test_a_port_another_program_listens_on_is_refused_before_anything_starts(bbc_news, tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(runner.RunError, match=f"port {port} of 127.0.0.1 cannot be used .*give another --port"):
            run(_web_request(bbc_news, tmp_path, port=port), app=object())
    assert not (tmp_path / "work").exists()


# ------------------------------------------------------------------------------------------ binding ----

def test_the_gateway_listens_on_loopback_only(gateway):
    assert gateway._server.socket.getsockname()[0] == "127.0.0.1"
    assert gateway.base_url == f"http://127.0.0.1:{gateway.port}"
    with socket.create_connection(("127.0.0.1", gateway.port), timeout=5):
        pass
    for address in {a[4][0] for a in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET)} - {"127.0.0.1"}:
        with pytest.raises(OSError), socket.create_connection((address, gateway.port), timeout=2):
            pass


def test_a_port_in_use_is_refused_with_a_clear_reason(gateway, cloud, site):
    with pytest.raises(GatewayError, match=f"port {gateway.port}"):
        check_port(gateway.port)
    with pytest.raises(GatewayError, match="another --port"):
        LocalGateway(cloud, site=site, function=STAND_IN, port=gateway.port).start()


def test_the_stack_must_name_the_task_api_function(cloud, site, monkeypatch):
    monkeypatch.delitem(cloud.app.outputs, "TaskApiFunction")
    with pytest.raises(GatewayError, match="TaskApiFunction"):
        LocalGateway(cloud, site=site)


# ------------------------------------------------------------------------------- the authorizer ----

def test_no_token_is_401_and_the_function_is_not_called(gateway):
    status, headers, body = _request(gateway, "GET", "/api/jobs")
    assert (status, json.loads(body)) == (401, {"message": "Unauthorized"})
    assert headers["www-authenticate"].startswith("Bearer")
    assert CALLS == []


@pytest.mark.parametrize("why, token", [
    ("forged: signed with another key", lambda g: _token(g, key=b"k" * 32)),
    ("expired", lambda g: _token(g, iat=int(time.time()) - 7200, exp=int(time.time()) - 60)),
    ("another audience", lambda g: _token(g, aud="someone-else")),
    ("another issuer", lambda g: _token(g, iss="https://cognito-idp.us-east-1.amazonaws.com/pool")),
    ("no expiry", lambda g: _token(g, exp=None)),
    ("no subject", lambda g: _token(g, sub=None)),
    ("issued in the future", lambda g: _token(g, iat=int(time.time()) + 3600)),
    ("unsigned (alg none)", lambda g: jwt.encode({"sub": "worker-1", "iss": g.issuer, "aud": g.audience,
                                                  "iat": int(time.time()), "exp": int(time.time()) + 60},
                                                 None, algorithm="none")),
    ("not a JWT", lambda g: "not-a-token"),
])
def test_a_bad_token_is_401_and_the_function_is_not_called(gateway, why, token):
    status, _, body = _request(gateway, "POST", "/api/jobs/j/claim", headers=_bearer(token(gateway)))
    assert (status, json.loads(body)) == (401, {"message": "Unauthorized"}), why
    assert CALLS == []


def test_a_route_the_api_does_not_have_is_404_before_any_token_is_asked_for(gateway):
    for method, path in (("GET", "/api/nothing"), ("POST", "/api/jobs"), ("GET", "/api/jobs/j/claim"),
                         ("POST", "/api/jobs/j/tasks/t/answer/more")):
        status, _, body = _request(gateway, method, path, headers=_bearer(gateway.mint_token("worker-1")))
        assert (status, json.loads(body)) == (404, {"message": "Not Found"}), (method, path)
    assert CALLS == []


# -------------------------------------------------------------------------------------- the event ----

def test_a_signed_in_request_reaches_the_function_as_api_gateways_payload_2_event(gateway):
    token = gateway.mint_token("worker-7", "seven@example.com")
    status, headers, body = _request(
        gateway, "POST", "/api/jobs/small-job/tasks/00000-000000012/answer?x=1&x=2&y=",
        body=json.dumps({"label": "tech"}).encode(),
        headers={**_bearer(token), "Content-Type": "application/json", "X-Custom": "A", "Cookie": "c=1; d=2"})
    assert status == 201 and json.loads(body) == {"worker": "worker-7"}
    assert headers["x-stand-in"] == "yes" and headers["apigw-requestid"]
    (event,) = CALLS
    assert event["version"] == "2.0"
    assert event["routeKey"] == "POST /api/jobs/{job}/tasks/{taskId}/answer"
    assert event["rawPath"] == "/api/jobs/small-job/tasks/00000-000000012/answer"
    assert event["rawQueryString"] == "x=1&x=2&y="
    assert event["queryStringParameters"] == {"x": "1,2", "y": ""}
    assert event["pathParameters"] == {"job": "small-job", "taskId": "00000-000000012"}
    assert event["headers"]["x-custom"] == "A" and event["headers"]["authorization"] == f"Bearer {token}"
    assert all(name == name.lower() for name in event["headers"])
    assert "cookie" not in event["headers"] and event["cookies"] == ["c=1", "d=2"]
    assert event["body"] == '{"label": "tech"}' and event["isBase64Encoded"] is False
    context = event["requestContext"]
    assert context["http"]["method"] == "POST" and context["http"]["path"] == event["rawPath"]
    assert context["http"]["sourceIp"] == "127.0.0.1"
    assert context["stage"] == "$default" and context["routeKey"] == event["routeKey"] and context["requestId"]
    claims = context["authorizer"]["jwt"]["claims"]
    assert context["authorizer"]["jwt"]["scopes"] is None
    assert claims["sub"] == "worker-7" and claims["email"] == "seven@example.com"
    assert claims["iss"] == gateway.issuer and claims["aud"] == gateway.audience
    # API Gateway hands every claim over as a string; the token lives about 12 hours.
    assert all(isinstance(value, str) for value in claims.values())
    assert 11 * 3600 <= int(claims["exp"]) - int(claims["iat"]) <= 13 * 3600


def test_the_path_reaches_the_function_percent_decoded_as_http_apis_send_it(gateway):
    _request(gateway, "POST", "/api/jobs/a%20job/tasks/00000%23000000001/answer",
             body=b"{}", headers={**_bearer(gateway.mint_token("w")), "Content-Type": "application/json"})
    (event,) = CALLS
    assert event["rawPath"] == "/api/jobs/a job/tasks/00000#000000001/answer"
    assert event["pathParameters"] == {"job": "a job", "taskId": "00000#000000001"}


def test_a_binary_body_arrives_base64_encoded(gateway):
    _request(gateway, "POST", "/api/jobs/j/claim", body=b"\x89PNG\x00\xff",
             headers={**_bearer(gateway.mint_token("w")), "Content-Type": "image/png"})
    (event,) = CALLS
    assert event["isBase64Encoded"] is True and base64.b64decode(event["body"]) == b"\x89PNG\x00\xff"


def test_the_functions_answer_is_returned_as_api_gateway_returns_it(gateway):
    token = _bearer(gateway.mint_token("w"))
    status, headers, body = _request(gateway, "GET", "/api/jobs/binary/progress", headers=token)
    assert (status, headers["content-type"], body) == (200, "application/octet-stream", b"\x00\x01\xff")
    status, headers, body = _request(gateway, "GET", "/api/jobs/plain/progress", headers=token)
    assert (status, headers["content-type"], json.loads(body)) == (200, "application/json", {"jobs": []})
    connection = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=30)
    connection.request("POST", "/api/jobs/j/claim", headers=token)
    assert connection.getresponse().headers.get_all("set-cookie") == ["a=1", "b=2"]
    connection.close()


def test_a_failing_function_is_api_gateways_500_and_the_error_is_kept(gateway):
    status, headers, body = _request(gateway, "POST", "/api/jobs/boom/claim", headers=_bearer(gateway.mint_token("w")))
    assert (status, json.loads(body)) == (500, {"message": "Internal Server Error"})
    assert "the stand-in failed on purpose" in gateway.function_errors[headers["apigw-requestid"]]
    assert "the stand-in failed on purpose" in gateway.log_file.read_text()


def test_one_connection_carries_many_requests(gateway):
    connection = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=30)
    for _ in range(3):
        connection.request("POST", "/api/jobs/j/claim", body=b"{}", headers=_bearer(gateway.mint_token("w")))
        response = connection.getresponse()
        assert response.status == 201
        response.read()
    connection.close()
    assert len(CALLS) == 3


def test_a_simulated_worker_sends_a_request_again_after_it_timed_out(gateway):
    """A run stopped for longer than the client's timeout (kill -STOP) finds its waiting requests timed
    out when it resumes; the worker sends the request once more instead of stopping the job."""
    worker = _Worker("w", gateway.mint_token("w"), gateway.host, gateway.port, timeout=0.5)
    try:
        assert worker.call("POST", "/api/jobs/slow-once/claim", {}) == {"worker": "w"}
    finally:
        worker.close()
    assert [(c.get("pathParameters") or {}).get("job") for c in CALLS] == ["slow-once", "slow-once"]


# ------------------------------------------------------------------------------------- sign-in ----

def test_a_sign_in_code_gives_a_token_once(gateway):
    url = gateway.login_url("worker-3")
    assert url.startswith(f"{gateway.base_url}/?login=")
    code = url.split("login=", 1)[1]
    status, headers, body = _request(gateway, "POST", "/local/session", body=json.dumps({"code": code}).encode(),
                                     headers={"Content-Type": "application/json"})
    session = json.loads(body)
    assert status == 200 and headers["cache-control"] == "no-store"
    assert session["workerId"] == "worker-3" and session["expiresAt"].endswith("Z")
    assert jwt.get_unverified_header(session["token"])["alg"] == "HS256"
    status, _, _ = _request(gateway, "POST", "/api/jobs/j/claim", headers=_bearer(session["token"]))
    assert status == 201 and _claims(CALLS[-1])["sub"] == "worker-3"

    again, _, body = _request(gateway, "POST", "/local/session", body=json.dumps({"code": code}).encode())
    assert again == 401 and "used already" in json.loads(body)["message"]


def test_sign_in_refuses_unknown_codes_and_other_methods(gateway):
    assert _request(gateway, "POST", "/local/session", body=b'{"code": "made-up"}')[0] == 401
    assert _request(gateway, "POST", "/local/session", body=b"not json")[0] == 400
    assert _request(gateway, "GET", "/local/session")[0] == 405


def test_tokens_of_another_run_are_refused(gateway, cloud, site):
    with LocalGateway(cloud, site=site, function=STAND_IN) as other:
        token = other.mint_token("worker-1")
    assert _request(gateway, "GET", "/api/jobs", headers=_bearer(token))[0] == 401
    assert CALLS == []


# ----------------------------------------------------------------------------------- the site ----

def test_config_json_says_local_sign_in_and_the_api_on_this_origin(gateway):
    status, headers, body = _request(gateway, "GET", "/config.json")
    assert status == 200 and headers["content-type"] == "application/json"
    assert json.loads(body) == SITE_CONFIG == {"apiBase": "/api", "auth": {"kind": "local"}}


@pytest.mark.parametrize("path, content_type, text", [
    ("/", "text/html; charset=utf-8", "<title>page</title>"),
    ("/?login=abc", "text/html; charset=utf-8", "<title>page</title>"),
    ("/index.html", "text/html; charset=utf-8", "<title>page</title>"),
    ("/app.js", "text/javascript; charset=utf-8", "console.log"),
    ("/style.css", "text/css; charset=utf-8", "body"),
    ("/favicon.svg", "image/svg+xml", "<svg"),
    ("/sub/data.json", "application/json", "{}"),
])
def test_static_files_are_served_with_their_content_types(gateway, path, content_type, text):
    status, headers, body = _request(gateway, "GET", path)
    assert (status, headers["content-type"]) == (200, content_type)
    assert text in body.decode() and headers["x-content-type-options"] == "nosniff"
    head, head_headers, head_body = _request(gateway, "HEAD", path)
    assert head == 200 and head_body == b"" and head_headers["content-length"] == str(len(body))


@pytest.mark.parametrize("path", [
    "/../pyproject.toml", "/%2e%2e/pyproject.toml", "/%2E%2E%2Fpyproject.toml", "/..%2fpyproject.toml",
    "/../secret.txt", "/%2e%2e/secret.txt", "/sub/../../secret.txt", "/sub/%2e%2e/%2e%2e/secret.txt",
    "/..\\secret.txt", "/%5c..%5csecret.txt", "//etc/passwd", "/%2fetc%2fpasswd", "/outside.txt", "/.hidden",
    "/sub", "/sub/", "/missing.js", "/index.html%00.js",
])
def test_nothing_outside_the_site_nor_folders_nor_hidden_files_are_served(gateway, path):
    status, _, body = _request(gateway, "GET", path)
    assert status == 404, path
    assert b"SECRET" not in body and b"[project]" not in body and b"root:" not in body


def test_the_static_site_takes_no_uploads(gateway):
    assert _request(gateway, "POST", "/index.html", body=b"x")[0] == 405


def test_the_default_site_is_the_repositorys_web_folder(cloud):
    with LocalGateway(cloud, function=STAND_IN) as gateway:
        assert gateway.site == WEB_ROOT.resolve()
        if (WEB_ROOT / "index.html").is_file():
            status, _, body = _request(gateway, "GET", "/")
            assert status == 200 and body == (WEB_ROOT / "index.html").read_bytes()
        for path in ("/../pyproject.toml", "/%2e%2e/pyproject.toml", "/%2e%2e%2fpyproject.toml"):
            assert _request(gateway, "GET", path)[0] == 404


# ------------------------------------------------------------------------------ presigned URLs ----

def test_presigned_urls_of_the_job_bucket_are_served_by_the_gateway_until_they_expire(gateway, cloud):
    boto3.client("s3").put_object(Bucket=cloud.bucket, Key="jobs/image/data/a b.png", Body=b"\x89PNG-bytes",
                                  ContentType="image/png")
    token = _bearer(gateway.mint_token("w"))
    _, _, body = _request(gateway, "POST", "/api/jobs/image/claim", headers={**token, "X-Test-Bucket": cloud.bucket})
    answer = json.loads(body)
    url = answer["task"]["item"]["imageUrl"]
    assert url.startswith(f"{gateway.base_url}/local/s3/{cloud.bucket}/jobs/image/data/a%20b.png?")
    assert "amazonaws.com" in answer["other"]  # another bucket's URL is left alone
    assert s3_uri_of(url) == f"s3://{cloud.bucket}/jobs/image/data/a b.png"
    local = url.removeprefix(gateway.base_url)
    status, headers, image = _request(gateway, "GET", local)
    assert (status, headers["content-type"], image) == (200, "image/png", b"\x89PNG-bytes")
    # Only the URLs handed out, as signed: a changed signature or another key is refused.
    assert _request(gateway, "GET", local.replace("Signature=", "Signature=x"))[0] == 403
    assert _request(gateway, "GET", local.replace("a%20b.png", "other.png"))[0] == 403

    _, _, body = _request(gateway, "POST", "/api/jobs/image/claim",
                          headers={**token, "X-Test-Bucket": cloud.bucket, "X-Test-Expires": "1"})
    expiring = json.loads(body)["task"]["item"]["imageUrl"].removeprefix(gateway.base_url)
    time.sleep(2.1)
    status, _, body = _request(gateway, "GET", expiring)
    assert status == 403 and b"expired" in body


def test_s3_uris_of_presigned_urls():
    assert s3_uri_of("https://b.s3.amazonaws.com/jobs/x/a%20b.png?X-Amz-Signature=1") == "s3://b/jobs/x/a b.png"
    assert s3_uri_of("https://b.s3.us-east-1.amazonaws.com/k.png?Expires=1") == "s3://b/k.png"
    assert s3_uri_of("https://s3.us-east-1.amazonaws.com/b/k.png?Expires=1") == "s3://b/k.png"
    assert s3_uri_of("http://127.0.0.1:8/local/s3/b/dir/k.png?Expires=1") == "s3://b/dir/k.png"
    assert s3_uri_of("https://example.com/k.png") is None


# --------------------------------------------------------------------------- end to end, real API ----

def test_the_simulated_workforce_labels_a_job_through_the_gateway(cloud, bbc_news, tmp_path):
    """A human-only text job in batches of 12: two simulated workers sign in, claim and answer over HTTP,
    the real TaskApiFunction counts the answers and resumes the workflow; every label is the answer."""
    job, labels = "through-the-gateway", json.loads(bbc_news["labels"].read_text())
    names = [label["label"] for label in labels["labels"]]
    lines = bbc_news["manifest"].read_text(encoding="utf-8").splitlines()[:20]
    s3, layout = boto3.client("s3"), JobLayout(f"jobs/{job}")
    s3.put_object(Bucket=cloud.bucket, Key=layout.job_config, Body=json.dumps({
        "TaskType": "text-classification", "MaxConcurrentTaskCount": 12, "CalibrationSampleSize": 10}).encode())
    s3.put_object(Bucket=cloud.bucket, Key=layout.label_categories, Body=bbc_news["labels"].read_bytes())
    answers = load_answers(bbc_news["answers"], names, source_key="source")
    with LocalGateway(cloud, log_file=tmp_path / "gateway.log") as gateway:
        assert gateway.function == cloud.function("TaskApiFunction")
        workforce = SimulatedWorkforce(answers, job=job, gateway=gateway, workers=2)
        workforce.start()
        try:
            s3.put_object(Bucket=cloud.bucket, Key=layout.input_manifest, Body=("\n".join(lines) + "\n").encode())
            status = _finished(cloud, job, workforce)
        finally:
            workforce.stop()
    assert workforce.errors == [] and status == "SUCCEEDED"
    assert workforce.answered == 20
    out = [json.loads(line) for line in s3.get_object(Bucket=cloud.bucket, Key=layout.output_manifest)[
        "Body"].read().decode().splitlines() if line.strip()]
    gold = {line["article-id"]: (line["category"], line["category-metadata"]["class-name"])
            for line in read_jsonl(bbc_news["answers"])}
    assert [line["article-id"] for line in out] == [json.loads(line)["article-id"] for line in lines]
    assert all((line["label"], line["label-metadata"]["class-name"]) == gold[line["article-id"]] for line in out)
    assert all(line["label-metadata"]["human-annotated"] == "yes" for line in out)
    log = gateway.log_file.read_text()
    # A line ends "<method> <path> <status> <elapsed> ms"; match the status field, since an elapsed
    # time of 401 ms once made a bare " 401 " search fail a run in which every request succeeded.
    statuses = re.findall(r"^.* (?:GET|POST|PUT) \S+ (\d{3}) \d+ ms$", log, flags=re.MULTILINE)
    assert f"POST /api/jobs/{job}/claim 200" in log and statuses and "401" not in statuses


def _finished(cloud: LocalCloud, job: str, workforce: SimulatedWorkforce, timeout: float = 120) -> str:
    sfn = boto3.client("stepfunctions")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not workforce.errors:
        executions = [e for e in sfn.list_executions(stateMachineArn=cloud.state_machine_arn)["executions"]
                      if e["name"] == job]
        if executions and executions[0]["status"] != "RUNNING":
            return executions[0]["status"]
        time.sleep(0.2)
    return f"not finished: {workforce.errors}"
