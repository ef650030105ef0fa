"""Agents, queues and flows over HTTP: what the desktop and wallboard need from the ACD.

``GET /api/v1/agents`` and ``GET /api/v1/agents/{id}``: state, reason, since, current call,
queues, handled calls. ``POST /api/v1/agents/{id}/state`` with ``{"state": "ready" |
"not_ready" | "away" | "logged_in" | "logged_out" | "wrap_up_done", "reason": "...", "by":
"..."}`` changes it (a supervisor passes ``by``; ``away`` with ``by`` is the remote away).
``GET /api/v1/queues``: waiting, longest wait, agents logged in and ready, estimated wait.
``POST /api/v1/flows/reload``: re-read the IVR flow files (calls in progress keep theirs).
Errors are JSON ``{"error": code, "detail": text}``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from twisted.web.resource import Resource
from twisted.web.server import Request

from acd.protocol import AcdInput, AgentLogin, AgentLogout, ChangeAgentState, WrapUpDone
from cti_server.api.json_io import error, json_response, read_json
from cti_server.call.queue_host import StandbyError

STATES = ("ready", "not_ready", "away", "logged_in", "logged_out", "wrap_up_done")


class AgentsResource(Resource):
    def __init__(self, acd: Any, submit: Callable[[AcdInput], None]) -> None:
        super().__init__()
        self._acd = acd
        self._submit = submit

    def render_GET(self, request: Request) -> bytes:
        return json_response(request, 200, {"agents": self._acd.agents()})

    def getChild(self, path: bytes, request: Request) -> Resource:
        if not path:
            return self
        return AgentResource(self._acd, self._submit, path.decode("utf-8", "replace"))


class AgentResource(Resource):
    isLeaf = True

    def __init__(self, acd: Any, submit: Callable[[AcdInput], None], agent_id: str) -> None:
        super().__init__()
        self._acd = acd
        self._submit = submit
        self._agent_id = agent_id

    def _row(self) -> dict[str, Any] | None:
        return next((a for a in self._acd.agents() if a["id"] == self._agent_id), None)

    def render_GET(self, request: Request) -> bytes:
        row = self._row()
        if row is None or request.postpath not in ([], [b""]):
            return error(request, 404, "no_such_agent", f"no ACD agent {self._agent_id!r}")
        return json_response(request, 200, row)

    def render_POST(self, request: Request) -> bytes:
        if request.postpath != [b"state"]:
            return error(request, 404, "not_found", "use /api/v1/agents/{id}/state")
        if self._row() is None:
            return error(request, 404, "no_such_agent", f"no ACD agent {self._agent_id!r}")
        body = read_json(request)
        if body is None:
            return error(request, 400, "bad_json", "the body must be a JSON object")
        state, reason, by = body.get("state"), body.get("reason", ""), body.get("by", "")
        if state not in STATES:
            return error(request, 400, "bad_state", f"state must be one of {', '.join(STATES)}")
        if not isinstance(reason, str) or not isinstance(by, str):
            return error(request, 400, "bad_field", "reason and by are strings")
        item: AcdInput
        if state == "logged_in":
            item = AgentLogin(agent_id=self._agent_id, ready=False)
        elif state == "logged_out":
            item = AgentLogout(agent_id=self._agent_id, reason=reason or "logout", by=by)
        elif state == "wrap_up_done":
            item = WrapUpDone(agent_id=self._agent_id)
        else:
            item = ChangeAgentState(agent_id=self._agent_id, state=state, reason=reason, by=by)
        try:
            self._submit(item)
        except StandbyError as exc:
            return error(request, 503, "standby", str(exc))
        except (ValueError, LookupError, RuntimeError) as exc:  # an illegal transition
            return error(request, 409, "wrong_state", str(exc))
        return json_response(request, 200, self._row())


class QueuesResource(Resource):
    isLeaf = True

    def __init__(self, acd: Any, names: list[str]) -> None:
        super().__init__()
        self._acd = acd
        self._names = names

    def render_GET(self, request: Request) -> bytes:
        rows = []
        for name in self._names:
            row = dict(self._acd.queue_stats(name))
            row["name"] = name
            rows.append(row)
        return json_response(request, 200, {"queues": rows})


class FlowsReloadResource(Resource):
    isLeaf = True

    def __init__(self, reload: Callable[[], list[str]]) -> None:
        super().__init__()
        self._reload = reload

    def render_POST(self, request: Request) -> bytes:
        from cti_server.config import ConfigError

        try:
            names = self._reload()
        except ConfigError as exc:
            return error(request, 422, "bad_flow", str(exc))
        return json_response(request, 200, {"flows": names})
