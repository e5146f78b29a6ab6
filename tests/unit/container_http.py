"""Talking to a container's `serve` process the way batch transform does (the container tests share it)."""

import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def post(port: int, body: bytes, content_type: str = "application/jsonlines") -> tuple[int, str | None, str]:
    """POST /invocations; (status, content type, body), error answers included."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/invocations", data=body, headers={"Content-Type": content_type}
    )
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, response.headers.get("Content-Type"), response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("Content-Type"), exc.read().decode()


def source_ref_lines(refs: list) -> bytes:
    """A JSON Lines request body, one {"id", "source-ref"} per image."""
    return "".join(json.dumps({"id": i, "source-ref": ref}) + "\n" for i, ref in enumerate(refs)).encode()


def start_serve(container: Path, env: dict[str, str], port: int) -> subprocess.Popen:
    """The container's `serve` as a process (from an unrelated cwd), once it answers /ping on `port`."""
    process = subprocess.Popen([sys.executable, str(container / "serve")], cwd="/", env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 60
    while True:
        assert process.poll() is None, process.stdout.read()
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=2) as response:
                assert response.status == 200
                return process
        except (urllib.error.URLError, ConnectionError):
            assert time.monotonic() < deadline, "serve never answered /ping"
            time.sleep(0.2)
