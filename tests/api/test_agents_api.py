"""Agents, queues, the wallboard and flow reloads over a live API, per role."""

from __future__ import annotations

from collections.abc import Callable

import pytest_twisted

from tests.api.conftest import Api


@pytest_twisted.ensureDeferred
async def test_an_agent_sees_and_changes_only_itself(api: Api) -> None:
    mine = await api.call("GET", "/agents", user="1001")
    assert mine.status == 200 and [a["id"] for a in mine.json["agents"]] == ["1001"]
    row = mine.json["agents"][0]
    assert row["state"] == "logged_out" and row["since"].endswith("Z") and row["handled"] == 0
    assert (await api.call("GET", "/agents/1001", user="1001")).status == 200
    other = await api.call("GET", "/agents/1002", user="1001")
    assert (other.status, other.error) == (403, "forbidden")
    login = await api.call("POST", "/agents/1001/state", {"state": "logged_in"}, user="1001")
    assert login.status == 200 and login.json["state"] == "not_ready", login.json
    ready = await api.call("POST", "/agents/1001/state", {"state": "ready"}, user="1001")
    assert (ready.status, ready.json["state"], ready.json["by"]) == (200, "ready", "")
    forced = await api.call("POST", "/agents/1002/state", {"state": "logged_in"}, user="1001")
    assert (forced.status, forced.error) == (403, "forbidden")
    assert (await api.call("GET", "/agents")).status == 401


@pytest_twisted.ensureDeferred
async def test_a_supervisor_sees_everyone_and_forces_states(api: Api) -> None:
    everyone = await api.call("GET", "/agents", user="super")
    assert [a["id"] for a in everyone.json["agents"]] == ["1001", "1002"]
    await api.call("POST", "/agents/1002/state", {"state": "logged_in"}, user="1002")
    away = await api.call(
        "POST", "/agents/1002/state", {"state": "away", "reason": "외근"}, user="super"
    )
    assert away.status == 200, away.json
    assert (away.json["state"], away.json["reason"], away.json["by"]) == ("away", "외근", "super")
    missing = await api.call("POST", "/agents/9999/state", {"state": "ready"}, user="super")
    assert (missing.status, missing.error) == (404, "no_such_agent")
    assert (await api.call("GET", "/agents/9999", user="admin")).status == 404


@pytest_twisted.ensureDeferred
async def test_state_changes_are_validated_and_checked_against_the_state_table(
    api: Api,
) -> None:
    bad = await api.call("POST", "/agents/1001/state", {"state": "sleeping"}, user="1001")
    assert (bad.status, bad.error) == (400, "bad_state") and "state" in bad.json["detail"]
    bad = await api.call("POST", "/agents/1001/state", raw=b'{"state": ', user="1001")
    assert (bad.status, bad.error) == (400, "bad_json")
    bad = await api.call("POST", "/agents/1001/state", {"state": "ready", "by": "x"}, user="1001")
    assert (bad.status, bad.error) == (400, "bad_body")
    bad = await api.call(
        "POST", "/agents/1001/state", {"state": "not_ready", "reason": "r" * 65}, user="1001"
    )
    assert (bad.status, bad.error) == (400, "bad_reason")
    illegal = await api.call("POST", "/agents/1001/state", {"state": "ready"}, user="1001")
    assert (illegal.status, illegal.error) == (409, "wrong_state")  # logged out: log in first
    assert "logged_out" in illegal.json["detail"]


@pytest_twisted.ensureDeferred
async def test_supervisors_log_agents_out(api: Api) -> None:
    await api.call("POST", "/agents/1001/state", {"state": "logged_in"}, user="1001")
    refused = await api.call("POST", "/agents/1001/logout", {}, user="1001")
    assert (refused.status, refused.error) == (403, "forbidden")
    out = await api.call("POST", "/agents/1001/logout", {"reason": "end_of_shift"}, user="super")
    assert out.status == 200 and (out.json["state"], out.json["by"]) == ("logged_out", "super")
    again = await api.call("POST", "/agents/1001/logout", user="super")  # no body is fine
    assert again.status in (200, 409)


@pytest_twisted.ensureDeferred
async def test_queues_for_everyone_logged_in(api: Api) -> None:
    await api.call("POST", "/agents/1002/state", {"state": "logged_in"}, user="1002")
    await api.call("POST", "/agents/1002/state", {"state": "ready"}, user="1002")
    answer = await api.call("GET", "/queues", user="1001")
    assert answer.status == 200
    sales, support = answer.json["queues"]
    assert (sales["name"], support["name"]) == ("sales", "support")
    assert support["agents_logged_in"] == support["logged_in"] == 1
    assert support["agents_ready"] == 1 and support["waiting"] == 0
    assert (await api.call("GET", "/queues")).status == 401


@pytest_twisted.ensureDeferred
async def test_wallboard_has_live_and_todays_figures(api: Api) -> None:
    assert (await api.call("GET", "/wallboard", user="1001")).status == 403
    await api.call("POST", "/agents/1001/state", {"state": "logged_in"}, user="1001")
    board = await api.call("GET", "/wallboard", user="super")
    assert board.status == 200, board.raw
    body = board.json
    sales = next(q for q in body["queues"] if q["name"] == "sales")
    # Today (2026-11-30 KST) in sales: a1 and a2 answered, a3 abandoned in 3 s.
    assert (sales["answered"], sales["abandoned"]) == (2, 1)
    assert sales["service_level"] == 0.5
    agents = {a["id"]: a for a in body["agents"]}
    assert agents["1001"]["handled_today"] == 1 and agents["1001"]["aht"] == 150.0
    assert agents["1002"]["handled_today"] == 1
    assert body["states"]["not_ready"] == 1 and body["states"]["logged_out"] == 1
    assert body["states"]["busy"] == 0 and body["at"].endswith("Z")


@pytest_twisted.ensureDeferred
async def test_flow_reload_is_for_admins(make_api: Callable[..., Api]) -> None:
    api = make_api()
    assert (await api.call("POST", "/flows/reload", user="super")).status == 403
    done = await api.call("POST", "/flows/reload", user="admin")
    assert (done.status, done.json) == (200, {"flows": ["main"]})
    broken = make_api(broken_flows=True)
    bad = await broken.call("POST", "/flows/reload", user="admin")
    assert (bad.status, bad.error) == (422, "bad_flow") and "main.yaml:3" in bad.json["detail"]


@pytest_twisted.ensureDeferred
async def test_a_standby_or_a_server_without_acd_answers_503(
    make_api: Callable[..., Api],
) -> None:
    api = make_api()
    api.acd.active = False
    standby = await api.call("POST", "/agents/1001/state", {"state": "logged_in"}, user="1001")
    assert (standby.status, standby.error) == (503, "standby")
    bare = make_api(acd=None, submit=None, reload_flows=None)
    for path in ("/agents", "/agents/1001", "/queues", "/wallboard"):
        answer = await bare.call("GET", path, user="super")
        assert (answer.status, answer.error) == (503, "unavailable"), path
    assert (await bare.call("POST", "/flows/reload", user="admin")).status == 503
