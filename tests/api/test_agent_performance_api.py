"""``GET /api/v1/performance`` and ``GET /api/v1/agents/{id}/performance`` on a live loopback
API over SQLite and PostgreSQL holding the unit tests' calls and state log: the bodies equal
what :mod:`metrics.agent_performance` makes of the same rows, agents see only their own,
supervisors everyone; bad periods answer 400, a database that cannot be read 503; and
schemathesis checks both operations against the generated document."""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import pytest_twisted
from twisted.internet.threads import deferToThread

from cti_server.api.agent_performance import performance_routes
from cti_server.api.openapi import openapi_document
from cti_server.api.router import Route
from cti_server.api.site import ApiParts, HttpSite, api_routes
from cti_server.api.tokens import MemoryTokens
from cti_server.auth import TokenIssuer
from cti_server.storage.db import Database
from cti_server.storage.users import UserRepo
from metrics.agent_comparison import split_compare
from metrics.agent_performance import performance_report
from metrics.agent_report import comparison_json, report_json
from tests.api.conftest import CHEAP, Api, FakeClock, FakeControl
from tests.api.fuzzing import fuzz_api
from tests.storage.test_agent_figures import store
from tests.unit.metrics.test_agent_performance import CALLS, KST, MON, STATES, TUE, WED, at

PERIOD = "from=2026-11-30&to=2026-12-02"


@pytest.fixture
def figures_db(db_url: str) -> Iterator[Database]:
    database = Database(db_url)
    store(database, CALLS, STATES)
    yield database
    database.dispose_sync()


@pytest.fixture
def serve(users_db: Database) -> Iterator[Callable[[Database], Api]]:
    """``serve(database)``: the API's routes with the performance routes added (once the
    site registers them itself, as they are)."""
    from twisted.internet import reactor

    ports: list[Any] = []

    def make(database: Database) -> Api:
        clock = FakeClock(at("2026-12-01T18:00"))
        parts = ApiParts(
            users=UserRepo(users_db, cost=CHEAP),
            tokens=MemoryTokens(TokenIssuer(random.Random(7).randbytes, ttl=3600), clock),
            clock=clock, blocking=deferToThread, tz=KST, health=lambda: {"status": "ok"},
            database=database,
        )  # fmt: skip
        routes = api_routes(parts)
        if not any(r.path == "/performance" for r in routes):
            routes += performance_routes(parts)
        http = HttpSite(parts, routes)
        port = reactor.listenTCP(0, http.site, interface="127.0.0.1")
        ports.append(port)
        return Api(f"http://127.0.0.1:{port.getHost().port}", http, clock, FakeControl(), None)  # type: ignore[arg-type]

    yield make
    for port in ports:
        pytest_twisted.blockon(port.stopListening())


def plain(value: Any) -> Any:
    return json.loads(json.dumps(value))


@pytest_twisted.ensureDeferred
async def test_supervisors_see_everyone_and_the_comparison(
    serve: Callable[[Database], Api], figures_db: Database
) -> None:
    api = serve(figures_db)
    answer = await api.call("GET", f"/performance?{PERIOD}&compare_before=2026-12-01", user="super")
    assert answer.status == 200, answer.raw
    body = answer.json
    report = performance_report(CALLS, STATES, [], start=MON, end=WED, tz=KST)
    comparison = split_compare(CALLS, STATES, [], start=MON, at=TUE, end=WED, tz=KST)
    assert body == plain(report_json(report) | {"compare": comparison_json(comparison)})
    assert body["center"]["answer_rate"] == 0.6 and body["total"]["aht"] == 116
    aht = next(c for c in body["compare"]["center_changes"] if c["field"] == "aht")
    assert (aht["before"], aht["after"], aht["delta"]) == (100, 140, 40)
    assert [a["key"] for a in body["agents"]] == ["1001", "1002", "1003"]
    assert body["qa_available"] is True  # the evaluations store is installed, and empty
    plain_period = await api.call("GET", f"/performance?{PERIOD}", user="admin")
    assert plain_period.status == 200 and plain_period.json["compare"] is None


