"""The HTTP side: ``/metrics`` for Prometheus and ``/api/v1/health``; JSON errors elsewhere."""

from __future__ import annotations

import json
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from twisted.web.resource import Resource
from twisted.web.server import Request, Site


class MetricsResource(Resource):
    isLeaf = True

    def __init__(self, registry: CollectorRegistry) -> None:
        super().__init__()
        self._registry = registry

    def render_GET(self, request: Request) -> bytes:
        request.setHeader(b"Content-Type", CONTENT_TYPE_LATEST.encode())
        return generate_latest(self._registry)


class JsonResource(Resource):
    isLeaf = True

    def __init__(self, payload: Any) -> None:
        super().__init__()
        self._payload = payload

    def render_GET(self, request: Request) -> bytes:
        request.setHeader(b"Content-Type", b"application/json; charset=utf-8")
        body = self._payload() if callable(self._payload) else self._payload
        return json.dumps(body, ensure_ascii=False).encode()


class NotFound(Resource):
    isLeaf = True

    def render(self, request: Request) -> bytes:
        request.setResponseCode(404)
        request.setHeader(b"Content-Type", b"application/json; charset=utf-8")
        path = request.path.decode("utf-8", "replace")
        return json.dumps({"error": "not_found", "detail": f"no resource at {path}"}).encode()


class Root(Resource):
    def getChild(self, path: bytes, request: Request) -> Resource:
        return NotFound()


def build_site(
    registry: CollectorRegistry, health: Any, extra: dict[bytes, Resource] | None = None
) -> Site:
    root = Root()
    root.putChild(b"metrics", MetricsResource(registry))
    api = Root()
    v1 = Root()
    v1.putChild(b"health", JsonResource(health))
    for name, resource in (extra or {}).items():
        v1.putChild(name, resource)
    api.putChild(b"v1", v1)
    root.putChild(b"api", api)
    site = Site(root)
    site.displayTracebacks = False
    return site
