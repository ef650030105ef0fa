"""The hot-standby edge: keeps the leader lease, saves the distributor snapshot, logs events.

``LeaseKeeper`` (pure) decides; this adapter runs its backend calls and its one timer. A node
is promoted only after the lease is granted *and* the last snapshot was read: then
``on_promoted(snapshot | None, token)`` hands the application what to restore from. A
leader that loses the lease, cannot renew it in time or is refused a fenced write gets
``on_demoted()`` and must stop distributing at once.

While promoted, a change (any bus event, and every lease tick) marks the snapshot dirty; it
is written at most every ``save_interval`` seconds, only when its text changed, one write in
flight, fenced by the token. Every bus event is appended to the event stream in publish
order, whatever the role (a standby's registrations are facts too), in batches of one
round trip; while the backend is unreachable they wait in a bounded queue (the oldest are
dropped and counted past it) and go out on the next lease tick. A batch cut off mid-way is
sent again whole: at least once, not exactly once.

Backend coroutines run through ``run``: ``run_in_loop`` (an asyncio Task) for Redis,
``run_now`` for the in-memory backend, which never suspends, so an App on ``task.Clock``
stays deterministic.
"""

from __future__ import annotations

import json
import logging
import os
import socket
from collections import deque
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Final, Protocol

from twisted.internet.defer import Deferred, fail, gatherResults, succeed
from twisted.python.failure import Failure

from cti_server.adapters.timers import DeadlineTimer
from cti_server.bus import EventBus
from cti_server.events import Event, to_json
from cti_server.state import lease
from cti_server.state.backend import (
    DEFAULT_MAX_EVENTS,
    DEFAULT_PREFIX,
    InMemoryBackend,
    StateBackend,
    StateUnavailable,
)
from cti_server.state.redis_backend import RedisBackend
from cti_server.storage.bridge import run_in_loop

log = logging.getLogger(__name__)

Runner = Callable[[Coroutine[Any, Any, Any]], Deferred[Any]]
Snapshot = dict[str, Any]
BATCH: Final = 500


class Clock(Protocol):
    """What the service needs of the reactor (``task.Clock`` in tests)."""

    def seconds(self) -> float: ...

    def callLater(
        self, delay: float, callable: Callable[..., object], *args: object, **kw: object
    ) -> Any: ...


def run_now(coro: Coroutine[Any, Any, Any]) -> Deferred[Any]:
    """Drive a coroutine that never suspends (the in-memory backend) to its end, now."""
    try:
        coro.send(None)
    except StopIteration as done:
        return succeed(done.value)
    except Exception:  # noqa: BLE001 - the coroutine's own error, as a failed Deferred
        return fail()
    coro.close()
    raise RuntimeError("run_now: the coroutine suspended; run it with run_in_loop")


