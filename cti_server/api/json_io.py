"""JSON in and out for every API resource: one error shape, ``{"error": code, "detail": text}``."""

from __future__ import annotations

import json
from typing import Any

from twisted.web.server import Request


def json_response(request: Request, status: int, body: Any) -> bytes:
    request.setResponseCode(status)
    request.setHeader(b"Content-Type", b"application/json; charset=utf-8")
    return json.dumps(body, ensure_ascii=False, default=str).encode()


def error(request: Request, status: int, code: str, detail: str) -> bytes:
    return json_response(request, status, {"error": code, "detail": detail})


def read_json(request: Request) -> dict[str, Any] | None:
    """The request body as a JSON object; None when it is not one (a 400 for the caller)."""
    try:
        body = json.loads(request.content.read() or b"{}")  # type: ignore[union-attr]
    except ValueError:
        return None
    return body if isinstance(body, dict) else None
