"""Evaluations over a live API on SQLite and PostgreSQL: forms, a supervisor scoring a
recording (and correcting it), calibration across supervisors, what an agent may see and
answer, bad answers named in a 400, and schemathesis over these routes.

The routes are added to the conftest's API here, as ``site.api_routes`` will once it lists
``evaluation_routes``."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import pytest_twisted
from twisted.internet.threads import deferToThread

from cti_server.api.evaluations import evaluation_routes
from cti_server.api.router import ApiRequest, Route
from cti_server.api.site import HttpSite
from cti_server.qa.form_loader import load_forms
from cti_server.storage.db import Database
from cti_server.storage.users import UserRepo
from tests.api.conftest import CHEAP, Answer, Api
from tests.api.fuzzing import fuzz_api
from tests.storage.test_evaluations import add_recording

pytestmark = pytest.mark.timeout(120)

FORM = load_forms()["standard_call"]
LEAD = ("lead", "leadpass-1234")  # a supervisor who also takes calls as agent 1003
GOOD: dict[str, Any] = {
    qid: (q.max if q.type == "scale" else "yes") for qid, (_, q) in FORM.questions.items()
}


@pytest.fixture
def qa_db(db_url: str, users_db: Database) -> Iterator[Database]:
    users = UserRepo(users_db, cost=CHEAP)
    if users.get(LEAD[0]) is None:
        users.add(LEAD[0], LEAD[1], role="supervisor", agent_id="1003", display_name="최팀장")
    database = Database(db_url)
    for rid, agent in (("R1", "1001"), ("R2", "1002"), ("R3", "1003"), ("IVR", None)):
        add_recording(database, rid, agent)
    add_recording(database, "VM", "1001", kind="voice_message")
    yield database
    database.dispose_sync()


@pytest.fixture
def qapi(make_api: Callable[..., Api], qa_db: Database) -> Iterator[Api]:
    """The conftest's API with the evaluation routes added (and the document to match)."""
    from twisted.internet import reactor

    base = make_api(database=qa_db)
    parts = base.http.parts
    holder: list[HttpSite] = []

    def document(req: ApiRequest) -> dict[str, Any]:
        return holder[0].openapi()

    routes = [r for r in base.http.routes if r.path != "/openapi.json"]
    if not any(r.path == "/qa/forms" for r in routes):  # until site.api_routes lists them
        routes += evaluation_routes(parts)
    routes.append(Route("GET", "/openapi.json", document, "This document (open)", ("system",),
                        role=None))  # fmt: skip
    http = HttpSite(parts, routes)
    holder.append(http)
    port = reactor.listenTCP(0, http.site, interface="127.0.0.1")
    yield Api(f"http://127.0.0.1:{port.getHost().port}", http, base.clock, base.control,
              base.acd)  # fmt: skip
    pytest_twisted.blockon(port.stopListening())


async def login(api: Api, username: str, password: str) -> None:
    answer = await api.call("POST", "/auth/login", {"username": username, "password": password})
    assert answer.status == 200, answer.raw
    api.tokens[username] = answer.json["token"]


async def evaluate(api: Api, rid: str, user: str = "super", **changes: Any) -> Answer:
    comment = changes.pop("comment", None)
    body = {"form": changes.pop("form", "standard_call"), "answers": GOOD | changes}
    if comment is not None:
        body["comment"] = comment
    return await api.call("POST", f"/recordings/{rid}/evaluations", body, user=user)


@pytest_twisted.ensureDeferred
async def test_forms(qapi: Api) -> None:
    listed = await qapi.call("GET", "/qa/forms", user="1001")
    assert listed.status == 200
    assert listed.json["forms"] == [{
        "name": "standard_call", "title": {"ko": "표준 통화 품질 평가",
        "en": "Standard call quality evaluation"}, "version": FORM.version, "sections": 6,
        "questions": len(FORM.questions),
    }]  # fmt: skip
    whole = await qapi.call("GET", "/qa/forms/standard_call", user="1001")
    assert whole.status == 200 and whole.json["version"] == FORM.version
    accuracy = whole.json["sections"][3]
    assert accuracy["id"] == "accuracy" and accuracy["questions"][0]["critical"] is True
    missing = await qapi.call("GET", "/qa/forms/nosuch", user="1001")
    assert (missing.status, missing.error) == (404, "no_such_form")


