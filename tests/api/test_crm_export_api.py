"""``GET /api/v1/crm/export`` on a live API over SQLite and PostgreSQL: CSV with a BOM and JSON
lines with Korean text intact, the period rules, roles, the row cap, and schemathesis."""

from __future__ import annotations

import csv
import io
import json
import random
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import pytest_twisted
from prometheus_client import CollectorRegistry
from twisted.internet.threads import deferToThread

from cti_server.api import crm_export as api_module
from cti_server.api.crm_export import crm_routes
from cti_server.api.router import Route
from cti_server.api.site import ApiParts, HttpSite, api_routes
from cti_server.api.tokens import MemoryTokens
from cti_server.auth import LoginRateLimiter, TokenIssuer
from cti_server.storage.db import Database
from cti_server.storage.users import UserRepo
from tests.api.conftest import CHEAP, KST, Api, FakeClock, FakeControl
from tests.api.fuzzing import fuzz_api
from tests.storage.test_crm_export import DEC1, seed

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def crm_db(db_url: str) -> Iterator[Database]:
    database = Database(db_url)
    seed(database)
    yield database
    database.dispose_sync()


@pytest.fixture
def make_crm_api(users_db: Database) -> Iterator[Callable[..., Api]]:
    """A live API with the CRM routes (added here until ``api_routes`` has them)."""
    from twisted.internet import reactor

    ports: list[Any] = []

    def make(database: Database | None) -> Api:
        clock = FakeClock(DEC1.replace(hour=12).timestamp())
        parts = ApiParts(
            users=UserRepo(users_db, cost=CHEAP),
            tokens=MemoryTokens(TokenIssuer(random.Random(7).randbytes, ttl=3600), clock),
            clock=clock,
            blocking=deferToThread,
            tz=KST,
            health=lambda: {"status": "ok", "calls": 0},
            registry=CollectorRegistry(),
            limiter=LoginRateLimiter(),
            database=database,
        )
        routes = api_routes(parts)
        if not any(r.path == "/crm/export" for r in routes):
            routes += crm_routes(parts)
        holder: list[HttpSite] = []
        routes.append(Route("GET", "/openapi.json", lambda req: holder[0].openapi(),
                            "This document (open)", ("system",), role=None))  # fmt: skip
        http = HttpSite(parts, routes)
        holder.append(http)
        port = reactor.listenTCP(0, http.site, interface="127.0.0.1")
        ports.append(port)
        return Api(f"http://127.0.0.1:{port.getHost().port}", http, clock, FakeControl(), None)  # type: ignore[arg-type]

    yield make
    for port in ports:
        pytest_twisted.blockon(port.stopListening())


@pytest.fixture
def capi(make_crm_api: Callable[..., Api], crm_db: Database) -> Api:
    return make_crm_api(crm_db)


@pytest_twisted.ensureDeferred
async def test_call_records_as_csv_with_a_bom(capi: Api) -> None:
    answer = await capi.call("GET", "/crm/export?kind=call_record&from=2026-12-01", user="super")
    assert answer.status == 200, answer.raw
    assert answer.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert "call_record-2026-12-01-2026-12-02.csv" in answer.headers["Content-Disposition"]
    assert answer.raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(answer.raw.decode("utf-8-sig"))))
    assert [(r["call_id"], r["disposition"]) for r in rows] == [
        ("C1", "해결"), ("C2", '재문의 예정, "긴급"')]  # fmt: skip
    assert rows[0]["started_at"] == "2026-12-01T09:00:00+09:00"


@pytest_twisted.ensureDeferred
async def test_contacts_as_json_lines_default_to_today(capi: Api) -> None:
    answer = await capi.call("GET", "/crm/export?kind=contact&format=jsonl", user="admin")
    assert answer.status == 200, answer.raw
    assert answer.headers["Content-Type"] == "application/x-ndjson"
    lines = [json.loads(x) for x in answer.raw.decode("utf-8").splitlines()]
    assert [x["notes"] for x in lines] == [
        "배송 지연으로 불만, 재배송 요청",
        "환불 문의\n두 번째 줄",
    ]
    month = await capi.call("GET", "/crm/export?kind=contact&format=jsonl&from=2026-12",
                            user="super")  # fmt: skip
    assert len(month.raw.decode().splitlines()) == 3


@pytest_twisted.ensureDeferred
async def test_bad_queries_answer_400(capi: Api) -> None:
    for query, code, words in (
        ("kind=recording", "bad_query", "kind"),
        ("from=2026-12-01", "bad_query", "kind"),
        ("kind=contact&from=yesterday", "bad_query", "not a date"),
        ("kind=contact&from=2026-12-02&to=2026-12-01", "bad_query", "not after"),
        ("kind=contact&from=2020&to=2026", "bad_query", "longer than 366 days"),
        ("kind=contact&format=xlsx", "bad_query", "format"),
    ):
        answer = await capi.call("GET", f"/crm/export?{query}", user="super")
        assert (answer.status, answer.error) == (400, code), (query, answer.raw)
        assert words in answer.json["detail"], (query, answer.json)


@pytest_twisted.ensureDeferred
async def test_too_many_rows_points_at_the_cli(capi: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(api_module, "MAX_ROWS", 2)
    answer = await capi.call("GET", "/crm/export?kind=contact&from=2026-12", user="super")
    assert (answer.status, answer.error) == (400, "too_many_rows")
    assert "cti-server crm export" in answer.json["detail"]


@pytest_twisted.ensureDeferred
async def test_supervisors_only_and_no_route_without_a_database(
    capi: Api, make_crm_api: Callable[..., Api]
) -> None:
    path = "/crm/export?kind=contact"
    anonymous = await capi.call("GET", path)
    assert (anonymous.status, anonymous.error) == (401, "unauthorized")
    agent = await capi.call("GET", path, user="1001")
    assert (agent.status, agent.error) == (403, "forbidden")
    bare = make_crm_api(None)
    answer = await bare.call("GET", path, user="super")
    assert (answer.status, answer.error) == (404, "not_found")


def fuzz(base: str, token: str) -> tuple[set[str], list[str]]:
    select = lambda schema: schema.include(path_regex=r"^/crm/")  # noqa: E731
    return fuzz_api(base, token, select=select, skip_unsatisfiable=False)


@pytest_twisted.ensureDeferred
async def test_schemathesis(capi: Api) -> None:
    pytest.importorskip("schemathesis")
    token = await capi.token("admin")
    operations, failures = await deferToThread(fuzz, capi.base, token)
    assert not failures, "\n\n".join(failures)
    assert operations == {"GET /crm/export"}
