"""Recording review over a live API on SQLite and PostgreSQL: the search and its filters, an
agent limited to its own recordings (list, details and audio), the audio with byte ranges,
downloads per role, every play, download and view in the access log, and schemathesis over
these routes.

The routes are added to the conftest's API here, as ``site.api_routes`` will once it lists
``review_routes``."""

from __future__ import annotations

import wave
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_twisted
from sqlalchemy import select
from sqlalchemy.orm import Session
from twisted.internet.threads import deferToThread

from cti_server.api.review import review_routes
from cti_server.api.review_models import ReviewSettings
from cti_server.api.router import ApiRequest, Route
from cti_server.api.site import HttpSite
from cti_server.storage.db import Database
from cti_server.storage.tables_review import RecordingAccessRow
from tests.api.conftest import Api
from tests.api.fuzzing import fuzz_api
from tests.storage.test_review import seed

pytestmark = pytest.mark.timeout(120)


def write_wav(path: Path, seconds: float) -> bytes:
    """A stereo PCM16 8 kHz file, as the recorder writes them; its bytes."""
    with wave.open(str(path), "wb") as out:
        out.setnchannels(2)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(bytes(range(256)) * int(seconds * 8000 * 4 / 256))
    return path.read_bytes()


@pytest.fixture
def review_db(db_url: str, tmp_path: Path) -> Iterator[tuple[Database, dict[str, bytes]]]:
    database = Database(db_url)
    audio = {rid: write_wav(tmp_path / f"{rid}.wav", 0.5) for rid in ("R1", "R2")}
    seed(database, {rid: str(tmp_path / f"{rid}.wav") for rid in ("R1", "R2", "R3")})
    yield database, audio  # R3's file is missing
    database.dispose_sync()


@pytest.fixture
def make_rapi(
    make_api: Callable[..., Api], review_db: tuple[Database, dict[str, bytes]]
) -> Iterator[Callable[..., Api]]:
    """The conftest's API with the review routes added (and the document to match)."""
    from twisted.internet import reactor

    ports: list[Any] = []

    def make(settings: ReviewSettings | None = None) -> Api:
        base = make_api(database=review_db[0])
        parts = base.http.parts
        holder: list[HttpSite] = []

        def document(req: ApiRequest) -> dict[str, Any]:
            return holder[0].openapi()

        routes = [r for r in base.http.routes
                  if r.path != "/openapi.json" and not r.path.startswith("/review/")]  # fmt: skip
        routes += review_routes(parts, settings)
        routes.append(Route("GET", "/openapi.json", document, "This document (open)",
                            ("system",), role=None))  # fmt: skip
        http = HttpSite(parts, routes)
        holder.append(http)
        port = reactor.listenTCP(0, http.site, interface="127.0.0.1")
        ports.append(port)
        return Api(f"http://127.0.0.1:{port.getHost().port}", http, base.clock, base.control,
                   base.acd)  # fmt: skip

    yield make
    for port in ports:
        pytest_twisted.blockon(port.stopListening())


@pytest.fixture
def rapi(make_rapi: Callable[..., Api]) -> Api:
    return make_rapi()


def accesses(database: Database) -> list[tuple[str, str, str]]:
    a = RecordingAccessRow
    with Session(database.sync_engine) as session:
        rows = session.execute(select(a.recording_id, a.username, a.action).order_by(a.id))
        return [tuple(r) for r in rows]  # type: ignore[misc]


async def found(api: Api, query: str = "", user: str = "super") -> list[str]:
    answer = await api.call("GET", f"/review/recordings{query}", user=user)
    assert answer.status == 200, answer.raw
    return [r["id"] for r in answer.json["recordings"]]


