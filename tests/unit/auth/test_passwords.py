"""Password hashes: scrypt with a per-user salt, self-describing, constant-time verified."""

from __future__ import annotations

import pytest

from cti_server.auth import (
    PasswordHashError,
    ScryptCost,
    check_hash_format,
    hash_password,
    needs_rehash,
    parse_hash,
    password_problem,
    verify_password,
)

CHEAP = ScryptCost(n=1024)
SALT = bytes(range(16))


def test_hash_and_verify() -> None:
    stored = hash_password("correct horse", SALT, CHEAP)
    assert stored.startswith("scrypt$1024$8$1$")
    assert verify_password("correct horse", stored)
    assert not verify_password("correct horsE", stored)
    assert not verify_password("", stored)


def test_the_salt_makes_equal_passwords_differ() -> None:
    other = hash_password("correct horse", bytes(16), CHEAP)
    assert other != hash_password("correct horse", SALT, CHEAP)
    with pytest.raises(ValueError, match="salt"):
        hash_password("x", b"short", CHEAP)


def test_korean_passwords() -> None:
    stored = hash_password("비밀번호1234", SALT, CHEAP)
    assert verify_password("비밀번호1234", stored) and not verify_password("비밀번호123", stored)


@pytest.mark.parametrize(
    "stored",
    [
        "",
        "bcrypt$x",
        "scrypt$1024$8$1$AAAA",  # too few parts
        "scrypt$1000$8$1$" + "A" * 24 + "$" + "A" * 44,  # n not a power of two
        "scrypt$2097152$8$1$" + "A" * 24 + "$" + "A" * 44,  # n above the bound
        "scrypt$1024$99$1$" + "A" * 24 + "$" + "A" * 44,
        "scrypt$1024$8$1$!!!!$" + "A" * 44,  # not base64
        "scrypt$1024$8$1$AAAA$" + "A" * 44,  # salt too short
        "scrypt$1024$8$1$" + "A" * 24 + "$AAAA",  # hash too short
    ],
)
def test_malformed_hashes_never_match_and_say_why(stored: str) -> None:
    assert not check_hash_format(stored)
    assert not verify_password("anything", stored)
    with pytest.raises(PasswordHashError):
        parse_hash(stored)


def test_needs_rehash_when_the_cost_changes() -> None:
    stored = hash_password("correct horse", SALT, CHEAP)
    assert not needs_rehash(stored, CHEAP)
    assert needs_rehash(stored, ScryptCost())
    assert needs_rehash("garbage", CHEAP)
    assert parse_hash(stored).cost == CHEAP


def test_password_policy_is_bilingual() -> None:
    assert password_problem("1001pass") is None
    problem = password_problem("short")
    assert problem is not None and "8" in problem and "비밀번호" in problem
    assert password_problem("x" * 257) is not None


def test_bad_costs_are_refused() -> None:
    with pytest.raises(PasswordHashError):
        ScryptCost(n=3)
    with pytest.raises(PasswordHashError):
        ScryptCost(p=0)
