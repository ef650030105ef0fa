"""Campaigns over a live API on SQLite and PostgreSQL: created from CSV (raw text/csv in UTF-8
or CP949, or JSON), listed with progress, started/paused/resumed/stopped, exported with
Korean names intact; roles, bad files, duplicates and illegal transitions; and schemathesis
over these routes with a database behind them."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator
from urllib.parse import urlencode

import pytest
import pytest_twisted
from twisted.internet.threads import deferToThread

from cti_server.storage.campaigns import CampaignRepo, DncRepo
from cti_server.storage.db import Database
from cti_server.storage.tables_campaigns import CampaignStatus
from tests.api.conftest import Answer, Api
from tests.api.fuzzing import fuzz_api

pytestmark = pytest.mark.timeout(120)

CSV = (
    "전화번호,이름,상품\n"
    "010-1234-5678,김민준,생수\n"
    "010 9876 5432,이서연,커피\n"
    "12,박지훈,차\n"
    "010-1234-5678,최지우,물\n"
    "010-5555-6666,정하은,주스\n"
)
ROUTES = [
    ("POST", "/campaigns"),
    ("GET", "/campaigns"),
    ("GET", "/campaigns/promo"),
    ("GET", "/campaigns/promo/export"),
    ("POST", "/campaigns/promo/start"),
    ("POST", "/campaigns/promo/pause"),
    ("POST", "/campaigns/promo/resume"),
    ("POST", "/campaigns/promo/stop"),
    ("GET", "/stats/callbacks"),
]


@pytest.fixture
def campaign_db(db_url: str) -> Iterator[Database]:
    database = Database(db_url)
    yield database
    database.dispose_sync()


@pytest.fixture
def capi(make_api: Callable[..., Api], campaign_db: Database) -> Api:
    return make_api(database=campaign_db)


async def upload(api: Api, data: bytes, user: str = "super", **query: object) -> Answer:
    settings = {"name": "promo", "queue": "sales"} | query
    path = "/campaigns?" + urlencode({k: v for k, v in settings.items() if v is not None})
    return await api.call("POST", path, raw=data, user=user, headers={"Content-Type": "text/csv"})


@pytest_twisted.ensureDeferred
async def test_csv_upload_imports_and_reports_rejects(capi: Api, campaign_db: Database) -> None:
    DncRepo(campaign_db).add(["010-5555-6666"])
    made = await upload(capi, CSV.encode(), pacing=1.5, max_attempts=4, caller_id="02-1234")
    assert made.status == 201, made.raw
    body = made.json
    assert (body["name"], body["status"], body["queue"]) == ("promo", "draft", "sales")
    assert (body["total"], body["imported"], body["rejected"]) == (5, 2, 3)
    assert body["encoding"] == "utf-8-sig" and body["columns"] == ["전화번호", "이름", "상품"]
    reasons = {r["line"]: r["reason"] for r in body["rejects"]}
    assert "not a phone number" in reasons[4]
    assert reasons[5] == "number: duplicate of row 2"
    assert reasons[6] == "number: on the do-not-call list"
    assert body["rejects"][0]["row"] == ["12", "박지훈", "차"]
    stored = CampaignRepo(campaign_db).get("promo")
    assert stored is not None and stored.status is CampaignStatus.DRAFT
    assert (stored.pacing, stored.max_attempts, stored.caller_id) == (1.5, 4, "02-1234")


@pytest_twisted.ensureDeferred
async def test_json_form_list_and_get(capi: Api) -> None:
    survey = {"name": "survey", "queue": "support", "csv": CSV, "customer_first": True,
              "pacing": 2}  # fmt: skip
    made = await capi.call("POST", "/campaigns", survey, user="super")
    assert made.status == 201 and made.json["imported"] == 3, made.raw
    assert (await upload(capi, b"number\n01011112222\n")).status == 201
    listed = await capi.call("GET", "/campaigns", user="super")
    assert listed.status == 200
    rows = {c["name"]: c for c in listed.json["campaigns"]}
    assert set(rows) == {"survey", "promo"}
    survey = rows["survey"]
    assert (survey["customer_first"], survey["pacing"], survey["leads"]) == (True, 2.0, 3)
    assert survey["by_status"]["pending"] == 3 and survey["completion"] == 0.0
    assert survey["created_at"].endswith("+09:00")  # the server's zone
    one = await capi.call("GET", "/campaigns/survey", user="admin")
    assert one.status == 200 and one.json == survey
    drafts = await capi.call("GET", "/campaigns?status=running", user="super")
    assert drafts.json == {"campaigns": []}
    missing = await capi.call("GET", "/campaigns/nosuch", user="super")
    assert (missing.status, missing.error) == (404, "no_such_campaign")


@pytest_twisted.ensureDeferred
async def test_korean_names_round_trip_through_export(capi: Api) -> None:
    made = await upload(capi, CSV.encode("cp949"))  # as Excel in Korea saves it
    assert made.status == 201 and made.json["encoding"] == "cp949"
    exported = await capi.call("GET", "/campaigns/promo/export", user="super")
    assert exported.status == 200
    assert exported.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert 'filename="promo.csv"' in exported.headers["Content-Disposition"]
    assert exported.raw.startswith(b"\xef\xbb\xbf")  # the BOM Excel wants
    rows = list(csv.DictReader(io.StringIO(exported.raw.decode("utf-8-sig"))))
    assert [(r["number"], r["name"], r["상품"], r["status"]) for r in rows] == [
        ("01012345678", "김민준", "생수", "pending"),
        ("01098765432", "이서연", "커피", "pending"),
        ("01055556666", "정하은", "주스", "pending"),
    ]
    assert rows[0]["due_at"].endswith("+09:00")

    lines = await capi.call("GET", "/campaigns/promo/export?format=jsonl", user="super")
    assert lines.headers["Content-Type"] == "application/x-ndjson"
    leads = [json.loads(line) for line in lines.raw.decode("utf-8").splitlines()]
    assert [(x["name"], x["extra"]) for x in leads] == [
        ("김민준", {"상품": "생수"}),
        ("이서연", {"상품": "커피"}),
        ("정하은", {"상품": "주스"}),
    ]
    missing = await capi.call("GET", "/campaigns/nosuch/export", user="super")
    assert (missing.status, missing.error) == (404, "no_such_campaign")
    bad = await capi.call("GET", "/campaigns/promo/export?format=xlsx", user="super")
    assert (bad.status, bad.error) == (400, "bad_query")


@pytest_twisted.ensureDeferred
async def test_bad_files_and_settings_create_nothing(capi: Api, campaign_db: Database) -> None:
    no_number = await upload(capi, "이름,메모\n김민준,VIP\n".encode())
    assert (no_number.status, no_number.error) == (400, "bad_csv")
    assert "no 'number' column" in no_number.json["detail"]
    garbage = await upload(capi, b"number\n\xff\xfe\xff\n")
    assert (garbage.status, garbage.error) == (400, "bad_csv")
    assert "neither UTF-8 nor CP949" in garbage.json["detail"]
    nul = await upload(capi, b"number,name\n01012345678,a\x00b\n")
    assert (nul.status, nul.error) == (400, "bad_csv") and "NUL" in nul.json["detail"]
    nameless = await upload(capi, CSV.encode(), name=None)
    assert (nameless.status, nameless.error) == (400, "bad_name")
    pacing = await upload(capi, CSV.encode(), pacing=9)
    assert (pacing.status, pacing.error) == (400, "bad_query") and "pacing" in pacing.json["detail"]
    queue = await upload(capi, CSV.encode(), queue="nosuch")
    assert (queue.status, queue.error) == (404, "no_such_queue")

    def post(body: object) -> object:
        return capi.call("POST", "/campaigns", body, user="super")

    wrong = await post({"name": "x", "queue": "sales", "csv": CSV, "pacing": "fast"})
    assert (wrong.status, wrong.error) == (400, "bad_pacing")
    extra = await post({"name": "x", "queue": "sales", "csv": CSV, "colour": "red"})
    assert (extra.status, extra.error) == (400, "bad_body")
    broken = await capi.call("POST", "/campaigns", raw=b"{nope", user="super")
    assert (broken.status, broken.error) == (400, "bad_json")
    both = await capi.call("POST", "/campaigns?queue=sales",
                           {"name": "x", "queue": "sales", "csv": CSV}, user="super")  # fmt: skip
    assert (both.status, both.error) == (400, "bad_query")
    assert CampaignRepo(campaign_db).list() == []


@pytest_twisted.ensureDeferred
async def test_duplicate_name_is_409(capi: Api) -> None:
    assert (await upload(capi, CSV.encode())).status == 201
    again = await upload(capi, b"number\n01099990000\n")
    assert (again.status, again.error) == (409, "campaign_exists")
    listed = await capi.call("GET", "/campaigns/promo", user="super")
    assert listed.json["leads"] == 3  # the first list, untouched


@pytest_twisted.ensureDeferred
async def test_start_pause_resume_stop(capi: Api, campaign_db: Database) -> None:
    assert (await upload(capi, CSV.encode())).status == 201

    async def command(word: str) -> Answer:
        return await capi.call("POST", f"/campaigns/promo/{word}", user="super")

    resume = await command("resume")
    assert (resume.status, resume.error) == (409, "illegal_transition")
    assert "from paused to running, not from draft" in resume.json["detail"]
    for word, status in (("start", "running"), ("pause", "paused"), ("resume", "running"),
                         ("stop", "stopped"), ("start", "running")):  # fmt: skip
        answer = await command(word)
        assert (answer.status, answer.json) == (200, {"name": "promo", "status": status})
        stored = CampaignRepo(campaign_db).get("promo")
        assert stored is not None and stored.status.value == status  # what the dialer polls
    start = await command("start")  # running already: nothing to do
    assert (start.status, start.json["status"]) == (200, "running")
    pause = await command("pause")
    assert pause.status == 200
    start = await command("start")
    assert (start.status, start.error) == (409, "illegal_transition")
    assert "from draft or stopped to running, not from paused" in start.json["detail"]
    missing = await capi.call("POST", "/campaigns/nosuch/start", user="super")
    assert (missing.status, missing.error) == (404, "no_such_campaign")


@pytest_twisted.ensureDeferred
async def test_supervisors_only(capi: Api) -> None:
    for method, path in ROUTES:
        anonymous = await capi.call(method, path)
        assert (anonymous.status, anonymous.error) == (401, "unauthorized"), path
        agent = await capi.call(method, path, user="1001")
        assert (agent.status, agent.error) == (403, "forbidden"), path


@pytest_twisted.ensureDeferred
async def test_no_routes_without_a_database(make_api: Callable[..., Api]) -> None:
    api = make_api(database=None)  # as /stats without its resource: not served
    for method, path in ROUTES:
        answer = await api.call(method, path, user="super")
        assert (answer.status, answer.error) == (404, "not_found"), path
    assert not any(p.startswith("/campaigns") for p in api.http.openapi()["paths"])


def fuzz(base: str, token: str) -> tuple[set[str], list[str]]:
    select = lambda schema: schema.include(path_regex=r"^/(campaigns|stats/callbacks)")  # noqa: E731
    return fuzz_api(base, token, select=select, check_auth=True)


@pytest_twisted.ensureDeferred
async def test_schemathesis_with_a_database(capi: Api) -> None:
    pytest.importorskip("schemathesis")
    assert (await upload(capi, CSV.encode())).status == 201
    token = await capi.token("admin")
    operations, failures = await deferToThread(fuzz, capi.base, token)
    assert not failures, "\n\n".join(failures)
    assert operations == {f"{m} {p.replace('promo', '{name}')}" for m, p in ROUTES}