class HaService:
    def __init__(
        self,
        backend: StateBackend,
        keeper: lease.LeaseKeeper,
        clock: Clock,
        *,
        snapshot: Callable[[], Snapshot | None],
        on_promoted: Callable[[Snapshot | None, int], None],
        on_demoted: Callable[[], None],
        run: Runner,
        save_interval: float = 0.2,
        max_pending_events: int = 10_000,
    ) -> None:
        self.backend = backend
        self.keeper = keeper
        self._clock = clock
        self._snapshot = snapshot
        self._on_promoted = on_promoted
        self._on_demoted = on_demoted
        self._run = run
        self._save_interval = save_interval
        self._max_pending = max_pending_events
        self._lease_timer = DeadlineTimer(clock, self._on_timer)  # type: ignore[arg-type]
        self._save_timer = DeadlineTimer(clock, self._save_due)  # type: ignore[arg-type]
        self._promoted: int | None = None  # the token the application was promoted with
        self._dirty = False
        self._saving = False
        self._saved_text: str | None = None
        self._last_save = float("-inf")
        self._events: deque[str] = deque()
        self._appending = False
        self._append_failing = False
        self._stopped = False
        self.events_appended = 0
        self.events_dropped = 0
        self.snapshots_saved = 0

    # --- what the application sees -----------------------------------------------------------

    @property
    def role(self) -> str:
        return "leader" if self._promoted is not None else "standby"

    @property
    def token(self) -> int | None:
        return self._promoted

    def status(self) -> dict[str, Any]:
        return {"node": self.keeper.node_id, "role": self.role, "token": self._promoted}

    def start(self) -> None:
        """Begin on the next reactor turn (the asyncio loop is not running before)."""
        self._clock.callLater(0, self._begin)

    def stop(self) -> Deferred[Any]:
        """Give the lease up (if held) and close the backend; fires when both are done."""
        self._stopped = True
        self._lease_timer.stop()
        self._save_timer.stop()
        pending = self._execute(self.keeper.stop(self._now()))
        done: Deferred[Any] = gatherResults(pending, consumeErrors=True)
        done.addBoth(lambda _: self._run(self.backend.close()))
        done.addErrback(self._log_failure, "closing the state backend")
        return done

    def on_event(self, event: Event) -> None:
        """Bus subscriber: to the event stream, and a reason to save the snapshot."""
        if self._stopped:
            return
        if len(self._events) >= self._max_pending:
            self._events.popleft()
            self.events_dropped += 1
        self._events.append(to_json(event))
        if not self._append_failing:
            self._pump_events()
        self.mark_dirty()

    def mark_dirty(self) -> None:
        """The distributor may have changed: save its snapshot soon (no-op unless leader)."""
        if self._promoted is None:
            return
        self._dirty = True
        if not self._saving:
            self._save_timer.rearm(max(self._now(), self._last_save + self._save_interval))

    # --- the lease ---------------------------------------------------------------------------

    def _now(self) -> float:
        return float(self._clock.seconds())

    def _begin(self) -> None:
        self._feed(self.keeper.start(self._now()))

    def _on_timer(self, now: float) -> None:
        self._feed(self.keeper.on_timer(now))
        self._pump_events()
        self.mark_dirty()

    def _feed(self, actions: list[lease.LeaseAction]) -> None:
        self._execute(actions)
        if self.keeper.state is not lease.LeaseState.STOPPED:
            self._lease_timer.rearm(self.keeper.next_deadline())

    def _execute(self, actions: list[lease.LeaseAction]) -> list[Deferred[Any]]:
        pending: list[Deferred[Any]] = []
        keeper, node = self.keeper, self.keeper.node_id
        for action in actions:
            match action:
                case lease.Acquire(request=request):
                    d = self._run(self.backend.acquire(node, keeper.ttl))
                    d.addCallbacks(
                        lambda token, r=request: self._feed(keeper.acquired(r, token, self._now())),
                        lambda failure, r=request: self._request_failed(r, failure),
                    )
                case lease.Renew(request=request, token=token):
                    d = self._run(self.backend.renew(node, token, keeper.ttl))
                    d.addCallbacks(
                        lambda ok, r=request: self._feed(keeper.renewed(r, ok, self._now())),
                        lambda failure, r=request: self._request_failed(r, failure),
                    )
                case lease.Release(token=token):
                    d = self._run(self.backend.release(node, token))
                    pending.append(d)
                case lease.Promoted(token=token):
                    d = self._run(self.backend.load_snapshot())
                    d.addCallbacks(
                        lambda found, t=token: self._promote(t, found),
                        lambda failure, t=token: self._resign(t, failure),
                    )
                case lease.Demoted(token=token, reason=reason):
                    self._demote(token, reason)
                    continue
            d.addErrback(self._log_failure, type(action).__name__)
        return pending

    def _request_failed(self, request: int, failure: Failure) -> None:
        log.warning("state backend: %s", failure.getErrorMessage())
        self._feed(self.keeper.failed(request, self._now()))

    def _promote(self, token: int, found: tuple[int, str] | None) -> None:
        if self.keeper.token != token:
            return  # demoted while the snapshot was being read
        data: Snapshot | None = None
        if found is not None:
            try:
                data = json.loads(found[1])
            except ValueError:
                log.error("the stored snapshot (token %d) is not JSON: starting empty", found[0])
        log.info("node %s is the leader (token %d)", self.keeper.node_id, token)
        self._promoted = token
        self._saved_text = None if found is None else found[1]
        try:
            self._on_promoted(data, token)
        except Exception:  # the application could not take over: let another node try
            log.exception("taking over from the snapshot failed: giving the lease up")
            self._promoted = None
            self._feed(self.keeper.resign(token, self._now()))
            return
        self.mark_dirty()

    def _resign(self, token: int, failure: Failure) -> None:
        log.error("snapshot unreadable (%s): giving the lease up", failure.getErrorMessage())
        self._feed(self.keeper.resign(token, self._now()))

    def _demote(self, token: int, reason: str) -> None:
        self._save_timer.stop()
        self._dirty = False
        if self._promoted != token:
            return  # never told the application
        self._promoted = None
        log.warning("node %s is no longer the leader (%s)", self.keeper.node_id, reason)
        try:
            self._on_demoted()
        except Exception:  # the lease logic must go on whatever the application does
            log.exception("on_demoted failed")

    # --- the snapshot ------------------------------------------------------------------------

    def _save_due(self, now: float) -> None:
        token = self._promoted
        if token is None or self._saving or not self._dirty:
            return
        self._dirty = False
        data = self._snapshot()
        text = None if data is None else json.dumps(data, separators=(",", ":"))
        if text is None or text == self._saved_text:
            return
        self._saving = True
        self._last_save = now
        d = self._run(self.backend.save_snapshot(token, text))
        d.addCallbacks(
            lambda ok: self._saved(token, text, ok), lambda f: self._save_failed(token, f)
        )
        d.addErrback(self._log_failure, "saving the snapshot")

    def _saved(self, token: int, text: str, ok: bool) -> None:
        self._saving = False
        if not ok:
            log.error("snapshot write refused for token %d: another node leads", token)
            self._feed(self.keeper.fenced(token, self._now()))
            return
        self._saved_text = text
        self.snapshots_saved += 1
        if self._dirty:
            self.mark_dirty()

    def _save_failed(self, token: int, failure: Failure) -> None:
        self._saving = False
        log.warning("snapshot not saved (%s): retrying", failure.getErrorMessage())
        self.mark_dirty()

    # --- the event stream --------------------------------------------------------------------

    def _pump_events(self) -> None:
        if self._appending or not self._events:
            return
        batch = [self._events.popleft() for _ in range(min(BATCH, len(self._events)))]
        self._appending = True
        d = self._run(self._append(batch))
        d.addCallbacks(
            self._appended, self._append_crashed, callbackArgs=(batch,), errbackArgs=(batch,)
        )
        d.addErrback(self._log_failure, "appending events")

    async def _append(self, batch: list[str]) -> int:
        """How many went in: all, or none (the batch is sent again: at least once)."""
        try:
            await self.backend.append_events(batch)
        except StateUnavailable:
            return 0
        return len(batch)

    def _appended(self, done: int, batch: list[str]) -> None:
        self._appending = False
        self.events_appended += done
        if done < len(batch):
            self._events.extendleft(reversed(batch[done:]))
            if not self._append_failing:
                log.warning("event stream unreachable: %d events wait", len(self._events))
            self._append_failing = True
            return  # the next lease tick tries again
        self._append_failing = False
        self._pump_events()

    def _append_crashed(self, failure: Failure, batch: list[str]) -> None:
        """Not an outage (those are retried) but a bug: drop the batch rather than loop."""
        self._appending = False
        self.events_dropped += len(batch)
        self._log_failure(failure, "appending events")

    def _log_failure(self, failure: Failure, what: str) -> None:
        if failure.check(StateUnavailable):  # an outage, not a bug: the lease logic copes
            log.warning("high availability: %s failed: %s", what, failure.getErrorMessage())
            return
        log.error("high availability: %s failed: %s", what, failure.getTraceback())


