"""What an IVR run is fed and what it asks for: the contract between the flow engine and its host.

The engine (``ivr_flows.engine.IvrRun``) is sans-IO: the call controller feeds it these inputs
with ``now`` and executes the actions it returns. Anything slow (a customer lookup, a PIN
check, a callback commit) is an action whose answer comes back later as an input, so the
reactor never waits and a test can answer it instantly or never.

Digits the caller types while a collect node is ``secure`` (PINs, national IDs) are never
put into events, logs or recordings: the host masks them while ``SecureInput(on=True)`` holds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol

# --- what the host tells the run ---------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class PromptFinished:
    """The prompts of the last ``Play`` have all been heard (or were cut by a key)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class DigitPressed:
    digit: str  # one of 0-9 * # A-D


@dataclass(frozen=True, slots=True, kw_only=True)
class CustomerView:
    """What the flow may know about a customer (never the PIN or the national ID)."""

    customer_id: str
    customer_number: str
    name: str
    vip: bool = False
    language: str | None = None
    assigned_agent: str | None = None
    segment: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class LookupFinished:
    """Answer to ``LookupCustomer``: ``customer`` None when not found; ``error`` when the
    database could not be asked (the flow's fallback branch)."""

    request: str
    customer: CustomerView | None = None
    error: str = ""


AuthOutcome = Literal["ok", "bad_pin", "unknown", "locked", "error"]


@dataclass(frozen=True, slots=True, kw_only=True)
class AuthFinished:
    """Answer to ``VerifyPin``."""

    request: str
    outcome: AuthOutcome
    customer: CustomerView | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CallbackFinished:
    """Answer to ``RequestCallback``: committed (``callback_id``) or failed (``error``)."""

    request: str
    callback_id: str = ""
    error: str = ""
    number: str = ""  # what was committed (for the CallbackRequested event)
    queue: str = ""
    customer_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CallerHungUp:
    """The caller left; the run emits its last events and ends."""


IvrInput = (
    PromptFinished | DigitPressed | LookupFinished | AuthFinished | CallbackFinished | CallerHungUp
)

# --- what the run asks the host to do ----------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class PromptRef:
    """One catalogue prompt, with its number slots (``position_is`` needs ``position``)."""

    prompt: str
    slots: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class Play:
    """Play these prompts in order in ``language``; ``barge_in``: a key stops them (and the
    key still counts as input). ``PromptFinished`` follows when they end or are cut."""

    prompts: tuple[PromptRef, ...]
    language: str
    barge_in: bool = True


@dataclass(frozen=True, slots=True, kw_only=True)
class StopPlaying:
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class SecureInput:
    """While on, the host masks the caller's digits in events, logs and recordings."""

    on: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class LookupCustomer:
    """Find a customer by ``by`` (customer_number, national_id or caller_number);
    answered by ``LookupFinished`` with the same ``request`` id."""

    request: str
    by: Literal["customer_number", "national_id", "caller_number"]
    value: str


@dataclass(frozen=True, slots=True, kw_only=True)
class VerifyPin:
    """Check ``pin`` for the customer found by ``by``/``value`` (the host hashes it off the
    reactor, counts the attempt, applies the lock-out); answered by ``AuthFinished``."""

    request: str
    by: Literal["customer_number", "national_id"]
    value: str
    pin: str


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestCallback:
    """Commit a callback request before its confirmation plays; answered by
    ``CallbackFinished``."""

    request: str
    number: str
    queue: str
    customer_id: str | None = None
    due_at: float | None = None  # POSIX seconds: the time the caller chose; None = now


@dataclass(frozen=True, slots=True, kw_only=True)
class Enqueue:
    """Hand the call to the ACD. The run ends here (the IVR lets go of the call)."""

    queue: str
    priority: int = 0
    skills: dict[str, int] = field(default_factory=dict)
    customer_id: str | None = None
    designated_agent: str | None = None
    language: str = "ko"


@dataclass(frozen=True, slots=True, kw_only=True)
class TransferTo:
    """Connect the caller to an extension/agent or an outside number. The run ends."""

    kind: Literal["agent", "number"]
    target: str


@dataclass(frozen=True, slots=True, kw_only=True)
class TakeVoiceMessage:
    """Record a message for an agent or a queue (the host plays the tone and records)."""

    agent_id: str = ""
    queue: str = ""
    language: str = "ko"


@dataclass(frozen=True, slots=True, kw_only=True)
class HangUp:
    cause: str = "ivr_hangup"


IvrAction = (
    Play
    | StopPlaying
    | SecureInput
    | LookupCustomer
    | VerifyPin
    | RequestCallback
    | Enqueue
    | TransferTo
    | TakeVoiceMessage
    | HangUp
)

# --- what the run may ask the host synchronously ------------------------------------------------


class QueueOracle(Protocol):
    """A cheap, synchronous read of the ACD (no I/O): how long a new caller would wait.

    ``None`` when it cannot tell (no history, unknown queue); an ``enqueue`` node then never
    offers a callback. Used to decide between enqueueing and offering a callback."""

    def estimated_wait(self, queue: str) -> float | None: ...
