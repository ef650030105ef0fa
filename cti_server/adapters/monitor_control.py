"""Live monitoring for the API (``cti_server.api.monitor``) over the call switch, and who may
monitor by dialling a feature code.

Switch requests run on the reactor (they only decide and queue SIP). The feature-code policy
is the users table: a supervisor or admin user whose ``agent_id`` names a SIP account may
dial ``*55``/``*56``/``*57`` + extension from that account's phone. The table is read in the
thread pool at start and every ``refresh`` seconds, and the controller asks a set.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.task import LoopingCall
from twisted.internet.threads import deferToThreadPool

from cti_server.api.control import Conflict, Forbidden, Invalid, NotFound, Unavailable
from cti_server.auth import Principal, Role
from cti_server.call.monitor import MonitorError

log = logging.getLogger(__name__)
REFRESH = 30.0
_STATUS = {
    "bad_mode": Invalid,
    "no_such_call": NotFound,
    "not_monitored": NotFound,
    "own_call": Forbidden,
    "no_media": Unavailable,
}


Blocking = Callable[[Callable[[], set[str]]], "Deferred[set[str]]"]


class MonitorControl:
    def __init__(
        self,
        sip: Any,  # adapters.sip_service.SipService
        clock: Any,  # IReactorTime
        supervisor_phones: Callable[[], set[str]] | None = None,
        blocking: Blocking | None = None,  # runs the loader off the reactor thread
        refresh: float = REFRESH,
    ) -> None:
        self._sip = sip
        self._clock = clock
        self._load = supervisor_phones
        self._blocking = blocking
        self._refresh = refresh
        self.phones: frozenset[str] = frozenset()
        self._loop: LoopingCall | None = None
        sip.switch.controller.monitor_allowed = self.may_monitor

    def may_monitor(self, account: str) -> bool:
        return account in self.phones

    def start(self) -> None:
        if self._load is None or self._loop is not None:
            return
        self._loop = LoopingCall(self._reload)
        self._loop.clock = self._clock
        self._loop.start(self._refresh, now=True)

    def stop(self) -> None:
        if self._loop is not None and self._loop.running:
            self._loop.stop()
        self._loop = None

    def _reload(self) -> Deferred[None]:
        assert self._load is not None and self._blocking is not None
        d = self._blocking(self._load)
        done = d.addCallback(self._loaded)
        return done.addErrback(lambda f: log.warning("supervisor phones not reloaded: %s", f.value))

    def _loaded(self, phones: set[str]) -> None:
        self.phones = frozenset(phones)

    # --- API ------------------------------------------------------------------------------

    def start_monitor(self, call_id: str, mode: str, extension: str | None, by: Principal) -> None:
        """Ring ``extension`` (default: the user's own agent id) to monitor ``call_id``."""
        phone = extension or by.agent_id
        if not phone:
            raise Invalid("extension: your user has no phone (agent_id); name one", "bad_extension")
        self._run(self._sip.switch.monitor, call_id, phone, mode)

    def set_mode(self, call_id: str, mode: str, by: Principal) -> None:
        self._run(self._sip.switch.set_monitor_mode, call_id, mode)

    def stop_monitor(self, call_id: str, by: Principal) -> None:
        self._run(self._sip.switch.stop_monitor, call_id)

    def status(self, call_id: str) -> dict[str, Any] | None:
        session = self._sip.switch.controller.monitor_session(call_id)
        if session is None:
            return None
        return {
            "call_id": call_id,
            "supervisor_id": session.supervisor_id,
            "mode": session.mode,
            "connected": session.agent_leg is not None,
            "via": session.via,
        }

    def _run(self, fn: Callable[..., Any], *args: Any) -> None:
        try:
            self._sip.control(fn, *args)
        except MonitorError as exc:
            error = _STATUS.get(exc.reason)
            if error is NotFound:
                raise NotFound(str(exc), exc.reason) from None
            if error is Invalid:
                raise Invalid(str(exc), exc.reason) from None
            if error is not None:
                raise error(str(exc)) from None
            raise Conflict(str(exc), exc.reason) from None


def database_supervisor_phones(database: Any) -> Callable[[], set[str]]:
    """The accounts of enabled supervisor and admin users (their ``agent_id``), read from
    ``database`` (a ``cti_server.storage.Database``) in the calling thread."""
    from cti_server.storage.users import UserRepo

    def load() -> set[str]:
        return {
            u.agent_id
            for u in UserRepo(database).list()
            if u.agent_id and not u.disabled and u.role.includes(Role.SUPERVISOR)
        }

    return load


def build_monitor_control(config: Any, sip: Any, reactor: Any) -> MonitorControl:
    """Wired by the composition root; ``start()`` once the reactor runs."""

    def blocking(fn: Callable[[], set[str]]) -> Deferred[set[str]]:
        return deferToThreadPool(reactor, reactor.getThreadPool(), fn)

    from cti_server.storage import Database

    phones = database_supervisor_phones(Database.from_config(config))
    return MonitorControl(sip, reactor, phones, blocking)