def default_node_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


@dataclass(frozen=True, slots=True)
class HaSettings:
    """The ``redis:`` config section's high-availability fields, with their defaults."""

    url: str | None = None
    key_prefix: str = DEFAULT_PREFIX
    node_id: str | None = None  # None: "<hostname>-<pid>"
    lease_ttl: float = 3.0
    stream_max_len: int = DEFAULT_MAX_EVENTS
    snapshot_interval: float = 0.2

    @classmethod
    def from_config(cls, section: Any) -> HaSettings:
        """Read ``config.redis``; fields it does not have yet keep their defaults."""
        return cls(**{f: getattr(section, f, getattr(cls(), f)) for f in cls.__slots__})


def build_ha(
    config: Any,
    reactor: Any,
    bus: EventBus,
    *,
    snapshot: Callable[[], Snapshot | None],
    on_promoted: Callable[[Snapshot | None, int], None],
    on_demoted: Callable[[], None],
) -> HaService:
    """The service for ``config.redis``: Redis shared by the nodes when ``url`` is set, else
    in memory (one node, leader as soon as it starts). Subscribes to ``bus``; the caller
    starts it once the reactor runs (``start()``) and waits for ``stop()`` at shutdown."""
    settings = HaSettings.from_config(config.redis)
    ttl = settings.lease_ttl
    keeper = lease.LeaseKeeper(settings.node_id or default_node_id(), ttl)
    backend: StateBackend
    if settings.url:
        backend = RedisBackend.from_url(
            settings.url,
            prefix=settings.key_prefix,
            max_events=settings.stream_max_len,
            timeout=ttl / 3,
        )
        run: Runner = run_in_loop
    else:
        backend = InMemoryBackend(reactor.seconds, max_events=settings.stream_max_len)
        run = run_now
    service = HaService(
        backend,
        keeper,
        reactor,
        snapshot=snapshot,
        on_promoted=on_promoted,
        on_demoted=on_demoted,
        run=run,
        save_interval=settings.snapshot_interval,
    )
    bus.subscribe(service.on_event)
    where = f"redis {settings.key_prefix!r}" if settings.url else "in memory (single node)"
    log.info("high availability: node %s, %s, lease %.1f s", keeper.node_id, where, ttl)
    return service
