"""A live API on a loopback port, built from real parts: the ACD distributor, the users
repository on SQLite, the token and rate-limit cores on a fake clock, the stats resource over
the statistics tests' call records; and a fake ``CallControl`` (the same Protocol, no Mock).

Tests are coroutines (``pytest_twisted.ensureDeferred``): the reactor serves the API while
the test's HTTP request blocks in a thread (``Api.call``).
"""

from __future__ import annotations

import json
import random
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import pytest_twisted
from prometheus_client import CollectorRegistry
from twisted.internet.defer import Deferred, succeed
from twisted.internet.threads import deferToThread

import cti_server.storage.tables_users  # noqa: F401  (the users table on Base.metadata)
from acd.distributor import Distributor
from cti_server.api.control import Conflict, Forbidden, NotFound
from cti_server.api.site import ApiParts, HttpSite, build_api
from cti_server.api.stats import StatsResource
from cti_server.api.tokens import MemoryTokens
from cti_server.auth import LoginRateLimiter, Principal, ScryptCost, TokenIssuer
from cti_server.call.model import Call, CallPhase, Leg, LegDirection
from cti_server.call.queue_host import StandbyError
from cti_server.config import ConfigError, parse_config
from cti_server.contact_center import AcdHolder
from cti_server.storage.bridge import run_in_loop
from cti_server.storage.db import Database
from cti_server.storage.migrations import upgrade
from cti_server.storage.repos import RecordingRepo
from cti_server.storage.users import DEMO_USERS, UserRepo, seed_demo_users
from tests.storage.conftest import db_url, fresh_db_url, pg_repo_url, pg_server  # noqa: F401
from tests.unit.metrics.test_stats import CALLS, KST

CHEAP = ScryptCost(n=1024, r=8, p=1)  # tests are not an attack
T0 = datetime(2026, 11, 30, 15, 0, tzinfo=KST).timestamp()  # a1..a3 of CALLS are "today"
PASSWORDS = {name: password for name, password, *_ in DEMO_USERS}
ACD_CONFIG = """
acd:
  queues: [{name: sales}, {name: support}]
  agents:
    - {id: "1001", name: 김상담, queues: [sales]}
    - {id: "1002", name: 이상담, queues: [sales, support]}
"""
POP = {  # crm.screenpop.ScreenPop.to_dict() of a VIP customer
    "customer_id": "cust-1",
    "customer_number": "10001",
    "name": "김민준",
    "phone": "01012345678",
    "email": None,
    "vip": True,
    "segment": "gold",
    "language": "ko",
    "assigned_agent": "1001",
    "national_id_masked": "900101-1******",
    "auth_method": "pin",
    "auth_outcome": "ok",
    "inquiries": [
        {
            "at": "2026-11-01T01:00:00+00:00",
            "channel": "call",
            "category": "배송",
            "summary": "배송 지연",
            "notes": None,
            "disposition": "resolved",
            "agent_id": "1001",
            "queue": "sales",
        }
    ],
    "usual_payment": {"kind": "card", "label": "신한카드 ****1234", "usual": True},
    "frequent_products": [
        {"code": "P1", "name": "생수", "times_ordered": 5, "last_ordered_at": None}
    ],
}
WAV = b"RIFF\x24\x00\x00\x00WAVEfmt "  # enough to tell audio from JSON


class FakeClock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def make_call(call_id: str, agent_id: str | None, *, offered: tuple[str, ...] = ()) -> Call:
    inbound = Leg(f"{call_id}-in", call_id, LegDirection.INBOUND, created_at=T0 - 60)
    peer = None
    if agent_id is not None:
        peer = Leg(f"{call_id}-a", call_id, LegDirection.OUTBOUND, agent_id=agent_id,
                   created_at=T0 - 30, answered_at=T0 - 20)  # fmt: skip
    call = Call(call_id=call_id, inbound=inbound, caller="01012345678", called="1588",
                phase=CallPhase.CONNECTED if agent_id else CallPhase.QUEUED, peer=peer,
                created_at=T0 - 60, queue="sales", acd_agent=agent_id, customer_id="cust-1",
                auth_method="pin", screen_pop=dict(POP) if agent_id else None)  # fmt: skip
    for agent in offered:
        call.offers[agent] = Leg(f"{call_id}-{agent}", call_id, LegDirection.OUTBOUND,
                                 agent_id=agent)  # fmt: skip
    return call


