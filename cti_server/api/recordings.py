"""The recordings index over HTTP (a live call's recording is controlled in ``api.calls``).

``GET /api/v1/recordings?call_id=&agent_id=&queue=&kind=&since=&until=&limit=`` (ISO 8601
times; ``kind=voice_message&agent_id=1001`` is an agent's voice-message inbox).
Errors are JSON ``{"error": code, "detail": text}`` with the HTTP status that fits.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Request

from cti_server.api.json_io import error, json_response
from cti_server.storage.bridge import run_in_loop
from cti_server.storage.repos import Recording, RecordingRepo


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