@pytest_twisted.ensureDeferred
async def test_supervisor_scores_and_corrects(qapi: Api) -> None:
    made = await evaluate(qapi, "R1", greeting_tone=3, comment="인사 목소리를 더 밝게")
    assert made.status == 200, made.raw
    body = made.json
    assert body["created"] is True
    assert (body["score"], body["critical_failed"], body["agent_id"]) == (98.0, False, "1001")
    assert (body["evaluator"], body["call_id"], body["form_current"]) == ("super", "call-R1", True)
    assert body["sections"][0] == {"id": "greeting", "weight": 10.0, "score": 80.0}
    assert body["comment"] == "인사 목소리를 더 밝게"
    assert body["created_at"] == "2026-11-30T15:00:00+09:00"  # the server's zone

    qapi.clock.advance(60)
    fixed = await evaluate(qapi, "R1", compliance_pin="no")
    assert fixed.status == 200 and fixed.json["created"] is False
    assert fixed.json["id"] == body["id"]
    assert (fixed.json["score"], fixed.json["critical_failed"]) == (0.0, True)
    assert fixed.json["failed_critical"] == ["compliance_pin"]
    assert fixed.json["before_critical"] == 95.0  # compliance lost a third of its 15
    assert fixed.json["comment"] is None
    assert fixed.json["updated_at"] == "2026-11-30T15:01:00+09:00"


@pytest_twisted.ensureDeferred
async def test_calibration_across_supervisors(qapi: Api) -> None:
    await login(qapi, *LEAD)
    assert (await evaluate(qapi, "R1")).status == 200
    # empathy 3 of 5 at weight 2 of 5: listening 84, 16 % of its 20 points lost
    assert (await evaluate(qapi, "R1", user="admin", listening_empathy=3)).status == 200
    assert (await evaluate(qapi, "R1", user="lead", accuracy_correct="no")).status == 200
    seen = await qapi.call("GET", "/recordings/R1/evaluations", user="super")
    assert seen.status == 200, seen.raw
    assert [e["evaluator"] for e in seen.json["evaluations"]] == ["super", "admin", "lead"]
    assert seen.json["recording"]["agent_id"] == "1001"
    [cal] = seen.json["calibration"]
    assert cal["form"] == "standard_call" and cal["n"] == 3
    assert cal["scores"] == {"super": 100.0, "admin": 96.8, "lead": 0.0}
    assert (cal["min"], cal["max"], cal["range"], cal["mean"]) == (0.0, 100.0, 100.0, 65.6)
    assert cal["critical_split"] is True
    assert cal["disagreements"] == ["accuracy_correct", "listening_empathy"]


@pytest_twisted.ensureDeferred
async def test_agents_cannot_score_and_see_their_own_only(qapi: Api) -> None:
    refused = await evaluate(qapi, "R1", user="1001")
    assert (refused.status, refused.error) == (403, "forbidden")
    assert (await evaluate(qapi, "R1")).status == 200
    assert (await evaluate(qapi, "R2")).status == 200

    own = await qapi.call("GET", "/recordings/R1/evaluations", user="1001")
    assert own.status == 200 and own.json["calibration"] is None
    assert [e["evaluator"] for e in own.json["evaluations"]] == ["super"]  # names kept
    other = await qapi.call("GET", "/recordings/R2/evaluations", user="1001")
    assert (other.status, other.error) == (403, "forbidden")

    mine = await qapi.call("GET", "/evaluations", user="1001")
    assert mine.status == 200, mine.raw
    assert [e["recording_id"] for e in mine.json["evaluations"]] == ["R1"]
    assert mine.json["agent_id"] == "1001" and mine.json["summary"]["n"] == 1
    assert mine.json["from"] == "2026-11-01T00:00:00+09:00"  # this month by default
    theirs = await qapi.call("GET", "/evaluations?agent_id=1002", user="1001")
    assert (theirs.status, theirs.error) == (403, "forbidden")
    every = await qapi.call("GET", "/evaluations", user="super")
    assert {e["agent_id"] for e in every.json["evaluations"]} == {"1001", "1002"}
    summary = every.json["summary"]
    assert (summary["n"], summary["mean"], summary["critical_failed"]) == (2, 100.0, 0)
    one_agent = await qapi.call("GET", "/evaluations?agent_id=1002&from=2026-11-30", user="super")
    assert [e["recording_id"] for e in one_agent.json["evaluations"]] == ["R2"]
    earlier = await qapi.call("GET", "/evaluations?from=2026-10&to=2026-11", user="super")
    assert earlier.json["evaluations"] == [] and earlier.json["summary"]["mean"] is None
    bad = await qapi.call("GET", "/evaluations?from=yesterday", user="super")
    assert (bad.status, bad.error) == (400, "bad_query")

    by_recording = {e["recording_id"]: e["id"] for e in every.json["evaluations"]}
    hidden = await qapi.call("GET", f"/evaluations/{by_recording['R2']}", user="1001")
    assert (hidden.status, hidden.error) == (404, "no_such_evaluation")  # not even a hint
    shown = await qapi.call("GET", f"/evaluations/{by_recording['R1']}", user="1001")
    assert shown.status == 200 and shown.json["recording_id"] == "R1"


