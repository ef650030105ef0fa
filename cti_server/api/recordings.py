"""The recordings index over the API (a live call's recording is controlled in ``api.calls``).

``GET /api/v1/recordings?call_id=&agent_id=&queue=&customer_id=&kind=&since=&until=&limit=``
(ISO 8601 times with an offset; ``kind=voice_message&agent_id=1001`` is an agent's voice
message inbox), newest first. An agent sees only its own recordings.
"""

from __future__ import annotations

from typing import Any

from cti_server.api.models import RecordingsOut, RecordingsQuery
from cti_server.api.router import ApiError, ApiRequest, Route, forbidden
from cti_server.storage.bridge import run_in_loop
from cti_server.storage.repos import Recording, RecordingRepo


class RecordingsApi:
    def __init__(self, repo: RecordingRepo | None) -> None:
        self.repo = repo

    async def list_recordings(self, req: ApiRequest) -> dict[str, Any]:
        if self.repo is None:
            raise ApiError(503, "unavailable", "recording is off on this server")
        q: RecordingsQuery = req.query
        filters = q.model_dump(exclude_none=True)
        user = req.user
        if not user.supervises:
            if q.agent_id is not None and q.agent_id != user.agent_id:
                raise forbidden(f"agent {q.agent_id}'s recordings are not yours")
            filters["agent_id"] = user.agent_id
        try:
            rows = await run_in_loop(self.repo.list(**filters))
        except Exception as exc:  # noqa: BLE001 - any failed load is the database's
            raise ApiError(503, "database_unavailable", str(exc)) from None
        return {"recordings": [as_json(r) for r in rows]}

    def route(self) -> Route:
        return Route("GET", "/recordings", self.list_recordings,
                     "The recordings index (an agent: its own)", ("recordings",),
                     query=RecordingsQuery, response=RecordingsOut, errors=(503,))  # fmt: skip


def as_json(r: Recording) -> dict[str, Any]:
    return {
        "id": r.id,
        "call_id": r.call_id,
        "agent_id": r.agent_id,
        "queue": r.queue,
        "customer_id": r.customer_id,
        "kind": r.kind,
        "started_at": r.started_at.isoformat(),
        "ended_at": r.ended_at.isoformat() if r.ended_at else None,
        "duration_s": r.duration_s,
        "path": r.path,
        "sha256": r.sha256,
        "bytes": r.bytes,
        "status": r.status.value,
    }