class FakeControl:
    """The CallControl Protocol over a few dicts; returns values and Deferreds alike."""

    def __init__(self) -> None:
        self.done: list[tuple[Any, ...]] = []
        self.held: set[str] = set()
        self.ended = {"C-old": "1002"}  # a finished call and its agent
        self.messages = {
            "V1": {"id": "V1", "caller": "0101111", "queue": None, "agent_id": "1001",
                   "created_at": "2026-11-30T05:00:00Z", "duration": 12.5, "done": False},
            "V2": {"id": "V2", "caller": "0102222", "queue": "sales", "agent_id": "1002",
                   "created_at": "2026-11-30T05:10:00Z", "duration": 3.0, "done": False},
        }  # fmt: skip

    def hangup(self, call_id: str, by: Principal) -> None:
        self.done.append(("hangup", call_id, by.username))

    def hold(self, call_id: str, by: Principal) -> Deferred[None]:
        if call_id in self.held:
            raise Conflict(f"call {call_id} is on hold already")
        self.held.add(call_id)
        self.done.append(("hold", call_id, by.username))
        return succeed(None)

    def unhold(self, call_id: str, by: Principal) -> None:
        if call_id not in self.held:
            raise Conflict(f"call {call_id} is not on hold")
        self.held.discard(call_id)

    def transfer(self, call_id: str, kind: str, target: str, by: Principal) -> None:
        if kind == "queue" and target not in ("sales", "support"):
            raise NotFound(f"no queue {target!r}", "no_such_queue")
        self.done.append(("transfer", call_id, kind, target))

    def dial(self, agent_id: str, number: str, customer_id: str | None, by: Principal) -> str:
        self.done.append(("dial", agent_id, number, customer_id, by.username))
        return "C-dial-1"

    def disposition(self, call_id: str, by: Principal, disposition: str, notes: str,
                    script_answers: dict[str, Any]) -> None:  # fmt: skip
        owner = self.ended.get(call_id)
        if owner is not None and not by.may_act_for(owner):
            raise Forbidden(f"call {call_id} was agent {owner}'s")
        self.done.append(("disposition", call_id, disposition, notes, script_answers))

    def callbacks(self, status: str | None, by: Principal) -> list[dict[str, Any]]:
        rows = [
            {"id": "CB1", "number": "0103333", "queue": "sales", "due_at": "2026-11-30T06:00:00Z",
             "status": "pending", "attempts": 0, "customer_id": None},
            {"id": "CB2", "number": "0104444", "queue": "sales", "due_at": None,
             "status": "done", "attempts": 2, "customer_id": "cust-1"},
        ]  # fmt: skip
        return [r for r in rows if status is None or r["status"] == status]

    def voicemail(self, by: Principal) -> Deferred[list[dict[str, Any]]]:
        rows = [m for m in self.messages.values() if by.may_act_for(m["agent_id"])]
        return succeed(rows)

    def _message(self, message_id: str, by: Principal) -> dict[str, Any]:
        message = self.messages.get(message_id)
        if message is None:
            raise NotFound(f"no voice message {message_id!r}")
        if not by.may_act_for(message["agent_id"]):
            raise Forbidden(f"voice message {message_id} is not yours")
        return message

    def voicemail_audio(self, message_id: str, by: Principal) -> Deferred[bytes]:
        self._message(message_id, by)
        return succeed(WAV)

    def voicemail_done(self, message_id: str, by: Principal) -> None:
        self._message(message_id, by)["done"] = True

    def script(self, name: str, by: Principal) -> dict[str, Any] | None:
        return {"name": name, "start": "greet", "steps": {"greet": {"say": "안녕하세요"}}} \
            if name == "sales" else None  # fmt: skip

    def script_for_call(self, call_id: str) -> dict[str, Any] | None:
        return {"name": "sales", "start": "greet"}


class FakeHa:
    def status(self) -> dict[str, Any]:
        return {"node": "a", "role": "leader", "token": 3}


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    raw: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.raw)

    @property
    def error(self) -> str:
        return str(self.json["error"])