@pytest_twisted.ensureDeferred
async def test_search_and_filters(rapi: Api) -> None:
    listed = await rapi.call("GET", "/review/recordings", user="super")
    assert listed.status == 200, listed.raw
    body = listed.json
    assert [r["id"] for r in body["recordings"]] == ["R2", "R1", "R3"]
    assert (body["count"], body["more"], body["tz"], body["from"]) == (3, False, "Asia/Seoul", None)
    r1 = body["recordings"][1]
    assert r1["started_at"] == "2026-12-01T18:00:00+09:00"  # the server's zone
    assert (r1["caller"], r1["outcome"], r1["dispositions"]) == ("01012345678", "answered",
                                                                 ["resolved"])  # fmt: skip
    assert (r1["evaluations"], r1["score_mean"], r1["duration_s"]) == (2, 85.5, 95.0)
    assert await found(rapi, "?agent_id=1001") == ["R1", "R3"]
    assert await found(rapi, "?queue=support") == ["R2"]
    assert await found(rapi, "?customer_id=cust-2") == ["R2"]
    assert await found(rapi, "?from=2026-12-01") == ["R2", "R1"]  # a day in Seoul
    assert await found(rapi, "?from=2026-11-30&to=2026-12-01") == ["R3"]
    assert await found(rapi, "?to=2026-12-01") == ["R3"]
    assert await found(rapi, "?min_duration=100") == ["R2"]
    assert await found(rapi, "?max_duration=95") == ["R1", "R3"]
    assert await found(rapi, "?outcome=answered") == ["R2", "R1"]
    assert await found(rapi, "?disposition=complaint") == ["R2"]
    assert await found(rapi, "?limit=1&offset=1") == ["R1"]
    for bad in ("?outcome=happy", "?from=yesterday", "?min_duration=10&max_duration=5",
                "?from=2026-12-02&to=2026-12-01", "?limit=0", "?min_duration=-1"):  # fmt: skip
        answer = await rapi.call("GET", f"/review/recordings{bad}", user="super")
        assert (answer.status, answer.error) == (400, "bad_query"), bad


@pytest_twisted.ensureDeferred
async def test_an_agent_sees_and_hears_only_its_own(rapi: Api) -> None:
    assert await found(rapi, user="1001") == ["R1", "R3"]
    assert await found(rapi, "?agent_id=1001", user="1001") == ["R1", "R3"]
    assert await found(rapi, user="1002") == ["R2"]
    for path in ("/review/recordings?agent_id=1002", "/review/recordings/R2",
                 "/review/recordings/R2/audio", "/review/recordings/R1/access"):  # fmt: skip
        refused = await rapi.call("GET", path, user="1001")
        assert (refused.status, refused.error) == (403, "forbidden"), path
    own = await rapi.call("GET", "/review/recordings/R1", user="1001")
    assert own.status == 200, own.raw
    assert (own.json["can_download"], own.json["can_evaluate"]) == (False, False)
    played = await rapi.call("GET", "/review/recordings/R1/audio", user="1001")
    assert played.status == 200 and played.raw[:4] == b"RIFF"
    assert (await rapi.call("GET", "/review/recordings")).status == 401


@pytest_twisted.ensureDeferred
async def test_details_timeline_and_the_view_log(
    rapi: Api, review_db: tuple[Database, dict[str, bytes]]
) -> None:
    answer = await rapi.call("GET", "/review/recordings/R1", user="super")
    assert answer.status == 200, answer.raw
    body = answer.json
    assert body["recording"]["id"] == "R1" and body["audio"] is True
    assert (body["can_download"], body["can_evaluate"]) == (True, True)
    timeline = [(e["kind"], e["offset"]) for e in body["timeline"]]
    assert timeline[:4] == [("call_started", -40.0), ("ivr_started", -39.0), ("ivr_ended", -25.0),
                            ("queued", -25.0)]  # fmt: skip
    assert ("answered", 0.0) in timeline and ("mark", 30.0) in timeline
    assert ("transferred", 60.0) in timeline and timeline[-1] == ("cleared", 95.0)
    ivr = body["timeline"][2]
    assert ivr["path"] == ["welcome", "menu", "auth"] and ivr["at"] == "2026-12-01T17:59:35+09:00"
    call = body["call"]
    assert (call["outcome"], call["holds"], call["hold_seconds"]) == ("answered", 1, 12.0)
    assert [d["disposition"] for d in body["dispositions"]] == ["resolved"]
    evaluations = body["evaluations"]
    assert (evaluations["n"], evaluations["mean"], evaluations["min"]) == (2, 85.5, 81.0)
    assert evaluations["mine"] is not None  # super evaluated it
    no_record = await rapi.call("GET", "/review/recordings/R3", user="super")
    assert no_record.json["call"] is None and no_record.json["timeline"] == []
    missing = await rapi.call("GET", "/review/recordings/R404", user="super")
    assert (missing.status, missing.error) == (404, "no_such_recording")
    assert accesses(review_db[0]) == [("R1", "super", "view"), ("R3", "super", "view")]


