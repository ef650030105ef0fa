"""The open routes, the generated OpenAPI document, recordings, statistics, mounting and the
router's own answers (unknown path, wrong method, oversized body)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest_twisted
from twisted.web.resource import Resource
from twisted.web.server import Request

from cti_server.auth import Principal, Role
from cti_server.storage.bridge import run_in_loop
from cti_server.storage.repos import Recording
from tests.api.conftest import Api


@pytest_twisted.ensureDeferred
async def test_open_routes_need_no_token(api: Api) -> None:
    health = await api.call("GET", "/health")
    assert (health.status, health.json) == (200, {"status": "ok", "calls": 3})
    ha = await api.call("GET", "/ha")
    assert ha.json == {"node": "a", "role": "leader", "token": 3}
    metrics = await api.call("GET", "metrics")
    assert metrics.status == 200 and metrics.headers["Content-Type"].startswith("text/plain")
    head = await api.call("HEAD", "/health")
    assert head.status == 200 and head.raw == b""


@pytest_twisted.ensureDeferred
async def test_the_openapi_document_describes_every_route(api: Api) -> None:
    answer = await api.call("GET", "/openapi.json")
    assert answer.status == 200
    doc = answer.json
    assert doc["openapi"].startswith("3.1") and doc["servers"] == [{"url": "/api/v1"}]
    assert doc["components"]["securitySchemes"]["bearer"] == {"type": "http", "scheme": "bearer"}
    routes = {(r.method.lower(), r.path) for r in api.http.routes}
    documented = {(m, p) for p, ops in doc["paths"].items() for m in ops}
    assert documented == routes
    state = doc["paths"]["/agents/{agent_id}/state"]["post"]
    assert state["security"] == [{"bearer": []}] and state["x-min-role"] == "agent"
    assert {"200", "400", "401", "403", "404", "409", "503"} <= set(state["responses"])
    body = state["requestBody"]["content"]["application/json"]["schema"]
    schema = doc["components"]["schemas"][body["$ref"].rsplit("/", 1)[1]]
    assert "wrap_up_done" in schema["properties"]["state"]["enum"]
    login = doc["paths"]["/auth/login"]["post"]
    assert login["security"] == [] and "Retry-After" in login["responses"]["429"]["headers"]
    stats = doc["paths"]["/stats"]["get"]
    assert {p["name"] for p in stats["parameters"]} >= {"from", "to", "by"}
    assert next(p for p in stats["parameters"] if p["name"] == "from")["required"] is True
    assert doc["paths"]["/calls/dial"]["post"]["responses"]["201"]
    audio = doc["paths"]["/voicemail/{message_id}/audio"]["get"]["responses"]["200"]
    assert "audio/wav" in audio["content"]


@pytest_twisted.ensureDeferred
async def test_unknown_paths_and_methods(api: Api) -> None:
    missing = await api.call("GET", "/nothing/here")
    assert (missing.status, missing.error) == (404, "not_found")
    wrong = await api.call("DELETE", "/agents", user="super")
    assert (wrong.status, wrong.error) == (405, "method_not_allowed")
    assert wrong.headers["Allow"] == "GET"
    root = await api.call("GET", "nothing")
    assert root.status == 404 and root.error == "not_found"
    big = await api.call("POST", "/auth/login", raw=b'{"username": "' + b"x" * 300_000 + b'"}')
    assert (big.status, big.error) == (413, "too_large")


@pytest_twisted.ensureDeferred
async def test_stats_for_supervisors(api: Api) -> None:
    assert (await api.call("GET", "/stats?from=2026-11-30", user="1001")).status == 403
    table = await api.call("GET", "/stats?from=2026-11-30&to=2026-12-02&by=day", user="super")
    assert table.status == 200 and [r["key"] for r in table.json["rows"]] == [
        "2026-11-30", "2026-12-01"]  # fmt: skip
    assert table.json["rows"][0]["answered"] == 2
    for bad in ("", "?from=yesterday", "?from=2026-12-01&by=week", "?from=2026-12&sl=x"):
        answer = await api.call("GET", f"/stats{bad}", user="super")
        assert (answer.status, answer.error) == (400, "bad_query"), bad


@pytest_twisted.ensureDeferred
async def test_recordings_index_per_role(api: Api) -> None:
    repo = api.http.parts.recordings
    started = datetime(2026, 11, 30, 5, 0, tzinfo=UTC)
    for rid, agent in (("R1", "1001"), ("R2", "1002")):
        row = Recording(id=rid, call_id=f"c-{rid}", agent_id=agent, started_at=started, path="/r")
        await run_in_loop(repo.insert(row))
    try:
        mine = await api.call("GET", "/recordings", user="1001")
        assert [r["id"] for r in mine.json["recordings"]] == ["R1"]
        theirs = await api.call("GET", "/recordings?agent_id=1002", user="1001")
        assert (theirs.status, theirs.error) == (403, "forbidden")
        every = await api.call("GET", "/recordings?limit=10", user="super")
        assert sorted(r["id"] for r in every.json["recordings"]) == ["R1", "R2"]
        assert every.json["recordings"][0]["kind"] == "call"
        for bad in ("?since=yesterday", "?since=2026-11-30T09:00", "?limit=0", "?limit=x"):
            answer = await api.call("GET", f"/recordings{bad}", user="super")
            assert (answer.status, answer.error) == (400, "bad_query"), bad
    finally:
        for rid in ("R1", "R2"):
            await run_in_loop(repo.mark_deleted(rid))


class Echo(Resource):
    isLeaf = True

    def render_GET(self, request: Request) -> bytes:
        return b"pages"


@pytest_twisted.ensureDeferred
async def test_other_parts_mount_beside_the_routes_and_share_authentication(api: Api) -> None:
    api.http.mount(b"desktop", Echo())
    api.http.mount_api(b"events", Echo())
    assert (await api.call("GET", "desktop")).raw == b"pages"
    assert (await api.call("GET", "/events")).raw == b"pages"
    token = await api.token("1001")
    assert await api.http.authenticate(token) == Principal("1001", Role.AGENT, "1001")
    assert await api.http.authenticate("forged") is None
    assert await api.http.authenticate("") is None
