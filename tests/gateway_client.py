"""One JSON request to a local gateway (autolabel/localcloud/gateway.py), as a test client sends it."""

from __future__ import annotations

import http.client
import json
from typing import Any
from urllib.parse import urlsplit


def call(base_url: str, method: str, path: str, token: str | None = None,
         body: Any = None) -> tuple[int, Any]:
    """(status, the JSON answer, or the raw bytes of an answer that is not JSON)."""
    address = urlsplit(base_url)
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=30)
    try:
        headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})}
        connection.request(method, path, body=json.dumps(body).encode() if body is not None else None, headers=headers)
        response = connection.getresponse()
        text = response.read()
        is_json = "json" in (response.getheader("content-type") or "")
        return response.status, json.loads(text) if text and is_json else text
    finally:
        connection.close()