@pytest_twisted.ensureDeferred
async def test_audio_ranges_and_the_play_log(
    rapi: Api, review_db: tuple[Database, dict[str, bytes]]
) -> None:
    database, audio = review_db
    whole = await rapi.call("GET", "/review/recordings/R1/audio", user="super")
    assert whole.status == 200 and whole.raw == audio["R1"]
    assert whole.headers["Content-Type"] == "audio/wav"
    assert whole.headers["Accept-Ranges"] == "bytes"
    assert whole.headers["Content-Length"] == str(len(audio["R1"]))
    assert whole.headers["Content-Disposition"] == 'inline; filename="R1.wav"'
    first = await rapi.call("GET", "/review/recordings/R1/audio", user="super",
                            headers={"Range": "bytes=0-99"})  # fmt: skip
    assert first.status == 206 and first.raw == audio["R1"][:100]
    assert first.headers["Content-Range"] == f"bytes 0-99/{len(audio['R1'])}"
    seek = await rapi.call("GET", "/review/recordings/R1/audio", user="super",
                           headers={"Range": "bytes=1000-"})  # fmt: skip
    assert seek.status == 206 and seek.raw == audio["R1"][1000:]
    tail = await rapi.call("GET", "/review/recordings/R1/audio", user="super",
                           headers={"Range": "bytes=-44"})  # fmt: skip
    assert tail.status == 206 and tail.raw == audio["R1"][-44:]
    past = await rapi.call("GET", "/review/recordings/R1/audio", user="super",
                           headers={"Range": f"bytes={len(audio['R1'])}-"})  # fmt: skip
    assert (past.status, past.error) == (416, "range_not_satisfiable")
    assert past.headers["Content-Range"] == f"bytes */{len(audio['R1'])}"
    several = await rapi.call("GET", "/review/recordings/R1/audio", user="super",
                              headers={"Range": "bytes=0-1,5-9"})  # fmt: skip
    assert several.status == 200 and several.raw == audio["R1"]  # the whole file instead
    gone = await rapi.call("GET", "/review/recordings/R3/audio", user="super")
    assert (gone.status, gone.error) == (410, "gone")  # the file is missing
    deleted = await rapi.call("GET", "/review/recordings/DEL/audio", user="super")
    assert (deleted.status, deleted.error) == (410, "gone")
    # Plays are requests from the first byte; the seek and the tail are not new plays.
    assert accesses(database) == [("R1", "super", "play")] * 3


@pytest_twisted.ensureDeferred
async def test_downloads_per_role(
    make_rapi: Callable[..., Api], review_db: tuple[Database, dict[str, bytes]]
) -> None:
    database, audio = review_db
    rapi = make_rapi()
    refused = await rapi.call("GET", "/review/recordings/R1/audio?download=1", user="1001")
    assert (refused.status, refused.error) == (403, "forbidden")
    assert "agent role" in refused.json["detail"]
    got = await rapi.call("GET", "/review/recordings/R1/audio?download=1", user="super")
    assert got.status == 200 and got.raw == audio["R1"]
    assert got.headers["Content-Disposition"] == 'attachment; filename="R1.wav"'
    bad = await rapi.call("GET", "/review/recordings/R1/audio?download=yes", user="super")
    assert (bad.status, bad.error) == (400, "bad_query")
    log = await rapi.call("GET", "/review/recordings/R1/access", user="admin")
    assert log.status == 200, log.raw
    assert [(a["username"], a["action"]) for a in log.json["accesses"]] == [("super", "download")]
    assert log.json["accesses"][0]["at"] == "2026-11-30T15:00:00+09:00"

    admins_only = make_rapi(ReviewSettings(download_roles=["admin"]))
    refused = await admins_only.call("GET", "/review/recordings/R1/audio?download=1", user="super")
    assert (refused.status, refused.error) == (403, "forbidden")
    detail = await admins_only.call("GET", "/review/recordings/R1", user="super")
    assert detail.json["can_download"] is False
    played = await admins_only.call("GET", "/review/recordings/R1/audio", user="super")
    assert played.status == 200  # playing is still allowed
    assert [a for _, _, a in accesses(database)] == ["download", "view", "play"]


def fuzz(base: str, token: str) -> tuple[set[str], list[str]]:
    select = lambda schema: schema.include(path_regex=r"^/review/")  # noqa: E731
    return fuzz_api(base, token, select=select, max_examples=8)


@pytest_twisted.ensureDeferred
async def test_schemathesis_over_the_review_routes(rapi: Api) -> None:
    pytest.importorskip("schemathesis")
    token = await rapi.token("admin")
    operations, failures = await deferToThread(fuzz, rapi.base, token)
    assert not failures, "\n\n".join(failures)
    assert len(operations) == 4