@pytest_twisted.ensureDeferred
async def test_an_agent_sees_only_its_own(
    serve: Callable[[Database], Api], figures_db: Database
) -> None:
    api = serve(figures_db)
    mine = await api.call("GET", f"/agents/1001/performance?{PERIOD}&compare_before=2026-12-01",
                          user="1001")  # fmt: skip
    assert mine.status == 200, mine.raw
    body = mine.json
    assert body["agent_id"] == "1001" and body["from"] == "2026-11-30T00:00:00+09:00"
    figures = body["figures"]
    assert (figures["handled"], figures["aht"], figures["offer_answer_rate"]) == (3, 100, 1.0)
    assert figures["occupancy"] == pytest.approx(1 / 3)
    assert [w["from"][:10] for w in body["weeks"]] == ["2026-11-30"]
    assert body["compare"]["before"]["handled"] == 3 and body["compare"]["after"]["handled"] == 0
    handled = next(c for c in body["compare"]["changes"] if c["field"] == "handled")
    assert handled["delta"] == -3
    theirs = await api.call("GET", f"/agents/1002/performance?{PERIOD}", user="1001")
    assert (theirs.status, theirs.error) == (403, "forbidden")
    everyone = await api.call("GET", f"/performance?{PERIOD}", user="1001")
    assert (everyone.status, everyone.error) == (403, "forbidden")
    anyone = await api.call("GET", f"/agents/1002/performance?{PERIOD}", user="super")
    assert anyone.status == 200 and anyone.json["figures"]["callbacks"] == 1
    nobody = await api.call("GET", f"/agents/1002/performance?{PERIOD}")
    assert nobody.status == 401


@pytest_twisted.ensureDeferred
async def test_today_by_default(serve: Callable[[Database], Api], figures_db: Database) -> None:
    api = serve(figures_db)  # the clock says 2026-12-01 18:00 in Seoul
    answer = await api.call("GET", "/agents/1002/performance", user="1002")
    assert answer.status == 200
    assert (answer.json["from"], answer.json["to"]) == ("2026-12-01T00:00:00+09:00",
                                                         "2026-12-02T00:00:00+09:00")  # fmt: skip
    assert answer.json["figures"]["handled"] == 2


@pytest.mark.parametrize(
    ("query", "detail"),
    [
        ("from=yesterday", "is not a date"),
        ("from=2026-12-02&to=2026-12-01", "is not after from"),
        ("from=2025-01-01&to=2026-12-01", "longer than 366 days"),
        (f"{PERIOD}&compare_before=2026-12-05", "compare_before must lie inside the period"),
        ("from=9999-12-31", "between 1970 and 9998"),
    ],
)
@pytest_twisted.ensureDeferred
async def test_bad_periods_answer_400(
    serve: Callable[[Database], Api], users_db: Database, query: str, detail: str
) -> None:
    api = serve(users_db)
    answer = await api.call("GET", f"/performance?{query}", user="super")
    assert (answer.status, answer.error) == (400, "bad_query")
    assert detail in answer.json["detail"]


@pytest_twisted.ensureDeferred
async def test_a_database_that_cannot_be_read_answers_503(
    serve: Callable[[Database], Api], tmp_path: Any
) -> None:
    broken = Database(f"sqlite:///{tmp_path / 'missing' / 'cti.sqlite3'}")
    api = serve(broken)
    answer = await api.call("GET", f"/performance?{PERIOD}", user="super")
    assert (answer.status, answer.error) == (503, "database_unavailable")
    broken.dispose_sync()


def test_without_a_database_there_are_no_routes() -> None:
    parts = ApiParts(users=None, tokens=None, clock=lambda: 0.0, blocking=deferToThread, tz=KST,
                     health=dict)  # type: ignore[arg-type]  # fmt: skip
    assert performance_routes(parts) == []


def fuzz(base: str, token: str, routes: list[Route]) -> tuple[set[str], list[str]]:
    return fuzz_api(
        base,
        token,
        select=lambda schema: schema.include(path_regex="performance"),
        document=openapi_document(routes),
        skip_unsatisfiable=False,
    )


@pytest.mark.timeout(120)
@pytest_twisted.ensureDeferred
async def test_answers_match_the_document(
    serve: Callable[[Database], Api], figures_db: Database
) -> None:
    pytest.importorskip("schemathesis")
    api = serve(figures_db)
    token = await api.token("admin")
    routes = [r for r in api.http.routes if "performance" in r.path]
    operations, failures = await deferToThread(fuzz, api.base, token, routes)
    assert operations == {"GET /agents/{agent_id}/performance", "GET /performance"}
    assert not failures, "\n\n".join(failures)
