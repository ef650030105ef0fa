"""The desktop's call control (``cti_server.api.control.CallControl``) over the call switch
and the database: hang up, hold, transfer, click-to-call, dispositions, callbacks, voice
messages and scripts.

Switch requests run on the reactor (they only decide and queue SIP); database work and file
reads go to the thread pool. Who may do what beyond "an agent acts on live calls they are on"
(which the router checks) is checked here: a disposition only by the call's agent, voice
messages only the agent's own and their queues'.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session
from twisted.internet.defer import Deferred
from twisted.internet.threads import deferToThreadPool

from cti_server.api.control import Conflict, Forbidden, Invalid, NotFound, Unavailable
from cti_server.auth import Principal
from cti_server.call.desk_control import DeskError
from cti_server.call.dial_out import DialError, DialOut
from cti_server.call.queue_host import StandbyError
from cti_server.crm.script_schema import Script
from cti_server.crm.scripts import category_of, script_for, script_json, summarize, validate_answers
from cti_server.storage import Database
from cti_server.storage.dispositions import DispositionRepo, UnknownCustomer
from cti_server.storage.tables import CallbackRow, CallRecordRow
from ivr_flows.auth import normalize_number

T = TypeVar("T")
SUPERVISORS = ("supervisor", "admin")


class DeskCalls:
    def __init__(
        self,
        config: Any,
        sip: Any,  # adapters.sip_service.SipService
        acd: Any,
        database: Database,
        scripts: dict[str, Script],
        reactor: Any,
    ) -> None:
        self._config = config
        self._sip = sip
        self._acd = acd
        self._db = database
        self._scripts = scripts
        self._reactor = reactor
        self._tz = ZoneInfo(config.timezone)
        self.on_contact: Any = None  # the CRM outbox's hook (adapters.webhook_service)

    # --- helpers ------------------------------------------------------------------------

    def _thread(self, fn: Callable[..., T], *args: Any) -> Deferred[T]:
        return deferToThreadPool(self._reactor, self._reactor.getThreadPool(), fn, *args)

    def _switch(self, fn: Callable[..., Any], *args: Any) -> Any:
        try:
            return self._sip.control(fn, *args)
        except LookupError as exc:
            raise NotFound(str(exc), "no_such_call") from None
        except DeskError as exc:
            raise Conflict(str(exc)) from None
        except StandbyError as exc:
            raise Unavailable(str(exc)) from None

    def _live(self, call_id: str) -> Any:
        call = self._sip.switch.controller.calls.get(call_id)
        if call is None:
            raise NotFound(f"no call {call_id!r} in progress", "no_such_call")
        return call

    def _agent_queues(self, agent_id: str | None) -> list[str]:
        return [
            q.name
            for q in self._config.acd.queues
            if any(a.id == agent_id and q.name in a.queues for a in self._config.acd.agents)
        ]

    # --- calls --------------------------------------------------------------------------

    def hangup(self, call_id: str, by: Principal) -> None:
        self._live(call_id)
        self._switch(self._sip.switch.hang_up, call_id, "agent_hangup")

    def hold(self, call_id: str, by: Principal) -> None:
        self._switch(self._sip.switch.desk_hold, call_id, True)

    def unhold(self, call_id: str, by: Principal) -> None:
        self._switch(self._sip.switch.desk_hold, call_id, False)

    def transfer(self, call_id: str, kind: str, target: str, by: Principal) -> None:
        if kind == "queue" and target not in {q.name for q in self._config.acd.queues}:
            raise Invalid(f"no queue {target!r}", "unknown_queue")
        self._switch(self._sip.switch.desk_transfer, call_id, kind, target)

    def dial(self, agent_id: str, number: str, customer_id: str | None, by: Principal) -> str:
        """Click-to-call: the agent's phone rings first, then the customer (the configured
        caller ID of the agent's first queue, else the dialer's)."""
        digits = normalize_number(number)
        if not 3 <= len(digits) <= 15:
            raise Invalid(f"{number!r} is not a phone number", "bad_number")
        queues = self._agent_queues(agent_id)
        queue = queues[0] if queues else ""
        dialer = self._config.dialer
        caller_id = (dialer.queue_policy(queue).caller_id if queue else "") or dialer.caller_id
        req = DialOut(
            attempt_id=f"click-{uuid.uuid4().hex[:12]}",
            number=digits,
            agent_id=agent_id,
            queue=queue,
            kind="click",
            caller_id=caller_id,
            customer_id=customer_id,
        )
        try:
            return str(self._sip.control(self._sip.switch.dial_out, req))
        except DialError as exc:
            if exc.reason == "no_route":
                raise Invalid(str(exc), "no_route") from None
            if exc.reason == "standby":
                raise Unavailable(str(exc)) from None
            raise Conflict(str(exc), exc.reason) from None

    # --- dispositions -------------------------------------------------------------------

    def disposition(
        self,
        call_id: str,
        by: Principal,
        disposition: str,
        notes: str,
        script_answers: dict[str, Any],
    ) -> Deferred[None]:
        live = self._sip.switch.controller.calls.get(call_id)
        facts = None
        if live is not None:
            _customer, agent_leg = self._sip.switch.controller.parties(live)
            agent = live.acd_agent or (agent_leg.agent_id if agent_leg else None)
            campaign = live.dial.campaign if live.dial is not None else ""
            facts = (agent, live.customer_id, live.queue, campaign)
        return self._thread(
            self._save_disposition, call_id, by, disposition, notes, script_answers, facts
        )

    def _save_disposition(
        self,
        call_id: str,
        by: Principal,
        disposition: str,
        notes: str,
        answers: dict[str, Any],
        facts: tuple[str | None, str | None, str | None, str] | None,
    ) -> None:
        if facts is None:  # ended: the stored call record says whose it was
            with Session(self._db.sync_engine) as session:
                row = session.get(CallRecordRow, call_id)
            if row is None:
                raise NotFound(f"no call {call_id!r}", "no_such_call")
            record = row.record or {}
            facts = (row.agent_id, record.get("customer_id"), record.get("queue"), "")
        agent, customer_id, queue, campaign = facts
        if by.role not in SUPERVISORS and by.agent_id != agent:
            raise Forbidden(f"call {call_id} was not yours")
        settings = self._config.crm
        script = script_for(self._scripts, settings, queue=queue, campaign=campaign or None)
        category, summary = "", disposition
        if script is not None and answers:
            problem = validate_answers(script, answers)
            if problem is not None:
                raise Invalid(f"script_answers: {problem}", "bad_script_answers")
            category = category_of(script, answers) or ""
            summary = summarize(script, answers) or disposition
        try:
            DispositionRepo(self._db, on_contact=self.on_contact).save(
                call_id,
                agent or by.agent_id or by.username,
                customer_id,
                disposition,
                notes,
                script.name if script is not None else None,
                answers,
                self._reactor.seconds(),
                queue=queue,
                category=category,
                summary=summary,
            )
        except UnknownCustomer:
            raise Invalid(f"unknown customer {customer_id!r}", "unknown_customer") from None

    # --- callbacks ----------------------------------------------------------------------

    def callbacks(self, status: str | None, by: Principal) -> Deferred[list[dict[str, Any]]]:
        queues = None if by.role in SUPERVISORS else self._agent_queues(by.agent_id)
        return self._thread(self._callbacks, status or "pending", queues)

    def _callbacks(self, status: str, queues: list[str] | None) -> list[dict[str, Any]]:
        stmt = select(CallbackRow).where(CallbackRow.status == status)
        if queues is not None:
            stmt = stmt.where(CallbackRow.queue.in_(queues))
        stmt = stmt.order_by(CallbackRow.due_at, CallbackRow.id).limit(200)
        with Session(self._db.sync_engine) as session:
            rows = list(session.scalars(stmt))
        return [
            {
                "id": r.id,
                "number": r.number,
                "queue": r.queue,
                "due_at": r.due_at.astimezone(self._tz).isoformat(),
                "status": r.status,
                "attempts": r.attempts,
                "customer_id": r.customer_id,
            }
            for r in rows
        ]

    # --- voice messages -----------------------------------------------------------------

    def voicemail(self, by: Principal) -> Deferred[list[dict[str, Any]]]:
        from cti_server.storage.voice_messages import VoiceMessageRepo, to_json

        agent = None if by.role in SUPERVISORS else by.agent_id
        queues = self._agent_queues(agent) if agent else []

        def inbox() -> list[dict[str, Any]]:
            return [to_json(m, self._tz) for m in VoiceMessageRepo(self._db).inbox(agent, queues)]

        return self._thread(inbox)

    def _message(self, message_id: str, by: Principal) -> Any:
        from cti_server.storage.voice_messages import VoiceMessageRepo

        message = VoiceMessageRepo(self._db).get(message_id)
        if message is None:
            raise NotFound(f"no voice message {message_id!r}")
        mine = message.agent_id == by.agent_id or (
            message.agent_id is None and message.queue in self._agent_queues(by.agent_id)
        )
        if by.role not in SUPERVISORS and not mine:
            raise Forbidden(f"voice message {message_id} is not for you")
        return message

    def voicemail_audio(self, message_id: str, by: Principal) -> Deferred[bytes]:
        def read() -> bytes:
            message = self._message(message_id, by)
            try:
                return Path(message.path).read_bytes()
            except OSError:
                raise NotFound(f"the audio of {message_id} is gone (retention?)") from None

        return self._thread(read)

    def voicemail_done(self, message_id: str, by: Principal) -> Deferred[None]:
        from cti_server.storage.voice_messages import VoiceMessageRepo

        def done() -> None:
            self._message(message_id, by)
            VoiceMessageRepo(self._db).mark_done(message_id, by.username, self._reactor.seconds())

        return self._thread(done)

    # --- scripts ------------------------------------------------------------------------

    def script(self, name: str, by: Principal) -> dict[str, Any] | None:
        found = self._scripts.get(name)
        return None if found is None else script_json(found)

    def script_for_call(self, call_id: str) -> dict[str, Any] | None:
        call = self._sip.switch.controller.calls.get(call_id)
        if call is None:
            return None
        campaign = call.dial.campaign if call.dial is not None else None
        found = script_for(
            self._scripts, self._config.crm, queue=call.queue, campaign=campaign or None
        )
        return None if found is None else script_json(found)


def build_desk_calls(config: Any, sip: Any, acd: Any, reactor: Any) -> DeskCalls:
    from cti_server.crm.script_loader import load_scripts

    scripts = load_scripts(config.crm.scripts_dir)
    return DeskCalls(config, sip, acd, Database.from_config(config), scripts, reactor)
