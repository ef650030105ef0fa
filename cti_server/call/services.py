"""The slow work a call needs (database, password hashing) as requests and their answers.

The controller never waits: an IVR's customer lookup, PIN check or callback commit, and the
screen pop a queued call carries to the agent, leave the core as a ``ServiceRequest``; the
composition root runs it in the thread pool and feeds the answer back with
``CallController.service_done``. A test answers at once, late, or never.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from ivr_flows.protocol import (
    AuthFinished,
    CallbackFinished,
    CustomerView,
    IvrAction,
    IvrInput,
    LookupCustomer,
    LookupFinished,
    RequestCallback,
    VerifyPin,
)


@dataclass(frozen=True, slots=True, kw_only=True)
class LoadScreenPop:
    """Assemble what the agent's desktop shows for ``customer_id``."""

    customer_id: str
    auth_method: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ScreenPopLoaded:
    payload: Mapping[str, Any] | None
    error: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class ServiceRequest:
    call_id: str
    work: LookupCustomer | VerifyPin | RequestCallback | LoadScreenPop


ServiceResult = LookupFinished | AuthFinished | CallbackFinished | ScreenPopLoaded


class IvrRunLike(Protocol):
    """What the controller drives (``ivr_flows.engine.IvrRun``)."""

    @property
    def finished(self) -> bool: ...

    @property
    def customer(self) -> CustomerView | None: ...

    @property
    def auth_method(self) -> str | None: ...

    @property
    def language(self) -> str: ...

    def start(self, now: float) -> list[IvrAction]: ...

    def handle(self, event: IvrInput, now: float) -> list[IvrAction]: ...

    def next_deadline(self) -> float | None: ...

    def on_timer(self, now: float) -> list[IvrAction]: ...

    def drain_events(self) -> list[Any]: ...


class IvrFactory(Protocol):
    """Starts a named flow for a call; None when there is no such flow (a 503 to the caller).
    Reloading flows swaps what the factory starts; runs in progress keep their flow."""

    def __call__(
        self, flow: str, *, call_id: str, caller: str, called: str, now: float
    ) -> IvrRunLike | None: ...
