"""SageMaker inference entry point: GET /ping and POST /invocations on $SAGEMAKER_BIND_TO_PORT.

Batch transform sends JSON-lines mini-batches, one {"source-ref": ...} object per line,
and joins our output back to its input line by line, so the response has exactly
one line per non-blank request line, in order. An image that cannot be read fails the
whole request (400, naming its line and source-ref): a partial answer cannot be joined.
"""
import json
import os
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from .paths import MlPaths
from .predictor import Predictor
from .sources import ImageError

JSONLINES = "application/jsonlines"
JSONLINES_TYPES = {"", JSONLINES, "application/jsonl", "application/x-jsonlines"}
DEFAULT_PORT = 8080


class BadRequest(Exception):
    pass


SOURCE_KEY = "source-ref"


def _source(record, where: str) -> tuple[str, str]:
    if not isinstance(record, dict) or not isinstance(record.get(SOURCE_KEY), str):
        raise BadRequest(f"{where}: expected a JSON object with a string '{SOURCE_KEY}'")
    return where, record[SOURCE_KEY]


def parse_sources(body: bytes, content_type: str) -> list[tuple[str, str]]:
    """(where, source-ref) per record; `where` ("line 3") names it in error messages."""
    media_type = content_type.split(";")[0].strip().lower()
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest("request body is not UTF-8") from None
    if media_type == "application/json":
        try:
            document = json.loads(text)
        except json.JSONDecodeError as exc:
            raise BadRequest(f"invalid JSON ({exc})") from None
        records = document if isinstance(document, list) else [document]
        return [_source(r, f"item {i}") for i, r in enumerate(records, start=1)]
    if media_type not in JSONLINES_TYPES:
        raise BadRequest(f"unsupported content type {content_type!r}; send {JSONLINES}")
    sources = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise BadRequest(f"line {number}: invalid JSON ({exc})") from None
        sources.append(_source(record, f"line {number}"))
    return sources


class Handler(BaseHTTPRequestHandler):
    # Keep-alive: batch transform sends many mini-batches over one connection.
    protocol_version = "HTTP/1.1"

    def _reply(self, status: int, body: bytes = b"", content_type: str = "text/plain") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        if self.path == "/ping":
            self._reply(200)  # the model is loaded before the server starts listening
        else:
            self._reply(404, b"not found\n")

    def do_POST(self) -> None:
        # Read the whole body first so an error reply leaves the connection in a clean state.
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path != "/invocations":
            self._reply(404, b"not found\n")
            return
        try:
            records = parse_sources(body, self.headers.get("Content-Type", ""))
        except BadRequest as exc:
            self._reply(400, f"{exc}\n".encode())
            return
        try:
            predictions = self.server.predictor.predict([ref for _, ref in records])
        except ImageError as exc:
            where = next(w for w, ref in records if ref == exc.source_ref)
            self.log_error("%s: %s", where, exc)
            self._reply(400, f"{where}: {exc}\n".encode())
            return
        except Exception as exc:
            self.log_error("prediction failed: %r", exc)
            self._reply(500, f"prediction failed: {type(exc).__name__}: {exc}\n".encode())
            return
        out = "".join(json.dumps(p) + "\n" for p in predictions)
        self._reply(200, out.encode("utf-8"), JSONLINES)

    def log_request(self, code="-", size="-") -> None:
        # SageMaker pings every few seconds; logging those would drown the useful lines.
        if self.path != "/ping":
            super().log_request(code, size)


def main() -> None:
    paths = MlPaths.from_env()
    started = time.monotonic()
    try:
        predictor = Predictor.load(paths.model_dir)
    except Exception as exc:
        print(f"cannot load model: {type(exc).__name__}: {exc}", file=sys.stderr)
        sys.exit(1)
    port = int(os.environ.get("SAGEMAKER_BIND_TO_PORT", DEFAULT_PORT))
    server = ThreadingHTTPServer(("0.0.0.0", port), Handler)
    server.predictor = predictor

    def stop(signum, frame):
        # shutdown() waits for serve_forever() to return, which runs on this very thread.
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(
        f"serving {paths.model_dir} ({predictor.label_count} labels, {predictor.image_size} px, "
        f"{predictor.device}) on port {port}, "
        f"ready in {time.monotonic() - started:.1f}s"
    )
    server.serve_forever()
    server.server_close()
    print("server stopped")
