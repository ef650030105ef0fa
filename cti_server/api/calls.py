"""Calls in progress over the API: the desktop's call panel.

``GET /calls`` (an agent: the calls it talks on or is offered), ``GET /calls/{id}`` with the
screen pop and the agent script, recording control (``POST /calls/{id}/recording``: pause
writes silence so the file's timeline matches the call's), and call control (hangup, hold,
unhold, transfer, click-to-call, disposition) passed to the injected ``CallControl``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cti_server.api.control import CallControl, Unavailable
from cti_server.api.models import (
    CallDetailOut,
    CallsOut,
    DialIn,
    DialOut,
    DispositionIn,
    Ok,
    RecordingIn,
    RecordingStateOut,
    TransferIn,
)
from cti_server.api.router import (
    ApiError,
    ApiRequest,
    Reply,
    Route,
    forbidden,
    not_found,
    resolve,
)
from cti_server.auth import Principal, iso_utc

CUSTOMER_FIELDS = ("name", "phone", "email", "vip", "segment", "language", "assigned_agent",
                   "national_id_masked")  # fmt: skip


def call_agents(call: Any) -> list[str]:
    """The agents on the call: the one the ACD connected, the peer leg's, those ringing."""
    found = [call.acd_agent, call.peer.agent_id if call.peer is not None else None]
    return list(dict.fromkeys(a for a in [*found, *call.offers] if a))


def _iso(t: float | None) -> str | None:
    return None if t is None else iso_utc(t)


def call_json(call: Any) -> dict[str, Any]:
    return {
        "id": call.call_id,
        "call_id": call.call_id,
        "state": call.phase.value,
        "phase": call.phase.value,
        "caller": call.caller,
        "callee": call.called,
        "called": call.called,
        "queue": call.queue,
        "agent_id": call.acd_agent or (call.peer.agent_id if call.peer is not None else None),
        "offered_to": list(call.offers),
        "customer_id": call.customer_id,
        "auth_method": call.auth_method,
        "language": call.language,
        "started_at": iso_utc(call.created_at),
        "answered_at": _iso(call.peer.answered_at if call.peer is not None else None),
        "on_hold": bool(call.held),
    }