@pytest_twisted.ensureDeferred
async def test_only_the_evaluated_agent_comments(qapi: Api) -> None:
    made = await evaluate(qapi, "R1")
    path = f"/evaluations/{made.json['id']}/comment"
    reply = {"comment": "녹취 확인했습니다. 개선하겠습니다."}
    for user in ("1002", "super", "admin"):
        refused = await qapi.call("POST", path, reply, user=user)
        assert (refused.status, refused.error) == (403, "forbidden"), user
    done = await qapi.call("POST", path, reply, user="1001")
    assert done.status == 200, done.raw
    assert done.json["agent_comment"] == reply["comment"]
    assert done.json["agent_commented_at"] == "2026-11-30T15:00:00+09:00"
    seen = await qapi.call("GET", f"/evaluations/{made.json['id']}", user="super")
    assert seen.json["agent_comment"] == reply["comment"]
    for bad_id in ("99999", "abc", "0", "99999999999999"):
        missing = await qapi.call("POST", f"/evaluations/{bad_id}/comment", reply, user="1001")
        assert (missing.status, missing.error) == (404, "no_such_evaluation"), bad_id
    too_long = await qapi.call("POST", path, {"comment": "가" * 4001}, user="1001")
    assert (too_long.status, too_long.error) == (400, "bad_comment")


@pytest_twisted.ensureDeferred
async def test_bad_answers_are_400_naming_the_question(qapi: Api) -> None:
    answers = dict(GOOD)
    del answers["closing_standard"]
    body = {"form": "standard_call", "answers": answers}
    missing = await qapi.call("POST", "/recordings/R1/evaluations", body, user="super")
    assert (missing.status, missing.error) == (400, "bad_answers")
    assert missing.json["detail"] == "answers.closing_standard: not answered"
    out_of_scale = await evaluate(qapi, "R1", greeting_tone=6, greeting_standard="na")
    assert out_of_scale.error == "bad_answers"
    assert "answers.greeting_standard: cannot be n/a" in out_of_scale.json["detail"]
    assert (
        "answers.greeting_tone: 6 is not an answer: an integer 0..5" in out_of_scale.json["detail"]
    )
    unknown = await evaluate(qapi, "R1", smiled="yes")
    assert "answers.smiled: no such question in form standard_call" in unknown.json["detail"]
    boolean = await evaluate(qapi, "R1", closing_standard=True)
    assert (boolean.status, boolean.error) == (400, "bad_answers")
    no_form = await evaluate(qapi, "R1", form="nosuch")
    assert (no_form.status, no_form.error) == (400, "bad_form")
    seen = await qapi.call("GET", "/recordings/R1/evaluations", user="super")
    assert seen.json["evaluations"] == []  # nothing stored


@pytest_twisted.ensureDeferred
async def test_what_cannot_be_evaluated(qapi: Api) -> None:
    await login(qapi, *LEAD)
    own = await evaluate(qapi, "R3", user="lead")
    assert (own.status, own.error) == (403, "forbidden") and "own call" in own.json["detail"]
    assert (await evaluate(qapi, "R1", user="lead")).status == 200
    message = await evaluate(qapi, "VM")
    assert (message.status, message.error) == (409, "not_evaluable")
    nobody = await evaluate(qapi, "IVR")
    assert (nobody.status, nobody.error) == (409, "not_evaluable")
    missing = await evaluate(qapi, "R404")
    assert (missing.status, missing.error) == (404, "no_such_recording")
    missing = await qapi.call("GET", "/recordings/R404/evaluations", user="super")
    assert (missing.status, missing.error) == (404, "no_such_recording")
    anonymous = await qapi.call("GET", "/qa/forms")
    assert anonymous.status == 401


def fuzz(base: str, token: str) -> tuple[set[str], list[str]]:
    paths = r"^/(qa/|evaluations|recordings/\{recording_id\}/eval)"
    return fuzz_api(base, token, select=lambda s: s.include(path_regex=paths), max_examples=8)


@pytest_twisted.ensureDeferred
async def test_schemathesis_over_the_evaluation_routes(qapi: Api) -> None:
    pytest.importorskip("schemathesis")
    assert (await evaluate(qapi, "R1")).status == 200
    token = await qapi.token("admin")
    operations, failures = await deferToThread(fuzz, qapi.base, token)
    assert not failures, "\n\n".join(failures)
    assert len(operations) == 7
