"""The leader-lease decisions, sans-IO: which node runs the distributor, and when it stops.

Theory of operation. A standby asks the backend for the lease every ``interval`` (ttl/3);
the backend grants it with a new fencing token when nobody holds it. A leader renews every
``interval``. Validity is counted from the moment a request was *sent*, never from when its
answer came back: the backend started the lease's TTL somewhere in between, so the send time
is the conservative bound. A leader whose last successful request was sent ``ttl - margin``
ago demotes itself (``EXPIRED``), before any other node could have taken the lease after it
ran out in the backend; the margin absorbs clock-rate differences and timer lateness.
A request unanswered after ``interval`` counts as failed and is sent again.

One request is in flight at a time, and every request carries an id: an answer to anything
but the current request is stale (it came after a timeout or a demotion) and is ignored,
except that a stale grant is released at once, so the lease it took does not idle for a ttl.
A renewal the backend refuses (the lease expired there, or someone else holds it) and a
snapshot write refused by fencing (``fenced``) demote at once. A failed request (backend
unreachable) keeps the role until the validity runs out; it is retried sooner than usual.

The host executes the actions: ``Acquire``/``Renew``/``Release`` are backend calls whose
answers come back through ``acquired``/``renewed``/``failed``; ``Promoted``/``Demoted`` tell
the application to start or stop distributing.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Final


class LeaseState(enum.Enum):
    STANDBY = "standby"  # not leader, nothing in flight
    ACQUIRING = "acquiring"  # not leader, an acquire in flight
    LEADER = "leader"  # leader, nothing in flight
    RENEWING = "renewing"  # leader, a renewal in flight
    STOPPED = "stopped"


class LeaseInput(enum.Enum):
    DUE = "due"  # time for the next acquire or renewal
    GRANTED = "granted"
    REFUSED = "refused"  # acquire: held by another; renew: lost
    FAILED = "failed"  # backend error or no answer in time
    RENEWED = "renewed"
    EXPIRED = "expired"  # no successful renewal within ttl - margin
    RESIGN = "resign"  # the host gives up (fenced write, snapshot unreadable)
    STOP = "stop"


S, E = LeaseState, LeaseInput
TRANSITIONS: Final[dict[tuple[LeaseState, LeaseInput], LeaseState]] = {
    (S.STANDBY, E.DUE): S.ACQUIRING,
    (S.ACQUIRING, E.GRANTED): S.LEADER,
    (S.ACQUIRING, E.REFUSED): S.STANDBY,
    (S.ACQUIRING, E.FAILED): S.STANDBY,
    (S.LEADER, E.DUE): S.RENEWING,
    (S.RENEWING, E.RENEWED): S.LEADER,
    (S.RENEWING, E.REFUSED): S.STANDBY,
    (S.RENEWING, E.FAILED): S.LEADER,
    (S.LEADER, E.EXPIRED): S.STANDBY,
    (S.RENEWING, E.EXPIRED): S.STANDBY,
    (S.LEADER, E.RESIGN): S.STANDBY,
    (S.RENEWING, E.RESIGN): S.STANDBY,
    **{(state, E.STOP): S.STOPPED for state in LeaseState},
}
LEADING: Final = frozenset({S.LEADER, S.RENEWING})


class IllegalLeaseTransition(RuntimeError):
    def __init__(self, state: LeaseState, event: LeaseInput) -> None:
        super().__init__(f"lease: no transition from {state.value} on {event.value}")
        self.state = state
        self.event = event


@dataclass(frozen=True, slots=True)
class Acquire:
    request: int


@dataclass(frozen=True, slots=True)
class Renew:
    request: int
    token: int


@dataclass(frozen=True, slots=True)
class Release:
    token: int


@dataclass(frozen=True, slots=True)
class Promoted:
    token: int


@dataclass(frozen=True, slots=True)
class Demoted:
    token: int
    reason: str  # "lost", "expired", "resigned", "stopped"


LeaseAction = Acquire | Renew | Release | Promoted | Demoted


class LeaseKeeper:
    def __init__(self, node_id: str, ttl: float, margin: float | None = None) -> None:
        if ttl <= 0:
            raise ValueError("lease ttl must be positive")
        self.node_id = node_id
        self.ttl = ttl
        self.margin = ttl / 6 if margin is None else margin
        if not 0 <= self.margin < ttl * 2 / 3:
            raise ValueError("lease margin must leave time for two renewals")
        self.interval = ttl / 3
        self.state = LeaseState.STANDBY
        self.token: int | None = None
        self._request = 0  # id of the request in flight (or the last one)
        self._sent_at = 0.0  # when it was sent
        self._next_try: float | None = None  # None until start()
        self._valid_until = 0.0

    @property
    def is_leader(self) -> bool:
        return self.state in LEADING

    def _go(self, event: LeaseInput) -> None:
        try:
            self.state = TRANSITIONS[(self.state, event)]
        except KeyError:
            raise IllegalLeaseTransition(self.state, event) from None

    # --- time -------------------------------------------------------------------------------

    def start(self, now: float) -> list[LeaseAction]:
        """Try for the lease at once."""
        self._next_try = now
        return self.on_timer(now)

    def next_deadline(self) -> float | None:
        match self.state:
            case S.STANDBY | S.LEADER if self._next_try is not None:
                due = self._next_try
                return min(due, self._valid_until) if self.state is S.LEADER else due
            case S.ACQUIRING:
                return self._sent_at + self.interval  # no answer by then: a failure
            case S.RENEWING:
                return min(self._valid_until, self._sent_at + self.interval)
        return None

    def on_timer(self, now: float) -> list[LeaseAction]:
        if self.is_leader and now >= self._valid_until:
            return self._demote(E.EXPIRED, "expired", now, release=True)
        in_flight = self.state in (S.ACQUIRING, S.RENEWING)
        if in_flight and now >= self._sent_at + self.interval:
            self.failed(self._request, now)  # unanswered: count it as failed, ask again
        idle = self.state in (S.STANDBY, S.LEADER)
        if not idle or self._next_try is None or now < self._next_try:
            return []
        self._go(E.DUE)
        self._request += 1
        self._sent_at = now
        self._next_try = now + self.interval
        if self.state is S.ACQUIRING:
            return [Acquire(self._request)]
        assert self.token is not None
        return [Renew(self._request, self.token)]

    # --- answers ----------------------------------------------------------------------------

    def acquired(self, request: int, token: int | None, now: float) -> list[LeaseAction]:
        stale = request != self._request or self.state is not S.ACQUIRING
        late = now >= self._sent_at + self.ttl - self.margin
        if token is not None and (stale or late):
            if not stale:
                self._go(E.FAILED)
            return [Release(token)]  # a grant nobody can use: let the others have it
        if stale:
            return []
        if token is None:
            self._go(E.REFUSED)
            return []
        self._go(E.GRANTED)
        self.token = token
        self._valid_until = self._sent_at + self.ttl - self.margin
        return [Promoted(token)]

    def renewed(self, request: int, ok: bool, now: float) -> list[LeaseAction]:
        if request != self._request or self.state is not S.RENEWING:
            return []
        if not ok:
            return self._demote(E.REFUSED, "lost", now, release=False)
        self._go(E.RENEWED)
        self._valid_until = self._sent_at + self.ttl - self.margin
        return []

    def failed(self, request: int, now: float) -> list[LeaseAction]:
        """The request got an error or no answer; try again sooner than a full interval."""
        if request != self._request or self.state not in (S.ACQUIRING, S.RENEWING):
            return []
        self._go(E.FAILED)
        self._request += 1  # a late answer to the failed request is now stale
        self._next_try = min(self._next_try or now, now + self.interval / 2)
        return []

    # --- the host's decisions ---------------------------------------------------------------

    def resign(self, token: int, now: float) -> list[LeaseAction]:
        """Give the lease up (a fenced write, a snapshot that could not be read)."""
        if not self.is_leader or token != self.token:
            return []
        return self._demote(E.RESIGN, "resigned", now, release=True)

    def fenced(self, token: int, now: float) -> list[LeaseAction]:
        """A write with ``token`` was refused: another node holds a newer epoch."""
        if not self.is_leader or token != self.token:
            return []
        return self._demote(E.RESIGN, "lost", now, release=False)

    def stop(self, now: float) -> list[LeaseAction]:
        if self.state is S.STOPPED:
            return []
        if self.is_leader:
            return self._demote(E.STOP, "stopped", now, release=True)
        self._go(E.STOP)
        self._request += 1
        return []

    def _demote(
        self, event: LeaseInput, reason: str, now: float, *, release: bool
    ) -> list[LeaseAction]:
        token = self.token
        assert token is not None
        self._go(event)
        self.token = None
        self._request += 1
        self._next_try = now + self.interval
        return [Demoted(token, reason), *([Release(token)] if release else [])]
