"""Tokens: random bytes from an injected source, stored by hash, expiring, revocable."""

from __future__ import annotations

import random

import pytest

from cti_server.auth import (
    MemoryTokenStore,
    Principal,
    Role,
    TokenIssuer,
    TokenSession,
    iso_utc,
    plausible,
    token_key,
)

AGENT = Principal("1001", Role.AGENT, "1001")


def issuer(ttl: float = 100.0) -> TokenIssuer:
    return TokenIssuer(random.Random(1).randbytes, ttl)


def test_tokens_are_random_url_safe_and_stored_by_hash() -> None:
    made = issuer()
    one, two = made.issue(AGENT, 1000.0), made.issue(AGENT, 1000.0)
    assert one.token != two.token and len(one.token) == 43  # 32 bytes, base64url, no '='
    assert plausible(one.token) and "=" not in one.token
    assert token_key(one.token) != one.token and len(token_key(one.token)) == 64
    assert one.session == TokenSession(AGENT, 1000.0, 1100.0)


def test_the_store_expires_and_revokes() -> None:
    store = MemoryTokenStore()
    issued = issuer().issue(AGENT, 1000.0)
    key = token_key(issued.token)
    store.put(key, issued.session)
    assert store.get(key, 1099.9) == issued.session
    assert store.get(key, 1100.0) is None and len(store) == 0  # gone at expiry
    store.put(key, issued.session)
    store.delete(key)
    assert store.get(key, 1000.0) is None
    store.put(key, issued.session)
    assert store.prune(2000.0) == 1 and len(store) == 0


def test_a_session_from_the_future_is_refused() -> None:
    session = TokenSession(AGENT, 1000.0, 1100.0)
    assert session.valid_at(950.0) and not session.valid_at(900.0)  # a minute of skew


def test_sessions_round_trip_as_json() -> None:
    session = TokenSession(Principal("super", Role.SUPERVISOR), 1.5, 2.5)
    assert TokenSession.from_json(session.to_json()) == session
    assert iso_utc(0.0) == "1970-01-01T00:00:00Z"


def test_a_short_random_source_is_refused() -> None:
    with pytest.raises(ValueError):
        TokenIssuer(lambda n: b"x" * 8).issue(AGENT, 0.0)
    with pytest.raises(ValueError):
        TokenIssuer(random.Random(1).randbytes, ttl=0)


def test_roles_are_ordered() -> None:
    admin = Principal("admin", Role.ADMIN)
    assert admin.at_least(Role.SUPERVISOR) and admin.supervises
    assert not AGENT.at_least(Role.SUPERVISOR) and AGENT.at_least(Role.AGENT)
    assert AGENT.may_act_for("1001") and not AGENT.may_act_for("1002")
    assert not Principal("x", Role.AGENT, None).may_act_for(None)
    assert admin.may_act_for("1002")