def _http(url: str, method: str, data: bytes | None, headers: dict[str, str]) -> Answer:
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return Answer(response.status, dict(response.headers), response.read())
    except urllib.error.HTTPError as exc:
        return Answer(exc.code, dict(exc.headers), exc.read())


@dataclass
class Api:
    base: str
    http: HttpSite
    clock: FakeClock
    control: FakeControl
    acd: AcdHolder
    tokens: dict[str, str] = field(default_factory=dict)

    async def call(self, method: str, path: str, body: Any = None, *, user: str | None = None,
                   token: str | None = None, raw: bytes | None = None,
                   headers: dict[str, str] | None = None) -> Answer:  # fmt: skip
        """``path`` under /api/v1; ``user`` logs in as that demo user first."""
        sent = dict(headers or {})
        if user is not None:
            token = await self.token(user)
        if token is not None:
            sent["Authorization"] = f"Bearer {token}"
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        if data is not None:
            sent.setdefault("Content-Type", "application/json")
        url = f"{self.base}/api/v1{path}" if path.startswith("/") else f"{self.base}/{path}"
        result: Answer = await deferToThread(_http, url, method, data, sent)
        return result

    async def token(self, user: str) -> str:
        if user not in self.tokens:
            answer = await self.call(
                "POST", "/auth/login", {"username": user, "password": PASSWORDS[user]}
            )
            assert answer.status == 200, answer.raw
            self.tokens[user] = answer.json["token"]
        return self.tokens[user]


@pytest.fixture(scope="module")
def users_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    """One SQLite database per module with the demo users (cheap hashes)."""
    path: Path = tmp_path_factory.mktemp("api") / "cti.sqlite3"
    database = Database(f"sqlite:///{path}")
    upgrade(database.sync_engine)
    seed_demo_users(UserRepo(database, cost=CHEAP))
    yield database
    database.dispose_sync()


@pytest.fixture
def make_api(users_db: Database) -> Iterator[Callable[..., Api]]:
    """``make_api(**ApiParts overrides)``: a live API; stopped after the test."""
    from twisted.internet import reactor

    started: list[Any] = []
    recordings_db = Database(users_db.url)

    def make(**overrides: Any) -> Api:
        clock = overrides.pop("clock", None) or FakeClock()
        config = parse_config(ACD_CONFIG, "<test>")
        holder = AcdHolder(Distributor(config.acd, random.Random(1)))

        def submit(item: Any) -> None:
            if not holder.active:
                raise StandbyError("this node is a standby: the leader distributes calls")
            holder.handle(item, clock())

        broken = overrides.pop("broken_flows", False)

        def reload() -> list[str]:
            if broken:
                raise ConfigError(["flows/main.yaml:3: unknown queue 'nosuch'"])
            return ["main"]

        calls = {c.call_id: c for c in (make_call("C1", "1001"), make_call("C2", "1002"),
                                          make_call("C3", None, offered=("1001",)))}  # fmt: skip
        control = FakeControl()
        values: dict[str, Any] = {
            "users": UserRepo(users_db, cost=CHEAP),
            "database": users_db,
            "tokens": MemoryTokens(TokenIssuer(random.Random(7).randbytes, ttl=3600), clock),
            "clock": clock,
            "blocking": deferToThread,
            "tz": KST,
            "health": lambda: {"status": "ok", "calls": len(calls)},
            "registry": CollectorRegistry(),
            "acd": holder,
            "submit": submit,
            "queue_names": ["sales", "support"],
            "calls": calls,
            "recordings": RecordingRepo(recordings_db.async_session),
            "stats": StatsResource(lambda start, end: succeed(CALLS), KST),
            "ha": FakeHa(),
            "reload_flows": reload,
            "call_control": control,
            "limiter": LoginRateLimiter(),
        } | overrides
        http = build_api(ApiParts(**values))
        port = reactor.listenTCP(0, http.site, interface="127.0.0.1")
        started.append(port)
        return Api(f"http://127.0.0.1:{port.getHost().port}", http, clock, control, holder)

    yield make
    for port in started:
        pytest_twisted.blockon(port.stopListening())
    pytest_twisted.blockon(run_in_loop(recordings_db.dispose()))


@pytest.fixture
def api(make_api: Callable[..., Api]) -> Api:
    return make_api()
