"""Talking to a container's `serve` process the way batch transform does (the container tests share it)."""

import json
import socket
import urllib.error
import urllib.request


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
