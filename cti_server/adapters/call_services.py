"""Runs the calls' slow work in the thread pool and hands each answer back to the switch.

A customer lookup, a PIN check (scrypt: tens of milliseconds of CPU by design), a callback
commit and a screen pop are database work; none may run on the reactor. Each request goes to
``deferToThreadPool``; its answer (or the error, as the answer the flow's fallback branch
expects) comes back on the reactor thread through ``deliver``. Requests for the same call
run in order; different calls run in parallel.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Protocol

from sqlalchemy.exc import SQLAlchemyError
from twisted.internet.threads import deferToThreadPool

from cti_server.call.services import LoadScreenPop, ScreenPopLoaded, ServiceRequest, ServiceResult
from ivr_flows.protocol import (
    AuthFinished,
    CallbackFinished,
    CustomerView,
    LookupCustomer,
    LookupFinished,
    RequestCallback,
    VerifyPin,
)

log = logging.getLogger(__name__)


class Directory(Protocol):
    def lookup(self, by: str, value: str) -> CustomerView | None: ...

    def verify_pin(
        self, by: str, value: str, pin: str, *, call_id: str, caller: str, now: float
    ) -> tuple[Any, CustomerView | None]: ...


class CallServices:
    def __init__(
        self,
        reactor: Any,
        deliver: Callable[[str, ServiceResult], None],
        *,
        directory: Directory | None,
        request_callback: Callable[..., tuple[str, bool]] | None,
        screen_pop: Callable[[str, str | None], dict[str, Any] | None] | None,
        callers: Callable[[str], str] = lambda call_id: "",
        spool: Any = None,  # storage.callback_spool.CallbackSpool: requests the DB refused
    ) -> None:
        self._reactor = reactor
        self.spool = spool
        self._replaying = False
        self._deliver = deliver
        self._directory = directory
        self._request_callback = request_callback
        self._screen_pop = screen_pop
        self._callers = callers  # call id -> calling number (for the audit log)
        self.failures = 0

    def start(self, every: float = 2.0) -> None:
        """Replay spooled callback requests now (what a previous run left) and every
        ``every`` seconds while some wait for the database (a tick with nothing spooled does
        nothing; one with something spooled is one connection attempt while it is away)."""
        if self.spool is None:
            return
        from twisted.internet.task import LoopingCall

        self._replayer = LoopingCall(self.replay_spool)
        self._replayer.clock = self._reactor
        self._replayer.start(every, now=True)

    def stop(self) -> None:
        replayer = getattr(self, "_replayer", None)
        if replayer is not None and replayer.running:
            replayer.stop()

    def replay_spool(self) -> Any:
        if self.spool is None or self._replaying or not self.spool.pending:
            return None
        self._replaying = True
        d = deferToThreadPool(self._reactor, self._reactor.getThreadPool(), self.spool.replay)

        def done(result: Any) -> Any:
            self._replaying = False
            return result

        d.addBoth(done)
        d.addErrback(lambda failure: log.error("callback spool replay failed: %s", failure.value))
        return d

    def submit(self, requests: list[ServiceRequest]) -> None:
        for request in requests:
            caller = self._callers(request.call_id)
            now = self._reactor.seconds()
            d = deferToThreadPool(
                self._reactor, self._reactor.getThreadPool(), self._run, request, caller, now
            )
            d.addCallback(lambda result, r=request: self._deliver(r.call_id, result))
            d.addErrback(self._crashed, request)

    def _crashed(self, failure: Any, request: ServiceRequest) -> None:
        self.failures += 1
        log.error("call %s: %s failed: %s", request.call_id, type(request.work).__name__, failure)

    def _run(self, request: ServiceRequest, caller: str, now: float) -> ServiceResult:
        """Thread pool side: the database work, errors turned into answers."""
        work = request.work
        try:
            return self._work(request.call_id, work, caller, now)
        except (SQLAlchemyError, OSError, RuntimeError, ValueError) as exc:
            # a database outage is an answer: the flow's fallback branch
            self.failures += 1
            reason = f"{type(exc).__name__}: {exc}"
            log.warning("call %s: %s failed: %s", request.call_id, type(work).__name__, reason)
            if isinstance(work, LookupCustomer):
                return LookupFinished(request=work.request, error=reason)
            if isinstance(work, VerifyPin):
                return AuthFinished(request=work.request, outcome="error")
            if isinstance(work, RequestCallback):
                return CallbackFinished(request=work.request, error=reason)
            return ScreenPopLoaded(payload=None, error=reason)

    def _work(
        self,
        call_id: str,
        work: LookupCustomer | VerifyPin | RequestCallback | LoadScreenPop,
        caller: str,
        now: float,
    ) -> ServiceResult:
        if isinstance(work, LookupCustomer):
            if self._directory is None:
                return LookupFinished(request=work.request, error="no customer database")
            customer = self._directory.lookup(work.by, work.value)
            return LookupFinished(request=work.request, customer=customer)
        if isinstance(work, VerifyPin):
            if self._directory is None:
                return AuthFinished(request=work.request, outcome="error")
            outcome, customer = self._directory.verify_pin(
                work.by, work.value, work.pin, call_id=call_id, caller=caller, now=now
            )
            return AuthFinished(request=work.request, outcome=outcome, customer=customer)
        if isinstance(work, RequestCallback):
            if self._request_callback is None:
                return CallbackFinished(request=work.request, error="no callback store")
            callback_id, _merged = self._request_callback(
                work.number,
                work.queue,
                call_id=call_id,
                customer_id=work.customer_id,
                due_at=work.due_at,
                now=now,
            )
            return CallbackFinished(
                request=work.request,
                callback_id=callback_id,
                number=work.number,
                queue=work.queue,
                customer_id=work.customer_id,
            )
        if self._screen_pop is None:
            return ScreenPopLoaded(payload=None, error="no customer database")
        return ScreenPopLoaded(payload=self._screen_pop(work.customer_id, work.auth_method))
