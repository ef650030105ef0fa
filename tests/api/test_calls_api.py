"""The desktop's call panel over a live API: calls, screen pop, call control, per role."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import pytest_twisted

from tests.api.conftest import Api

CONTROL = [("hangup", None), ("hold", None), ("unhold", None),
           ("transfer", {"kind": "queue", "target": "support"})]  # fmt: skip


@pytest_twisted.ensureDeferred
async def test_an_agent_lists_its_own_and_offered_calls(api: Api) -> None:
    mine = await api.call("GET", "/calls", user="1001")
    assert mine.status == 200
    assert sorted(c["id"] for c in mine.json["calls"]) == ["C1", "C3"]  # C3 rings 1001
    everyone = await api.call("GET", "/calls", user="super")
    assert sorted(c["id"] for c in everyone.json["calls"]) == ["C1", "C2", "C3"]
    c1 = next(c for c in mine.json["calls"] if c["id"] == "C1")
    assert (c1["state"], c1["caller"], c1["callee"], c1["agent_id"]) == (
        "connected", "01012345678", "1588", "1001")  # fmt: skip
    assert c1["started_at"].endswith("Z") and c1["answered_at"].endswith("Z")
    assert c1["on_hold"] is False and "screen_pop" not in c1
    assert (await api.call("GET", "/calls")).status == 401


@pytest_twisted.ensureDeferred
async def test_call_detail_has_the_screen_pop_in_the_contracts_shape(api: Api) -> None:
    answer = await api.call("GET", "/calls/C1", user="1001")
    assert answer.status == 200, answer.raw
    pop = answer.json["screen_pop"]
    assert pop["customer"]["name"] == "김민준" and pop["customer"]["grade"] == "gold"
    assert pop["customer"]["id"] == "cust-1" and pop["customer"]["vip"] is True
    assert pop["history"][0]["summary"] == "배송 지연"
    assert pop["payment_method"]["label"] == "신한카드 ****1234"
    assert pop["frequent_products"][0]["name"] == "생수" and pop["auth_method"] == "pin"
    assert answer.json["script"] == {"name": "sales", "start": "greet"}
    queued = await api.call("GET", "/calls/C3", user="1001")
    assert queued.status == 200 and queued.json["screen_pop"] is None
    other = await api.call("GET", "/calls/C2", user="1001")
    assert (other.status, other.error) == (403, "forbidden")
    gone = await api.call("GET", "/calls/nope", user="super")
    assert (gone.status, gone.error) == (404, "no_such_call")


@pytest.mark.parametrize(("action", "body"), CONTROL)
@pytest_twisted.ensureDeferred
async def test_call_control_on_own_calls_only(api: Api, action: str, body: object) -> None:
    if action == "unhold":
        api.control.held.add("C1")
    done = await api.call("POST", f"/calls/C1/{action}", body, user="1001")
    assert (done.status, done.json) == (200, {"ok": True})
    refused = await api.call("POST", f"/calls/C2/{action}", body, user="1001")
    assert (refused.status, refused.error) == (403, "forbidden")
    missing = await api.call("POST", f"/calls/C9/{action}", body, user="1002")
    assert (missing.status, missing.error) == (404, "no_such_call")
    by_supervisor = await api.call("POST", f"/calls/C2/{action}", body, user="super")
    assert by_supervisor.status in (200, 409)
    assert (await api.call("POST", f"/calls/C1/{action}", body)).status == 401


@pytest_twisted.ensureDeferred
async def test_control_errors_keep_their_status(api: Api) -> None:
    assert (await api.call("POST", "/calls/C1/hold", user="1001")).status == 200
    again = await api.call("POST", "/calls/C1/hold", user="1001")
    assert (again.status, again.error) == (409, "wrong_state")
    bad = await api.call("POST", "/calls/C1/transfer", {"kind": "fax", "target": "1"}, user="1001")
    assert (bad.status, bad.error) == (400, "bad_kind")
    bad = await api.call("POST", "/calls/C1/transfer", {"kind": "queue"}, user="1001")
    assert (bad.status, bad.error) == (400, "bad_target")
    no_queue = await api.call(
        "POST", "/calls/C1/transfer", {"kind": "queue", "target": "nosuch"}, user="1001"
    )
    assert (no_queue.status, no_queue.error) == (404, "no_such_queue")
    assert ("transfer", "C1", "queue", "nosuch") not in api.control.done


@pytest_twisted.ensureDeferred
async def test_click_to_call(api: Api) -> None:
    placed = await api.call("POST", "/calls/dial", {"number": "01055556666"}, user="1001")
    assert (placed.status, placed.json) == (201, {"call_id": "C-dial-1"})
    assert api.control.done[-1] == ("dial", "1001", "01055556666", None, "1001")
    bad = await api.call("POST", "/calls/dial", {"number": "call me"}, user="1001")
    assert (bad.status, bad.error) == (400, "bad_number")
    theirs = await api.call(
        "POST", "/calls/dial", {"number": "0101", "agent_id": "1002"}, user="1001"
    )
    assert (theirs.status, theirs.error) == (403, "forbidden")
    nobody = await api.call("POST", "/calls/dial", {"number": "0101"}, user="super")
    assert (nobody.status, nobody.error) == (400, "bad_agent_id")
    for_agent = await api.call(
        "POST", "/calls/dial", {"number": "0101", "agent_id": "1002", "customer_id": "c"},
        user="super",
    )  # fmt: skip
    assert for_agent.status == 201 and api.control.done[-1][1:4] == ("1002", "0101", "c")


@pytest_twisted.ensureDeferred
async def test_disposition_after_the_call(api: Api) -> None:
    body = {
        "disposition": "resolved",
        "notes": "배송 안내",
        "script_answers": {"q1": "yes", "n": 2},
    }
    done = await api.call("POST", "/calls/C-old/disposition", body, user="1002")
    assert (done.status, done.json) == (200, {"ok": True})
    assert api.control.done[-1] == ("disposition", "C-old", "resolved", "배송 안내",
                                    {"q1": "yes", "n": 2})  # fmt: skip
    refused = await api.call("POST", "/calls/C-old/disposition", body, user="1001")
    assert (refused.status, refused.error) == (403, "forbidden")  # the control's check
    live = await api.call("POST", "/calls/C2/disposition", body, user="1001")
    assert (live.status, live.error) == (403, "forbidden")  # the router's check
    bad = await api.call("POST", "/calls/C1/disposition", {"disposition": ""}, user="1001")
    assert (bad.status, bad.error) == (400, "bad_disposition")
    bad = await api.call(
        "POST", "/calls/C1/disposition", {"disposition": "x", "script_answers": {"q": [1]}},
        user="1001",
    )  # fmt: skip
    assert (bad.status, bad.error) == (400, "bad_script_answers")


@pytest_twisted.ensureDeferred
async def test_without_call_control_the_routes_answer_503(make_api: Callable[..., Api]) -> None:
    api = make_api(call_control=None)
    for path, body in (("/calls/C1/hangup", None), ("/calls/dial", {"number": "0101"}),
                       ("/calls/C1/disposition", {"disposition": "x"})):  # fmt: skip
        answer = await api.call("POST", path, body, user="1001")
        assert (answer.status, answer.json) == (
            503, {"error": "unavailable", "detail": answer.json["detail"]})  # fmt: skip
    detail = await api.call("GET", "/calls/C1", user="1001")
    assert detail.status == 200 and detail.json["script"] is None


@pytest_twisted.ensureDeferred
async def test_recording_control_without_recording_is_503_and_checks_ownership(
    api: Api,
) -> None:
    off = await api.call("POST", "/calls/C1/recording", {"action": "pause"}, user="1001")
    assert (off.status, off.error) == (503, "unavailable")
    theirs = await api.call("POST", "/calls/C2/recording", {"action": "pause"}, user="1001")
    assert theirs.status == 403
    bad = await api.call("POST", "/calls/C1/recording", {"action": "explode"}, user="1001")
    assert (bad.status, bad.error) == (400, "bad_action")
