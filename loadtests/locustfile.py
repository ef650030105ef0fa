"""Locust callers for the contact center: IVR logins and straight-to-queue calls over SIP.

Run against a server with echo agents (``loadtests/locust_server.py`` starts both):

  .venv/bin/locust -f loadtests/locustfile.py --headless -u 20 -r 2 -t 120s --stop-timeout 40 \
      --host 127.0.0.1:SIP_PORT --cti-http 127.0.0.1:HTTP_PORT IvrCaller

Users (each loops: one call, then a 0.5-2 s pause):

* ``IvrCaller`` dials 1588 (flow ``main``), presses 1 (Korean) at 4.5 s, then a demo customer
  number and ``#`` 1.5 s later, then its PIN and ``#`` 1.5 s later (tests/e2e/test_ivr.py's
  timing), waits for an agent, talks ``--talk-seconds``, hangs up.
* ``QueueCaller`` dials 1599 (queue ``general``): waits for an agent, talks, hangs up.

What is reported (request type, name = ivr | queue; times in ms, caller's monotonic clock):

* ``SIP setup``: INVITE sent to 200 OK received. For 1599 the server answers once an agent
  has, so it includes the agent's ring.
* ``IVR``: 200 OK to the moment the call joined the queue, as seen by one poller per locust
  process reading ``GET /api/v1/calls`` every ``--cti-poll`` s (the midpoint between the last
  poll showing it in the IVR and the first showing it queued, alerting or connected: +-half a
  poll interval). About 12.4 s of it is the scripted key timing; ``IVR after keys`` is the part
  the server decides: last key sent to queued (PIN check, the "connecting you" prompt).
* ``queue wait``: queued (as above; for 1599, the INVITE) to the first frame of our own audio
  coming back through the agent's echo (``sip_user`` explains the marker): the caller hears the
  agent. With free agents this is the server's offer + answer + bridge time.
* ``call``: the whole call, INVITE to the 200 for our BYE. Every failure is reported here,
  once, named by the phase it happened in: an error final response or no answer to INVITE, the
  server hanging up during the IVR, queue or talk, the call not queued ``--ivr-timeout`` s
  after the last key (the IVR did not take the keys: e.g. prompts playing slower than real
  time under overload, so scripted keys land in the wrong prompt), no agent within
  ``--queue-timeout``, no 200 to BYE.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import random
import time
import urllib.request
from typing import Any, ClassVar

import gevent
from locust import User, between, events, task
from locust.env import Environment
from sip_user import CallError, SipCall

# Demo customers (cti_server/storage/demo_data.py) with their PINs; 10020 has none.
CUSTOMERS = {
    "10001": "1234", "10002": "5678", "10003": "1111", "10004": "2222", "10005": "3333",
    "10006": "4444", "10007": "5555", "10008": "6666", "10009": "7777", "10010": "8888",
    "10011": "9999", "10012": "1357", "10013": "2468", "10014": "1470", "10015": "2580",
    "10016": "3690", "10017": "0852", "10018": "9630", "10019": "7410",
}  # fmt: skip
KEY_TIMES = (4.5, 1.5, 1.5)  # language, customer number, PIN: seconds before each entry
QUEUED = frozenset({"queued", "alerting", "connected"})
_serial = itertools.count(1)


class NotQueued(CallError):
    """The IVR kept the call: it did not take the keys as they were typed."""


@events.init_command_line_parser.add_listener
def _options(parser: Any) -> None:
    group = parser.add_argument_group("cti-server callers")
    group.add_argument("--cti-http", default="", help="the server's HTTP host:port (IVR timing)")
    group.add_argument("--cti-poll", type=float, default=0.2, help="API poll interval, s")
    group.add_argument(
        "--cti-token", default=os.environ.get("CTI_API_TOKEN", ""), help="API bearer token"
    )
    group.add_argument("--talk-seconds", type=float, default=3.0, help="talk time with the agent")
    group.add_argument("--queue-timeout", type=float, default=60.0, help="longest wait for one")
    group.add_argument(
        "--ivr-timeout", type=float, default=20.0, help="to be queued after the last key (s)"
    )
    group.add_argument("--customers", default="", help="customer numbers (default 10001-10019)")
    group.add_argument(
        "--cti-samples", default="", help="append every measurement as a JSON line to this file"
    )


class Samples:
    """Every measurement, exact (locust's own percentiles keep two significant digits), plus
    the moments spawning completed and stopping began, so a report can take the steady part."""

    def __init__(self) -> None:
        self._file: Any = None

    def open(self, path: str) -> None:
        if path and self._file is None:
            self._file = open(path, "a")  # noqa: SIM115 - closed by test_stop

    def write(self, **row: Any) -> None:
        if self._file is not None:
            self._file.write(json.dumps({**row, "at": time.monotonic(), "pid": os.getpid()}))
            self._file.write("\n")

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


SAMPLES = Samples()


@events.test_start.add_listener
def _open_samples(environment: Environment, **_: Any) -> None:
    opts = environment.parsed_options
    SAMPLES.open(opts.cti_samples if opts is not None else "")
    SAMPLES.write(mark="start")


@events.spawning_complete.add_listener
def _spawned(user_count: int, **_: Any) -> None:
    SAMPLES.write(mark="spawned", users=user_count)


@events.test_stopping.add_listener
def _stopping(**_: Any) -> None:
    SAMPLES.write(mark="stopping")


@events.cpu_warning.add_listener
def _cpu_warning(cpu_usage: float, **_: Any) -> None:
    SAMPLES.write(mark="cpu_warning", cpu=cpu_usage)


class CallWatcher:
    """When each call joined a queue, by caller number, from ``GET /api/v1/calls`` polls.

    One per process, so the load it adds is one small request per interval, whatever the
    number of users.
    """

    def __init__(self, url: str, interval: float, token: str = "") -> None:
        self.url, self.interval = url, interval
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.last_ivr: dict[str, float] = {}
        self.queued: dict[str, float] = {}
        self.errors = 0
        self.last_ok = time.monotonic()
        self._pruned = time.monotonic()
        self._greenlet = gevent.spawn(self._loop)

    def seen(self, caller: str) -> bool:
        """Whether the call has been seen queued (or past it); True when the poller has not
        heard from the server lately, so that it never blames the IVR for its own blindness."""
        return caller in self.queued or time.monotonic() - self.last_ok > 2 + 2 * self.interval

    def queued_at(self, caller: str) -> float | None:
        first = self.queued.get(caller)
        before = self.last_ivr.get(caller)
        return first if before is None or first is None else (before + first) / 2

    def stop(self) -> None:
        self._greenlet.kill(block=False)

    def _loop(self) -> None:
        while True:
            try:
                request = urllib.request.Request(self.url, headers=self.headers)
                with urllib.request.urlopen(request, timeout=2) as response:
                    rows = json.loads(response.read())["calls"]
            except (OSError, ValueError, KeyError):
                self.errors += 1
                gevent.sleep(self.interval)
                continue
            now = self.last_ok = time.monotonic()
            present = set()
            for row in rows:
                caller = row.get("caller") or ""
                present.add(caller)
                if row.get("phase") in QUEUED:
                    self.queued.setdefault(caller, now)
                elif caller not in self.queued:
                    self.last_ivr[caller] = now
            if now - self._pruned > 60:  # calls gone for two minutes: nobody will ask
                self._pruned = now
                for seen in (self.queued, self.last_ivr):
                    for gone in [c for c, t in seen.items() if c not in present and now - t > 120]:
                        del seen[gone]
            gevent.sleep(self.interval)


_watcher: CallWatcher | None = None


def watcher(env: Environment) -> CallWatcher | None:
    global _watcher
    opts = env.parsed_options
    if _watcher is None and opts is not None and opts.cti_http:
        url = f"http://{opts.cti_http}/api/v1/calls"
        _watcher = CallWatcher(url, opts.cti_poll, opts.cti_token)
    return _watcher


@events.test_stop.add_listener
def _stop_watcher(**_: Any) -> None:
    global _watcher
    if _watcher is not None:
        SAMPLES.write(mark="poller", errors=_watcher.errors)
        _watcher.stop()
        _watcher = None
    SAMPLES.write(mark="stop")
    SAMPLES.close()


class _Caller(User):
    """One call per task; subclasses say what happens between the answer and the queue."""

    abstract = True
    wait_time = between(0.5, 2.0)
    called: ClassVar[str] = ""
    label: ClassVar[str] = ""

    def on_start(self) -> None:
        host = (self.host or "127.0.0.1:5060").removeprefix("sip:").split("//")[-1]
        ip, _, port = host.partition(":")
        self.server = (ip, int(port or 5060))
        opts = self.environment.parsed_options
        self.talk = opts.talk_seconds if opts else 3.0
        self.queue_timeout = opts.queue_timeout if opts else 60.0
        self.ivr_timeout = opts.ivr_timeout if opts else 20.0
        wanted = (opts.customers.split(",") if opts and opts.customers else None) or CUSTOMERS
        self.customers = [(c, CUSTOMERS[c]) for c in wanted]
        self.rng = random.Random()
        watcher(self.environment)  # polling from the first call on

    def report(
        self, kind: str, seconds: float, error: Exception | None = None, start: float = 0.0
    ) -> None:
        text = None if error is None else str(error)
        SAMPLES.write(kind=kind, name=self.label, s=seconds, error=text, start=start)
        self.environment.events.request.fire(
            request_type=kind,
            name=self.label,
            response_time=seconds * 1000,
            response_length=0,
            exception=error,
            context={},
        )

    @task
    def call(self) -> None:
        caller = f"0{os.getpid() % 100000:05d}{next(_serial):05d}"
        sip = SipCall(self.server, self.called, caller)
        started = time.monotonic()
        phase = "setup"
        try:
            self.report("SIP setup", sip.invite())
            phase = "IVR"
            queued, keys_done = self.before_queue(sip, caller)
            phase = "queue"
            agent = self.wait_for_agent(sip, caller, keys_done)
            if sip.server_bye_at is not None:
                raise CallError("server hung up")
            if agent is None:
                raise CallError(f"no agent within {self.queue_timeout:g} s")
            phase = "talk"
            sip.hold(self.talk)
            if sip.server_bye_at is not None:
                raise CallError("server hung up")
            if queued is None:  # known by now: the poller has seen the call connected
                queued = self.when_queued(caller, sip, keys_done)
            self.report("queue wait", max(0.0, agent - queued))
            phase = "hangup"
            sip.hangup()
            self.report("call", time.monotonic() - started, start=started)
        except (CallError, OSError) as exc:
            error = CallError(f"{'IVR' if isinstance(exc, NotQueued) else phase}: {exc}")
            self.report("call", time.monotonic() - started, error, start=started)
            if phase != "hangup":  # leave nothing behind on the server
                with contextlib.suppress(CallError, OSError):
                    sip.hangup(timeout=2.0)
        finally:
            sip.close()

    def before_queue(self, sip: SipCall, caller: str) -> tuple[float | None, float]:
        """What happens between the answer and the queue; (queued time if known, keys done).

        Straight to the queue, the wait starts with the INVITE: the server answers once an
        agent has, when one is free.
        """
        return sip.invited_at, time.monotonic()

    def when_queued(self, caller: str, sip: SipCall, keys_done: float) -> float:
        return keys_done

    def wait_for_agent(self, sip: SipCall, caller: str, keys_done: float) -> float | None:
        return sip.wait_for_agent(self.queue_timeout)


class IvrCaller(_Caller):
    """Logs in through the IVR as a demo customer, then waits for an agent."""

    called = "1588"
    label = "ivr"

    def before_queue(self, sip: SipCall, caller: str) -> tuple[float | None, float]:
        customer, pin = self.rng.choice(self.customers)
        for wait, keys in zip(KEY_TIMES, ("1", f"{customer}#", f"{pin}#"), strict=True):
            sip.hold(wait)
            if sip.server_bye_at is None:
                sip.press(keys)
            if sip.server_bye_at is not None:
                raise CallError("server hung up")
        return None, time.monotonic()

    def wait_for_agent(self, sip: SipCall, caller: str, keys_done: float) -> float | None:
        """Wait for the agent; fail as an IVR failure when the call is not even queued
        ``--ivr-timeout`` s after the last key (the IVR did not take the keys as typed)."""
        found = watcher(self.environment)
        deadline = keys_done + self.queue_timeout
        while sip.echo_at is None and sip.server_bye_at is None:
            now = time.monotonic()
            if now >= deadline:
                return None
            sip.wait_for_agent(min(1.0, deadline - now))
            late = time.monotonic() - keys_done > self.ivr_timeout
            if found is not None and late and sip.echo_at is None and not found.seen(caller):
                raise NotQueued(f"not queued {self.ivr_timeout:g} s after the last key")
        return sip.echo_at

    def when_queued(self, caller: str, sip: SipCall, keys_done: float) -> float:
        found = watcher(self.environment)
        if found is None:  # no --cti-http: queue wait then counts from the last key
            return keys_done
        queued = found.queued_at(caller)
        if queued is None:
            raise CallError("the API never showed the call queued")
        answered = sip.answered_at or queued
        self.report("IVR", queued - answered)
        self.report("IVR after keys", max(0.0, queued - keys_done))
        return queued


class QueueCaller(_Caller):
    """Calls the queue's number directly: pure ACD load."""

    called = "1599"
    label = "queue"
