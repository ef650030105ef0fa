"""The state one IVR run keeps, and the small moves every node step shares.

Split from the engine so each part stays readable: this module owns what the run knows
(where it waits, its variables, the customer, the events it owes) and the shared moves
(play prompts, end the run); ``steps`` enters nodes and ``engine`` handles inputs.
Secure digits (PINs, national IDs) live only in ``_vars`` until the node that needs them
takes them; events are built from ids and outcomes, never from variables.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from cti_server import events as ev
from ivr_flows.collect import DigitCollector
from ivr_flows.protocol import (
    CustomerView,
    IvrAction,
    Play,
    PromptRef,
    QueueOracle,
    SecureInput,
)
from ivr_flows.schema import Flow, PromptSpec
from ivr_flows.variables import WEEKDAYS, Scalar, render

MAX_STEPS_WITHOUT_INPUT: Final = 200
"""Nodes entered in a row without waiting for the host: past this a flow is looping."""
MAX_NODES_PER_RUN: Final = 2000
"""Bounds the recorded path (and a flow that loops through prompts forever)."""
ANSWER_TIMEOUT: Final = 15.0
"""Seconds to wait for a lookup, PIN check or callback commit before taking the error branch."""


class Wait(enum.Enum):
    """What the run is waiting for; the engine's table says which inputs each accepts."""

    NOT_STARTED = "not_started"
    PROMPT = "prompt"  # a Play whose end moves the flow on
    KEYS = "keys"  # a menu, collect or callback offer
    LOOKUP = "lookup"
    AUTH = "auth"
    CALLBACK = "callback"
    FINISHED = "finished"


class IllegalIvrTransition(RuntimeError):
    """A host bug (e.g. ``start`` twice); inputs in the wrong state are ignored instead."""

    def __init__(self, state: Wait, event: str) -> None:
        super().__init__(f"IVR run: {event!r} is not allowed in state {state.value!r}")
        self.state = state
        self.event = event


@dataclass(frozen=True, slots=True)
class Then:
    """What follows the prompt being played: a node, or the run's last action."""

    goto: str | None = None
    end: IvrAction | None = None
    outcome: str = ""


class RunState:
    def __init__(
        self,
        flow: Flow,
        *,
        call_id: str,
        caller: str,
        called: str,
        now: float,
        tz: dt.tzinfo,
        queues: QueueOracle,
        new_request_id: Callable[[], str],
        language: str | None = None,
    ) -> None:
        self._flow = flow
        self._call_id = call_id
        self._caller = caller
        self._called = called
        self._now = now
        self._tz = tz
        self._queues = queues
        self._new_request_id = new_request_id
        self._language = language or flow.language
        self._vars: dict[str, Scalar] = dict(flow.variables)
        self._secure_vars: set[str] = set()
        self._secure_on = False
        self._state = Wait.NOT_STARTED
        self._node = flow.start
        self._playing = 0  # Plays sent whose PromptFinished has not come back yet
        self._barge_in = True
        self._then: Then | None = None
        self._collector: DigitCollector | None = None
        self._request: str | None = None
        self._answer_deadline: float | None = None
        self._callback_committed = False
        self._events: list[ev.Event] = []
        self._path: list[str] = []
        self._steps = 0
        self._auth_attempts: dict[str, int] = {}
        self._auth_failures: dict[str, int] = {}
        self._offered: set[str] = set()
        self._customer: CustomerView | None = None
        self._auth_method: str | None = None
        self._auth_outcome: str | None = None
        self._outcome: str | None = None
        self.ignored = 0
        """Inputs dropped as stale or out of place (a counter for tests and metrics)."""

    # --- read-only view ------------------------------------------------------------------------

    @property
    def finished(self) -> bool:
        return self._state is Wait.FINISHED

    @property
    def state(self) -> Wait:
        return self._state

    @property
    def outcome(self) -> str | None:
        return self._outcome

    @property
    def customer(self) -> CustomerView | None:
        return self._customer

    @property
    def auth_method(self) -> str | None:
        return self._auth_method

    @property
    def path(self) -> list[str]:
        return list(self._path)

    @property
    def language(self) -> str:
        return self._language

    @property
    def flow(self) -> Flow:
        return self._flow

    def drain_events(self) -> list[ev.Event]:
        events, self._events = self._events, []
        return events

    # --- variables -----------------------------------------------------------------------------

    def _get(self, name: str) -> Scalar:
        if name in ("caller", "called", "language"):
            return {"caller": self._caller, "called": self._called, "language": self._language}[
                name
            ]
        if name.startswith("customer."):
            return _customer_field(self._customer, name.removeprefix("customer."))
        if name == "auth.method":
            return self._auth_method
        if name == "auth.outcome":
            return self._auth_outcome
        if name.startswith("now."):
            local = dt.datetime.fromtimestamp(self._now, self._tz)
            return {
                "now.hour": local.hour,
                "now.minute": local.minute,
                "now.weekday": WEEKDAYS[local.weekday()],
                "now.date": local.date().isoformat(),
            }.get(name)
        return self._vars.get(name)

    def _assign(self, name: str, value: Scalar) -> None:
        if isinstance(value, str):
            value = render(value, self._get)
        if name == "language":
            if isinstance(value, str) and value:
                self._language = value
            return
        self._vars[name] = value
        self._secure_vars.discard(name)

    def _int(self, value: int | str) -> int:
        """A number field that may be a ``${var}`` template; not a number reads as 0."""
        got = render(value, self._get) if isinstance(value, str) else value
        if isinstance(got, bool):
            return int(got)
        try:
            return int(got) if isinstance(got, int | float | str) else 0
        except ValueError:
            return 0

    # --- shared moves --------------------------------------------------------------------------

    def _emit(self, event: ev.Event) -> None:
        self._events.append(event)

    def _play(self, prompts: tuple[PromptSpec, ...], barge_in: bool = True) -> Play:
        self._playing += 1
        refs = tuple(
            PromptRef(prompt=p.prompt, slots={k: self._int(v) for k, v in p.slots.items()})
            for p in prompts
        )
        return Play(prompts=refs, language=self._language, barge_in=barge_in)

    def _secure_off(self) -> list[IvrAction]:
        if not self._secure_on:
            return []
        self._secure_on = False
        return [SecureInput(on=False)]

    def _end(self, outcome: str, action: IvrAction | None, now: float) -> list[IvrAction]:
        """The run lets go of the call: the last event, then the action that hands it over."""
        actions = self._secure_off()
        flow, node = self._flow.name, self._node
        self._emit(
            ev.IvrEnded(at=now, call_id=self._call_id, flow=flow, node=node, outcome=outcome)
        )
        self._outcome = outcome
        self._state = Wait.FINISHED
        self._collector = None
        self._then = None
        self._request = None
        self._answer_deadline = None
        for name in self._secure_vars:
            self._vars.pop(name, None)
        self._secure_vars.clear()
        return [*actions, action] if action is not None else actions


def _customer_field(customer: CustomerView | None, field: str) -> Scalar:
    if customer is None:
        return None
    values: dict[str, Scalar] = {
        "id": customer.customer_id,
        "number": customer.customer_number,
        "name": customer.name,
        "vip": customer.vip,
        "segment": customer.segment,
        "assigned_agent": customer.assigned_agent,
        "language": customer.language,
    }
    return values.get(field)
