"""The batch-transform server: GET /ping and POST /invocations on $SAGEMAKER_BIND_TO_PORT.

Batch transform sends JSON Lines mini-batches, one record per line, and joins our output
back to its input line by line, so the response has exactly one line per non-blank request
line, in order. An item that cannot be processed (records.ItemError: an unreadable image)
fails the whole request with 400, naming its line: a partial answer cannot be joined.
"""
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Protocol

from .paths import MlPaths
from .records import JSONLINES, BadRequest, ItemError, parse_records

DEFAULT_PORT = 8080


class Predictor(Protocol):
    def predict(self, values: Sequence[str]) -> list[dict]:
        """One JSON-ready answer per value (text or source-ref), in order."""


class Handler(BaseHTTPRequestHandler):
    # Keep-alive: batch transform sends many mini-batches over one connection.
    protocol_version = "HTTP/1.1"
    server: "ModelServer"

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
            records = parse_records(body, self.headers.get("Content-Type", ""), self.server.record_key)
        except BadRequest as exc:
            self._reply(400, f"{exc}\n".encode())
            return
        try:
            predictions = self.server.predictor.predict([r.value for r in records])
        except ItemError as exc:
            where = next(r.where for r in records if r.value == exc.value)
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


class ModelServer(ThreadingHTTPServer):
    def __init__(self, port: int, predictor: Predictor, record_key: str):
        super().__init__(("0.0.0.0", port), Handler)
        self.predictor = predictor
        self.record_key = record_key


def main(load: Callable[[Path], Predictor], record_key: str, describe: Callable[[Predictor], str]) -> None:
    """Load the model from model/ (exit 1 if that fails), then serve until SIGTERM or SIGINT.
    `record_key` is the request field holding each item; `describe` says what is served."""
    paths = MlPaths.from_env()
    started = time.monotonic()
    try:
        predictor = load(paths.model_dir)
    except Exception as exc:
        print(f"cannot load model: {type(exc).__name__}: {exc}", file=sys.stderr)
        sys.exit(1)
    port = int(os.environ.get("SAGEMAKER_BIND_TO_PORT", DEFAULT_PORT))
    server = ModelServer(port, predictor, record_key)

    def stop(signum, frame):
        # shutdown() waits for serve_forever() to return, which runs on this very thread.
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"serving {paths.model_dir} ({describe(predictor)}) on port {port}, "
          f"ready in {time.monotonic() - started:.1f}s")
    server.serve_forever()
    server.server_close()
    print("server stopped")
