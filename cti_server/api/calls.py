"""Calls in progress over HTTP.

``GET /api/v1/calls`` lists them; ``GET /api/v1/calls/{id}`` is one call with its customer
and screen pop; ``POST /api/v1/calls/{call_id}/recording`` with ``{"action": "start" | "stop" |
"pause" | "resume"}`` controls its recording (pause writes silence, so the file's timeline
matches the call's).
"""

from __future__ import annotations

from typing import Any

from twisted.web.resource import Resource
from twisted.web.server import Request

from cti_server.adapters.recording_service import RecordingService
from cti_server.api.json_io import error, json_response, read_json
from recording.recorder import RecorderStateError, RecordingNotAllowed, UnknownCall

ACTIONS = ("start", "stop", "pause", "resume")


class CallsResource(Resource):
    """``/api/v1/calls/{call_id}/recording``"""

    def __init__(self, service: RecordingService | None, calls: dict[str, Any]) -> None:
        super().__init__()
        self._service = service
        self._calls = calls

    def render_GET(self, request: Request) -> bytes:
        rows = [call_json(c) for c in list(self._calls.values())]
        return json_response(request, 200, {"calls": rows})

    def getChild(self, path: bytes, request: Request) -> Resource:
        if not path:
            return self
        return CallRecordingResource(self._service, self._calls, path.decode("utf-8", "replace"))


class CallRecordingResource(Resource):
    isLeaf = True

    def __init__(
        self, service: RecordingService | None, calls: dict[str, Any], call_id: str
    ) -> None:
        super().__init__()
        self._service = service
        self._calls = calls
        self._call_id = call_id

    def render_GET(self, request: Request) -> bytes:
        call = self._calls.get(self._call_id)
        if call is None or request.postpath not in ([], [b""]):
            return error(request, 404, "no_such_call", f"no call {self._call_id} in progress")
        return json_response(request, 200, call_json(call, detail=True))

    def render_POST(self, request: Request) -> bytes:
        if request.postpath != [b"recording"] or self._service is None:
            return error(request, 404, "not_found", "use /api/v1/calls/{call_id}/recording")
        body = read_json(request)
        if body is None:
            return error(request, 400, "bad_json", "the request body must be a JSON object")
        action = body.get("action")
        if action not in ACTIONS:
            return error(request, 400, "bad_action", f"action must be one of {', '.join(ACTIONS)}")
        if self._call_id not in self._calls:
            return error(request, 404, "no_such_call", f"no call {self._call_id} in progress")
        try:
            self._service.command(self._call_id, action)
        except UnknownCall as exc:
            return error(request, 404, "no_such_call", str(exc))
        except RecordingNotAllowed as exc:
            return error(request, 403, "not_allowed", str(exc))
        except RecorderStateError as exc:
            return error(request, 409, "wrong_state", str(exc))
        recorder = self._service.recorder
        return json_response(
            request,
            200,
            {
                "call_id": self._call_id,
                "state": recorder.state(self._call_id).value,
                "recording_id": recorder.recording_id(self._call_id),
            },
        )


def call_json(call: Any, *, detail: bool = False) -> dict[str, Any]:
    row: dict[str, Any] = {
        "call_id": call.call_id,
        "caller": call.caller,
        "called": call.called,
        "phase": call.phase.value,
        "queue": call.queue,
        "agent_id": call.acd_agent or (call.peer.agent_id if call.peer else None),
        "customer_id": call.customer_id,
        "auth_method": call.auth_method,
        "language": call.language,
        "created_at": call.created_at,
    }
    if detail:
        row["screen_pop"] = call.screen_pop
    return row
