"""Live call monitoring over the API, for supervisors (the wallboard).

``POST /calls/{id}/monitor`` rings the supervisor's phone (``extension``, default their own
``agent_id``); when it answers, it hears the call (``listen``), talks to the agent only
(``whisper``) or to both parties (``barge``). ``POST /calls/{id}/monitor/mode`` switches
mode, ``POST /calls/{id}/monitor/stop`` hangs the supervisor's phone up, ``GET`` shows the
session. The same can be started from a phone by dialling ``*55``/``*56``/``*57`` and the
agent's extension (keys 4, 5, 6 switch mode during the call).
"""

from __future__ import annotations

from typing import Any, Literal, Protocol

from pydantic import Field

from cti_server.api.control import Unavailable
from cti_server.api.models import In, Ok, Out
from cti_server.api.router import ApiRequest, Reply, Route, not_found
from cti_server.auth import Principal, Role

MonitorMode = Literal["listen", "whisper", "barge"]


class MonitorIn(In):
    mode: MonitorMode = "listen"
    extension: str | None = Field(
        None,
        pattern=r"^[A-Za-z0-9_.\-+]{1,64}$",
        description="the SIP account whose phone rings (default: your user's agent_id)",
    )


class MonitorModeIn(In):
    mode: MonitorMode


class MonitorOut(Out):
    call_id: str
    supervisor_id: str = Field(description="the account whose phone monitors")
    mode: MonitorMode
    connected: bool = Field(description="false while the supervisor's phone still rings")
    via: Literal["api", "feature_code"]


class MonitorControl(Protocol):
    """Implemented by ``cti_server.adapters.monitor_control.MonitorControl``; errors are the
    ``api.control`` classes (404 no such call, 409 busy or not connected, 503 no media)."""

    def start_monitor(
        self, call_id: str, mode: str, extension: str | None, by: Principal
    ) -> None: ...

    def set_mode(self, call_id: str, mode: str, by: Principal) -> None: ...

    def stop_monitor(self, call_id: str, by: Principal) -> None: ...

    def status(self, call_id: str) -> dict[str, Any] | None: ...


class MonitorApi:
    def __init__(self, control: MonitorControl | None) -> None:
        self.control = control

    def _control(self) -> MonitorControl:
        if self.control is None:
            raise Unavailable("live monitoring is not available on this server")
        return self.control

    def _status(self, call_id: str) -> dict[str, Any]:
        found = self._control().status(call_id)
        if found is None:
            raise not_found("not_monitored", f"nobody monitors call {call_id}")
        return found

    def start(self, req: ApiRequest) -> Reply:
        call_id = req.params["call_id"]
        body: MonitorIn = req.body
        self._control().start_monitor(call_id, body.mode, body.extension, req.user)
        return Reply(self._status(call_id), status=201)

    def mode(self, req: ApiRequest) -> dict[str, Any]:
        call_id = req.params["call_id"]
        body: MonitorModeIn = req.body
        self._control().set_mode(call_id, body.mode, req.user)
        return self._status(call_id)

    def stop(self, req: ApiRequest) -> dict[str, Any]:
        self._control().stop_monitor(req.params["call_id"], req.user)
        return {"ok": True}

    def get(self, req: ApiRequest) -> dict[str, Any]:
        return self._status(req.params["call_id"])

    def routes(self) -> list[Route]:
        t, sup, errors = ("monitoring",), Role.SUPERVISOR, (409, 503)
        return [
            Route("POST", "/calls/{call_id}/monitor", self.start,
                  "Monitor a live call: your phone rings, then listens, whispers or barges in",
                  t, role=sup, body=MonitorIn, response=MonitorOut, status=201, errors=errors),
            Route("POST", "/calls/{call_id}/monitor/mode", self.mode,
                  "Switch between listen, whisper (agent only) and barge (both parties)", t,
                  role=sup, body=MonitorModeIn, response=MonitorOut, errors=errors),
            Route("POST", "/calls/{call_id}/monitor/stop", self.stop,
                  "Stop monitoring: the supervisor's phone is hung up", t, role=sup,
                  response=Ok, errors=errors),
            Route("GET", "/calls/{call_id}/monitor", self.get, "Who monitors the call, how", t,
                  role=sup, response=MonitorOut),
        ]  # fmt: skip


def monitor_routes(parts: Any, control: MonitorControl | None = None) -> list[Route]:
    """The monitoring routes; ``control`` defaults to ``parts.monitor`` (None: they answer
    503)."""
    return MonitorApi(control or getattr(parts, "monitor", None)).routes()
