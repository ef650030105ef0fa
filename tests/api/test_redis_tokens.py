"""Tokens in the real Redis: a token issued by one node works on another, logout ends it
everywhere, the TTL follows the session, and a Redis outage answers 503."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator

import pytest
import pytest_twisted

from cti_server.api.router import ApiError
from cti_server.api.tokens import RedisTokens
from cti_server.auth import Principal, Role, TokenIssuer, token_key
from tests.api.conftest import Api, FakeClock
from tests.state.conftest import delete_prefix_sync, random_prefix, redis_problem, redis_url

AGENT = Principal("1001", Role.AGENT, "1001")


@pytest.fixture
def prefix() -> Iterator[str]:
    if redis_problem():
        pytest.skip(redis_problem())
    value = random_prefix()
    yield value
    delete_prefix_sync(redis_url(), value)


@pytest.fixture
def nodes(prefix: str) -> Iterator[tuple[FakeClock, RedisTokens, RedisTokens]]:
    clock = FakeClock()
    made = [RedisTokens.from_url(redis_url(), TokenIssuer(random.Random(i).randbytes, ttl=600),
                                 clock, prefix) for i in (1, 2)]  # fmt: skip
    yield clock, made[0], made[1]
    for tokens in made:
        pytest_twisted.blockon(tokens.close())


@pytest_twisted.ensureDeferred
async def test_a_token_from_one_node_works_on_the_other_until_logout(
    nodes: tuple[FakeClock, RedisTokens, RedisTokens], prefix: str
) -> None:
    _, a, b = nodes
    issued = await a.issue(AGENT)
    assert await b.lookup(issued.token) == AGENT
    ttl = await _ttl(a, f"{prefix}auth:token:{token_key(issued.token)}")
    assert 595 <= ttl <= 600
    await b.revoke(issued.token)
    assert await a.lookup(issued.token) is None
    assert await a.lookup("never-issued") is None


@pytest_twisted.ensureDeferred
async def test_an_expired_session_is_refused_even_if_redis_still_has_it(
    nodes: tuple[FakeClock, RedisTokens, RedisTokens],
) -> None:
    clock, a, b = nodes
    issued = await a.issue(AGENT)
    clock.advance(600)  # the fake clock runs ahead of Redis's own TTL
    assert await b.lookup(issued.token) is None


@pytest_twisted.ensureDeferred
async def test_redis_down_is_503() -> None:
    from tests.e2e.conftest import free_port

    dead = RedisTokens.from_url(
        f"redis://127.0.0.1:{free_port()}/0", TokenIssuer(random.Random(1).randbytes), FakeClock()
    )
    try:
        with pytest.raises(ApiError) as caught:
            await dead.lookup("token")
        assert caught.value.status == 503 and caught.value.code == "unavailable"
    finally:
        await dead.close()


@pytest_twisted.ensureDeferred
async def test_two_api_nodes_share_logins(make_api: Callable[..., Api], prefix: str) -> None:
    clock = FakeClock()
    shared = [RedisTokens.from_url(redis_url(), TokenIssuer(random.Random(i).randbytes, 600),
                                   clock, prefix) for i in (1, 2)]  # fmt: skip
    try:
        a, b = make_api(clock=clock, tokens=shared[0]), make_api(clock=clock, tokens=shared[1])
        token = await a.token("super")
        assert (await b.call("GET", "/agents", token=token)).status == 200
        assert (await b.call("POST", "/auth/logout", token=token)).status == 204
        assert (await a.call("GET", "/agents", token=token)).status == 401
    finally:
        for tokens in shared:
            await tokens.close()


async def _ttl(tokens: RedisTokens, key: str) -> int:
    from cti_server.storage.bridge import run_in_loop

    return int(await run_in_loop(tokens._client.ttl(key)))
