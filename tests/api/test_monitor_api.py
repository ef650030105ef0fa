"""The live monitoring routes on a live API: supervisors only, validation, error statuses, and
503 when the server has no monitoring (a fake ``MonitorControl``: the same Protocol)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import pytest_twisted

import cti_server.api.site as site
from cti_server.api.control import Conflict, NotFound
from cti_server.api.monitor import monitor_routes
from cti_server.auth import Principal
from tests.api.conftest import Api


class FakeMonitor:
    def __init__(self) -> None:
        self.sessions: dict[str, dict[str, Any]] = {}

    def start_monitor(self, call_id: str, mode: str, extension: str | None, by: Principal) -> None:
        if call_id not in ("C1", "C2"):
            raise NotFound(f"no call {call_id!r} in progress", "no_such_call")
        if call_id in self.sessions:
            raise Conflict(f"call {call_id} is monitored already", "busy")
        phone = extension or by.agent_id or "?"
        self.sessions[call_id] = {"call_id": call_id, "supervisor_id": phone, "mode": mode,
                                  "connected": False, "via": "api"}  # fmt: skip

    def set_mode(self, call_id: str, mode: str, by: Principal) -> None:
        if call_id not in self.sessions:
            raise NotFound(f"nobody monitors call {call_id}", "not_monitored")
        self.sessions[call_id] |= {"mode": mode, "connected": True}

    def stop_monitor(self, call_id: str, by: Principal) -> None:
        if self.sessions.pop(call_id, None) is None:
            raise NotFound(f"nobody monitors call {call_id}", "not_monitored")

    def status(self, call_id: str) -> dict[str, Any] | None:
        return self.sessions.get(call_id)


@pytest.fixture
def monitored(monkeypatch: pytest.MonkeyPatch) -> FakeMonitor:
    fake = FakeMonitor()
    original = site.api_routes
    monkeypatch.setattr(
        site, "api_routes", lambda parts: [*original(parts), *monitor_routes(parts, fake)]
    )
    return fake


@pytest_twisted.ensureDeferred
async def test_a_supervisor_listens_switches_to_whisper_and_stops(
    make_api: Callable[..., Api], monitored: FakeMonitor
) -> None:
    api = make_api()
    answer = await api.call("POST", "/calls/C1/monitor", {"extension": "1003"}, user="super")
    assert answer.status == 201, answer.raw
    assert answer.json == {"call_id": "C1", "supervisor_id": "1003", "mode": "listen",
                           "connected": False, "via": "api"}  # fmt: skip
    answer = await api.call("GET", "/calls/C1/monitor", user="admin")
    assert answer.status == 200 and answer.json["mode"] == "listen"
    answer = await api.call("POST", "/calls/C1/monitor/mode", {"mode": "whisper"}, user="super")
    assert (answer.status, answer.json["mode"], answer.json["connected"]) == (200, "whisper", True)
    answer = await api.call("POST", "/calls/C1/monitor", {"mode": "barge"}, user="admin")
    assert (answer.status, answer.error) == (409, "busy")
    answer = await api.call("POST", "/calls/C1/monitor/stop", user="super", raw=b"")
    assert answer.status == 200 and answer.json == {"ok": True}
    answer = await api.call("GET", "/calls/C1/monitor", user="super")
    assert (answer.status, answer.error) == (404, "not_monitored")


@pytest_twisted.ensureDeferred
async def test_agents_may_not_monitor_and_bad_requests_are_named(
    make_api: Callable[..., Api], monitored: FakeMonitor
) -> None:
    api = make_api()
    answer = await api.call("POST", "/calls/C1/monitor", {"mode": "listen"}, user="1001")
    assert answer.status == 403
    answer = await api.call("POST", "/calls/C1/monitor", {"mode": "shout"}, user="super")
    assert (answer.status, answer.error) == (400, "bad_mode")
    answer = await api.call("POST", "/calls/C1/monitor", {"extension": "a b"}, user="super")
    assert (answer.status, answer.error) == (400, "bad_extension")
    answer = await api.call("POST", "/calls/C9/monitor", {}, user="super")
    assert (answer.status, answer.error) == (404, "no_such_call")
    answer = await api.call("POST", "/calls/C2/monitor/mode", {"mode": "barge"}, user="super")
    assert (answer.status, answer.error) == (404, "not_monitored")
    answer = await api.call("POST", "/calls/C1/monitor", token="nope")
    assert answer.status == 401
    assert monitored.sessions == {}


@pytest_twisted.ensureDeferred
async def test_without_monitoring_the_routes_answer_503(
    make_api: Callable[..., Api], monkeypatch: pytest.MonkeyPatch
) -> None:
    original = site.api_routes
    monkeypatch.setattr(
        site, "api_routes", lambda parts: [*original(parts), *monitor_routes(parts)]
    )
    api = make_api()
    answer = await api.call("POST", "/calls/C1/monitor", {"mode": "listen"}, user="super")
    assert (answer.status, answer.error) == (503, "unavailable")
    paths = api.http.openapi()["paths"]
    assert {"post", "get"} <= set(paths["/calls/{call_id}/monitor"])
    assert "post" in paths["/calls/{call_id}/monitor/mode"]
