"""Login, logout, /me, token expiry and the login rate limit, over a live API."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import pytest_twisted

from cti_server.auth import LoginRateLimiter, RateLimitSettings
from tests.api.conftest import Api, FakeClock


@pytest_twisted.ensureDeferred
async def test_login_gives_a_token_its_expiry_and_the_user(api: Api) -> None:
    answer = await api.call("POST", "/auth/login", {"username": "1001", "password": "1001pass"})
    assert answer.status == 200, answer.raw
    body = answer.json
    assert len(body["token"]) >= 40 and body["expires_at"].endswith("Z")
    expires = datetime.fromisoformat(body["expires_at"].replace("Z", "+00:00"))
    assert expires.timestamp() == api.clock() + 3600
    assert body["user"] == {"username": "1001", "display_name": "김상담", "role": "agent",
                            "agent_id": "1001", "language": "ko"}  # fmt: skip
    me = await api.call("GET", "/me", token=body["token"])
    assert me.status == 200 and me.json == body["user"]
    assert answer.headers["Cache-Control"] == "no-store"


@pytest_twisted.ensureDeferred
async def test_wrong_password_and_unknown_user_answer_the_same_401(api: Api) -> None:
    wrong = await api.call("POST", "/auth/login", {"username": "1001", "password": "nope-nope"})
    unknown = await api.call("POST", "/auth/login", {"username": "ghost", "password": "x"})
    assert wrong.status == unknown.status == 401
    assert wrong.json == unknown.json and wrong.error == "unauthorized"
    assert "아이디" in wrong.json["detail"]  # Korean and English


@pytest_twisted.ensureDeferred
async def test_login_validation_names_the_field(api: Api) -> None:
    bad = await api.call("POST", "/auth/login", raw=b"{not json")
    assert (bad.status, bad.error) == (400, "bad_json")
    bad = await api.call("POST", "/auth/login", raw=b"[1, 2]")
    assert (bad.status, bad.error) == (400, "bad_json")
    bad = await api.call("POST", "/auth/login", {"password": "x"})
    assert (bad.status, bad.error) == (400, "bad_username") and "username" in bad.json["detail"]
    bad = await api.call("POST", "/auth/login", {"username": 1001, "password": "1001pass"})
    assert (bad.status, bad.error) == (400, "bad_username")  # strict: no number for a string
    bad = await api.call("POST", "/auth/login", {"username": "1001", "password": "x", "pin": 1})
    assert (bad.status, bad.error) == (400, "bad_body") and "pin" in bad.json["detail"]


@pytest_twisted.ensureDeferred
async def test_logout_ends_the_token(api: Api) -> None:
    token = await api.token("super")
    assert (await api.call("GET", "/agents", token=token)).status == 200
    out = await api.call("POST", "/auth/logout", token=token)
    assert out.status == 204 and out.raw == b""
    after = await api.call("GET", "/agents", token=token)
    assert (after.status, after.error) == (401, "unauthorized")
    assert after.headers["WWW-Authenticate"].startswith("Bearer")
    assert (await api.call("POST", "/auth/logout")).status == 401


@pytest_twisted.ensureDeferred
async def test_missing_garbage_and_expired_tokens_are_401(api: Api) -> None:
    for headers in ({}, {"Authorization": "Bearer nonsense"}, {"Authorization": "Basic eDp5"},
                    {"Authorization": "Bearer " + "x" * 500}):  # fmt: skip
        answer = await api.call("GET", "/me", headers=headers)
        assert (answer.status, answer.error) == (401, "unauthorized"), headers
    token = await api.token("1001")
    api.clock.advance(3599)
    assert (await api.call("GET", "/me", token=token)).status == 200
    api.clock.advance(1)  # the hour is up
    expired = await api.call("GET", "/me", token=token)
    assert (expired.status, expired.error) == (401, "unauthorized")
    assert "expired" in expired.json["detail"]


@pytest_twisted.ensureDeferred
async def test_five_failures_block_the_name_for_the_window(api: Api) -> None:
    for _ in range(5):
        answer = await api.call(
            "POST", "/auth/login", {"username": "1002", "password": "guess1234"}
        )
        assert answer.status == 401
    blocked = await api.call("POST", "/auth/login", {"username": "1002", "password": "1002pass"})
    assert (blocked.status, blocked.error) == (429, "too_many_attempts")
    assert blocked.headers["Retry-After"] == "300"
    other = await api.call("POST", "/auth/login", {"username": "1001", "password": "1001pass"})
    assert other.status == 200  # another name from the same address still may
    api.clock.advance(120)
    blocked = await api.call("POST", "/auth/login", {"username": "1002", "password": "1002pass"})
    assert blocked.status == 429 and blocked.headers["Retry-After"] == "180"
    api.clock.advance(180)
    answer = await api.call("POST", "/auth/login", {"username": "1002", "password": "1002pass"})
    assert answer.status == 200


@pytest_twisted.ensureDeferred
async def test_the_source_address_has_its_own_budget(make_api: Callable[..., Api]) -> None:
    limits = RateLimitSettings(max_failures=5, max_failures_per_address=3, window=60)
    api = make_api(clock=FakeClock(), limiter=LoginRateLimiter(limits))
    for name in ("a", "b", "c"):
        assert (
            await api.call("POST", "/auth/login", {"username": name, "password": "x"})
        ).status == 401
    blocked = await api.call("POST", "/auth/login", {"username": "1001", "password": "1001pass"})
    assert blocked.status == 429 and blocked.headers["Retry-After"] == "60"


@pytest_twisted.ensureDeferred
async def test_a_disabled_user_cannot_log_in(api: Api) -> None:
    users = api.http.parts.users
    token = await api.token("1002")
    users.set_disabled("1002")  # type: ignore[attr-defined]
    try:
        answer = await api.call("POST", "/auth/login", {"username": "1002", "password": "1002pass"})
        assert answer.status == 401
        gone = await api.call("GET", "/me", token=token)  # /me reads the user again
        assert gone.status == 401
    finally:
        users.set_disabled("1002", False)  # type: ignore[attr-defined]
