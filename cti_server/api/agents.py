"""Agents, queues and IVR flows over the API: what the desktop and the wallboard read.

``GET /agents`` (an agent sees only itself), ``GET /agents/{id}``, ``POST
/agents/{id}/state`` (an agent changes its own state; a supervisor any agent's, which the
ACD records as forced: ``by`` is the supervisor), ``POST /agents/{id}/logout``
(supervisors), ``GET /queues`` and ``POST /flows/reload`` (admins: re-read the IVR flow
files; calls in progress keep theirs). The ACD's own errors map to statuses here: an unknown
agent 404, an unknown reason code 400, a move the state table forbids 409, a standby 503.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from acd.errors import UnknownAgentError, UnknownReasonError
from acd.protocol import AcdInput, AgentLogin, AgentLogout, ChangeAgentState, WrapUpDone
from cti_server.api.models import (
    AgentLogoutIn,
    AgentOut,
    AgentsOut,
    FlowsOut,
    QueuesOut,
    StateIn,
)
from cti_server.api.router import ApiError, ApiRequest, Route, forbidden, not_found
from cti_server.auth import Principal, Role, iso_utc
from cti_server.call.queue_host import StandbyError


def agent_json(row: dict[str, Any]) -> dict[str, Any]:
    """A distributor row as the API gives it: times as ISO 8601 UTC, ``handled`` added."""
    out = dict(row)
    out["since"] = iso_utc(float(row["since"]))
    out["idle_since"] = iso_utc(float(row["idle_since"])) if row.get("idle_since") else None
    out["handled"] = int(row.get("calls_handled", 0))
    return out


def queue_json(acd: Any, name: str) -> dict[str, Any]:
    row = dict(acd.queue_stats(name))
    row["name"] = name
    row["agents_logged_in"] = row.get("logged_in", 0)
    row["agents_ready"] = row.get("ready", 0)
    return row


def no_acd() -> ApiError:
    return ApiError(503, "unavailable", "no ACD on this server: the config has no acd.queues")


class AgentsApi:
    def __init__(
        self,
        acd: Any | None,
        submit: Callable[[AcdInput], None] | None,
        queue_names: Sequence[str],
        reload_flows: Callable[[], list[str]] | None = None,
    ) -> None:
        self.acd = acd
        self._submit = submit
        self.queue_names = list(queue_names)
        self._reload = reload_flows

    def _holder(self) -> Any:
        if self.acd is None:
            raise no_acd()
        return self.acd

    def _row(self, agent_id: str) -> dict[str, Any] | None:
        return next((a for a in self._holder().agents() if a["id"] == agent_id), None)

    def _own_row(self, user: Principal, agent_id: str) -> dict[str, Any]:
        if not user.may_act_for(agent_id):
            raise forbidden(f"agent {agent_id} is not yours: you are agent {user.agent_id}")
        row = self._row(agent_id)
        if row is None:
            raise not_found("no_such_agent", f"no ACD agent {agent_id!r}")
        return row

    def list_agents(self, req: ApiRequest) -> dict[str, Any]:
        rows = [r for r in self._holder().agents() if req.user.may_act_for(r["id"])]
        return {"agents": [agent_json(r) for r in rows]}

    def get_agent(self, req: ApiRequest) -> dict[str, Any]:
        return agent_json(self._own_row(req.user, req.params["agent_id"]))

    def set_state(self, req: ApiRequest) -> dict[str, Any]:
        agent_id = req.params["agent_id"]
        self._own_row(req.user, agent_id)
        body: StateIn = req.body
        by = "" if req.user.agent_id == agent_id else req.user.username  # forced by a supervisor
        item: AcdInput
        if body.state == "logged_in":
            item = AgentLogin(agent_id=agent_id, ready=False)
        elif body.state == "logged_out":
            item = AgentLogout(agent_id=agent_id, reason=body.reason or "logout", by=by)
        elif body.state == "wrap_up_done":
            item = WrapUpDone(agent_id=agent_id)
        else:
            item = ChangeAgentState(agent_id=agent_id, state=body.state, reason=body.reason, by=by)
        return self._apply(item, agent_id)

    def logout_agent(self, req: ApiRequest) -> dict[str, Any]:
        agent_id = req.params["agent_id"]
        self._own_row(req.user, agent_id)
        body: AgentLogoutIn = req.body
        reason = body.reason or "supervisor"
        return self._apply(AgentLogout(agent_id=agent_id, reason=reason, by=req.user.username),
                           agent_id)  # fmt: skip

    def _apply(self, item: AcdInput, agent_id: str) -> dict[str, Any]:
        if self._submit is None:
            raise no_acd()
        try:
            self._submit(item)
        except StandbyError as exc:
            raise ApiError(503, "standby", str(exc)) from None
        except UnknownAgentError as exc:
            raise not_found("no_such_agent", str(exc)) from None
        except UnknownReasonError as exc:
            raise ApiError(400, "bad_reason", str(exc)) from None
        except (ValueError, LookupError, RuntimeError) as exc:  # the state table said no
            raise ApiError(409, "wrong_state", str(exc)) from None
        row = self._row(agent_id)
        if row is None:
            raise not_found("no_such_agent", f"no ACD agent {agent_id!r}")
        return agent_json(row)

    def list_queues(self, req: ApiRequest) -> dict[str, Any]:
        acd = self._holder()
        return {"queues": [queue_json(acd, name) for name in self.queue_names]}

    def reload_flows(self, req: ApiRequest) -> dict[str, Any]:
        from cti_server.config import ConfigError

        if self._reload is None:
            raise ApiError(503, "unavailable", "no IVR flows on this server")
        try:
            return {"flows": self._reload()}
        except ConfigError as exc:
            raise ApiError(422, "bad_flow", str(exc)) from None

    def routes(self) -> list[Route]:
        t = ("agents",)
        return [
            Route("GET", "/agents", self.list_agents, "ACD agents (an agent: only itself)", t,
                  response=AgentsOut, errors=(503,)),
            Route("GET", "/agents/{agent_id}", self.get_agent, "One ACD agent", t,
                  response=AgentOut, errors=(503,)),
            Route("POST", "/agents/{agent_id}/state", self.set_state,
                  "Change an agent's state (supervisors: any agent, recorded as forced)", t,
                  body=StateIn, response=AgentOut, errors=(409, 503)),
            Route("POST", "/agents/{agent_id}/logout", self.logout_agent,
                  "Log an agent out of the ACD", t, role=Role.SUPERVISOR,
                  body=AgentLogoutIn, response=AgentOut, errors=(409, 503)),
            Route("GET", "/queues", self.list_queues, "Queues: waiting calls, staffing, EWT",
                  ("queues",), response=QueuesOut, errors=(503,)),
            Route("POST", "/flows/reload", self.reload_flows, "Re-read the IVR flow files",
                  ("admin",), role=Role.ADMIN, response=FlowsOut, errors=(422, 503)),
        ]  # fmt: skip
