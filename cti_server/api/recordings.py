"""Recording over HTTP: control a live call's recording, and search the recordings index.

``POST /api/v1/calls/{call_id}/recording`` with ``{"action": "start"|"stop"|"pause"|"resume"}``
(pause writes silence, so the file's timeline matches the call's), and
``GET /api/v1/recordings?call_id=&agent_id=&queue=&kind=&since=&until=&limit=`` (ISO 8601
times; ``kind=voice_message&agent_id=1001`` is an agent's voice-message inbox).
Errors are JSON ``{"error": code, "detail": text}`` with the HTTP status that fits.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Request

from cti_server.adapters.recording_service import RecordingService
from cti_server.storage.bridge import run_in_loop
from cti_server.storage.repos import Recording, RecordingRepo
from recording.recorder import RecorderStateError, RecordingNotAllowed, UnknownCall

ACTIONS = ("start", "stop", "pause", "resume")


def json_response(request: Request, status: int, body: Any) -> bytes:
    request.setResponseCode(status)
    request.setHeader(b"Content-Type", b"application/json; charset=utf-8")
    return json.dumps(body, ensure_ascii=False, default=str).encode()


def error(request: Request, status: int, code: str, detail: str) -> bytes:
    return json_response(request, status, {"error": code, "detail": detail})


class CallsResource(Resource):
    """``/api/v1/calls/{call_id}/recording``"""

    def __init__(self, service: RecordingService, calls: dict[str, Any]) -> None:
        super().__init__()
        self._service = service
        self._calls = calls

    def getChild(self, path: bytes, request: Request) -> Resource:
        return CallRecordingResource(self._service, self._calls, path.decode("utf-8", "replace"))


class CallRecordingResource(Resource):
    isLeaf = True

    def __init__(self, service: RecordingService, calls: dict[str, Any], call_id: str) -> None:
        super().__init__()
        self._service = service
        self._calls = calls
        self._call_id = call_id

    def render_POST(self, request: Request) -> bytes:
        if request.postpath != [b"recording"]:
            return error(request, 404, "not_found", "use /api/v1/calls/{call_id}/recording")
        try:
            body = json.loads(request.content.read() or b"{}")  # type: ignore[union-attr]
        except ValueError as exc:
            return error(request, 400, "bad_json", f"request body is not JSON: {exc}")
        action = body.get("action") if isinstance(body, dict) else None
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


class RecordingsResource(Resource):
    """``GET /api/v1/recordings``: the index, newest first."""

    isLeaf = True

    def __init__(self, repo: RecordingRepo) -> None:
        super().__init__()
        self._repo = repo

    def render_GET(self, request: Request) -> bytes | int:
        args = {k.decode(): v[0].decode("utf-8", "replace") for k, v in request.args.items()}
        try:
            filters: dict[str, Any] = {
                k: args[k] for k in ("call_id", "agent_id", "queue") if k in args
            }
            for key in ("since", "until"):
                if key in args:
                    filters[key] = datetime.fromisoformat(args[key])
                    if filters[key].tzinfo is None:
                        raise ValueError(f"{key} needs a time zone, e.g. 2026-11-23T09:00+09:00")
            filters["limit"] = min(int(args.get("limit", "100")), 1000)
        except ValueError as exc:
            return error(request, 400, "bad_query", str(exc))

        def done(rows: list[Recording]) -> None:
            request.write(json_response(request, 200, {"recordings": [as_json(r) for r in rows]}))
            request.finish()

        def failed(failure: Any) -> None:
            request.write(error(request, 503, "database_unavailable", failure.getErrorMessage()))
            request.finish()

        run_in_loop(self._repo.list(**filters)).addCallbacks(done, failed)
        return NOT_DONE_YET


def as_json(r: Recording) -> dict[str, Any]:
    return {
        "id": r.id,
        "call_id": r.call_id,
        "agent_id": r.agent_id,
        "queue": r.queue,
        "customer_id": r.customer_id,
        "started_at": r.started_at.isoformat(),
        "ended_at": r.ended_at.isoformat() if r.ended_at else None,
        "duration_s": r.duration_s,
        "path": r.path,
        "sha256": r.sha256,
        "bytes": r.bytes,
        "status": r.status.value,
    }