def screen_pop_json(pop: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """``crm.screenpop.ScreenPop.to_dict()`` in the contract's shape: customer, history,
    payment method, frequent products and how the caller authenticated."""
    if not pop:
        return None
    if "customer" in pop:
        return dict(pop)
    customer = {"id": pop.get("customer_id"), "number": pop.get("customer_number"),
                "grade": pop.get("segment")} | {k: pop.get(k) for k in CUSTOMER_FIELDS}  # fmt: skip
    return {
        "customer": customer,
        "history": list(pop.get("inquiries") or []),
        "payment_method": pop.get("usual_payment"),
        "frequent_products": list(pop.get("frequent_products") or []),
        "auth_method": pop.get("auth_method"),
        "auth_outcome": pop.get("auth_outcome"),
    }


class CallsApi:
    def __init__(
        self, calls: Mapping[str, Any], recording: Any = None, control: CallControl | None = None
    ) -> None:
        self.calls = calls
        self.recording = recording
        self.control = control

    def _control(self) -> CallControl:
        if self.control is None:
            raise Unavailable("call control is not available on this server")
        return self.control

    def _mine(self, user: Principal, call: Any) -> bool:
        return user.supervises or (user.agent_id is not None and user.agent_id in call_agents(call))

    def _live(self, req: ApiRequest) -> Any:
        call_id = req.params["call_id"]
        call = self.calls.get(call_id)
        if call is None:
            raise not_found("no_such_call", f"no call {call_id} in progress")
        if not self._mine(req.user, call):
            raise forbidden(f"call {call_id} is not yours")
        return call

    def list_calls(self, req: ApiRequest) -> dict[str, Any]:
        rows = [call_json(c) for c in list(self.calls.values()) if self._mine(req.user, c)]
        return {"calls": rows}

    def get_call(self, req: ApiRequest) -> dict[str, Any]:
        call = self._live(req)
        row = call_json(call)
        row["screen_pop"] = screen_pop_json(call.screen_pop)
        script = None
        if self.control is not None:
            script = self.control.script_for_call(call.call_id)
        row["script"] = script
        return row

    def recording_command(self, req: ApiRequest) -> dict[str, Any]:
        from recording.recorder import RecorderStateError, RecordingNotAllowed, UnknownCall

        call = self._live(req)
        if self.recording is None:
            raise Unavailable("recording is off on this server (media.mode passthrough)")
        body: RecordingIn = req.body
        try:
            self.recording.command(call.call_id, body.action)
        except UnknownCall as exc:
            raise not_found("no_such_call", str(exc)) from None
        except RecordingNotAllowed as exc:
            raise ApiError(403, "not_allowed", str(exc)) from None
        except RecorderStateError as exc:
            raise ApiError(409, "wrong_state", str(exc)) from None
        recorder = self.recording.recorder
        return {
            "call_id": call.call_id,
            "state": recorder.state(call.call_id).value,
            "recording_id": recorder.recording_id(call.call_id),
        }

    async def hangup(self, req: ApiRequest) -> dict[str, Any]:
        call = self._live(req)
        await resolve(self._control().hangup(call.call_id, req.user))
        return {"ok": True}

    async def hold(self, req: ApiRequest) -> dict[str, Any]:
        call = self._live(req)
        await resolve(self._control().hold(call.call_id, req.user))
        return {"ok": True}

    async def unhold(self, req: ApiRequest) -> dict[str, Any]:
        call = self._live(req)
        await resolve(self._control().unhold(call.call_id, req.user))
        return {"ok": True}

    async def transfer(self, req: ApiRequest) -> dict[str, Any]:
        call = self._live(req)
        body: TransferIn = req.body
        await resolve(self._control().transfer(call.call_id, body.kind, body.target, req.user))
        return {"ok": True}

    async def dial(self, req: ApiRequest) -> Reply:
        body: DialIn = req.body
        user = req.user
        agent_id = body.agent_id or user.agent_id
        if agent_id is None:
            raise ApiError(400, "bad_agent_id", "agent_id: your user has no agent; name one")
        if not user.may_act_for(agent_id):
            raise forbidden(f"you may dial only from your own phone (agent {user.agent_id})")
        call_id = await resolve(self._control().dial(agent_id, body.number, body.customer_id, user))
        return Reply({"call_id": str(call_id)}, status=201)

    async def disposition(self, req: ApiRequest) -> dict[str, Any]:
        call_id = req.params["call_id"]
        call = self.calls.get(call_id)
        if call is not None and not self._mine(req.user, call):
            raise forbidden(f"call {call_id} is not yours")
        body: DispositionIn = req.body
        await resolve(
            self._control().disposition(
                call_id, req.user, body.disposition, body.notes, dict(body.script_answers)
            )
        )
        return {"ok": True}

    def routes(self) -> list[Route]:
        t = ("calls",)
        unavailable = (409, 503)
        return [
            Route("GET", "/calls", self.list_calls, "Calls in progress (an agent: its own)", t,
                  response=CallsOut),
            Route("GET", "/calls/{call_id}", self.get_call,
                  "One call with its screen pop and script", t, response=CallDetailOut),
            Route("POST", "/calls/{call_id}/recording", self.recording_command,
                  "Start, stop, pause or resume the call's recording", t, body=RecordingIn,
                  response=RecordingStateOut, errors=(409, 503)),
            Route("POST", "/calls/{call_id}/hangup", self.hangup, "Hang the call up", t,
                  response=Ok, errors=unavailable),
            Route("POST", "/calls/{call_id}/hold", self.hold, "Put the caller on hold", t,
                  response=Ok, errors=unavailable),
            Route("POST", "/calls/{call_id}/unhold", self.unhold, "Take the caller off hold",
                  t, response=Ok, errors=unavailable),
            Route("POST", "/calls/{call_id}/transfer", self.transfer,
                  "Transfer to a number, a queue or an agent", t, body=TransferIn,
                  response=Ok, errors=unavailable),
            Route("POST", "/calls/dial", self.dial,
                  "Click to call: ring your phone, then the number", t, body=DialIn,
                  response=DialOut, status=201, errors=unavailable),
            Route("POST", "/calls/{call_id}/disposition", self.disposition,
                  "Record the call's outcome, notes and script answers", t,
                  body=DispositionIn, response=Ok, errors=unavailable),
        ]  # fmt: skip
