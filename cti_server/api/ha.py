"""``GET /api/v1/ha``: this node's part in the hot-standby pair.

``{"node": id, "role": "leader" | "standby", "token": n | null}``; ``token`` is the fencing
token this node leads with, null on a standby. A load balancer or a wallboard asks each node
which one distributes calls (so the route is open, like ``/health``); the fail-over test
watches the token grow.
"""

from __future__ import annotations

from typing import Any, Protocol

from twisted.web.resource import Resource
from twisted.web.server import Request

from cti_server.api.json_io import error, json_response
from cti_server.api.models import HaOut
from cti_server.api.router import ApiRequest, Route


class HaStatus(Protocol):
    def status(self) -> dict[str, Any]: ...


class HaResource(Resource):
    isLeaf = True

    def __init__(self, service: HaStatus) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._service = service

    def render_GET(self, request: Request) -> bytes:
        if request.postpath not in ([], [b""]):
            return error(request, 404, "not_found", "use /api/v1/ha")
        return json_response(request, 200, self._service.status())

    def get_ha(self, req: ApiRequest) -> dict[str, Any]:
        return self._service.status()

    def route(self) -> Route:
        return Route("GET", "/ha", self.get_ha, "This node's hot-standby role (open)",
                     ("system",), role=None, response=HaOut)  # fmt: skip
