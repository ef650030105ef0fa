"""Digest access control: an unknown user is answered exactly like a real one.

svwar compares the answer for a random name with the answers for candidate extensions; a
smarter scanner compares headers and lock-out behaviour too. Each test puts a real account
and a missing one through the same requests and compares what comes back.
"""

from __future__ import annotations

import hashlib

from cti_server.sip.access import AccessControl, AccessVerdict
from cti_server.sip.accounts import Account, AccountBook
from cti_server.sip.auth_guard import AuthGuard
from cti_server.sip.digest import NonceFactory, ha1
from cti_server.sip.message import SipRequest
from cti_server.sip.parser import parse_message

REALM = "cti.local"
SERVER_LIST = ("SHA-256", "MD5")


def account(user: str, password: str, algorithms: tuple[str, ...] | None = None) -> Account:
    return Account(
        user,
        ha1(user, REALM, password, "MD5"),
        ha1(user, REALM, password, "SHA-256"),
        algorithms=algorithms,
    )


NONCES = NonceFactory(b"s" * 32, 300.0)
NONCE = NONCES.issue(0.0, "abc")  # a nonce this server issued


def access(*accounts: Account, max_failures: int = 5) -> AccessControl:
    return AccessControl(
        accounts=AccountBook(list(accounts)),
        guard=AuthGuard(max_failures=max_failures, window=60.0, cooldown=300.0),
        nonces=NONCES,
        realm=REALM,
        algorithms=SERVER_LIST,
    )


def register(user: str, authorization: str | None = None) -> SipRequest:
    auth = f"Authorization: {authorization}\r\n" if authorization else ""
    message = parse_message(
        (
            "REGISTER sip:cti.local SIP/2.0\r\n"
            "Via: SIP/2.0/UDP 203.0.113.9:5060;branch=z9hG4bK-1;rport\r\n"
            f"From: <sip:{user}@cti.local>;tag=a\r\nTo: <sip:{user}@cti.local>\r\n"
            f"Call-ID: r-{user}\r\nCSeq: 1 REGISTER\r\n{auth}Content-Length: 0\r\n\r\n"
        ).encode()
    )
    assert isinstance(message, SipRequest)
    return message


def digest(user: str, nonce: str, response: str = "0" * 32) -> str:
    return (
        f'Digest username="{user}", realm="{REALM}", nonce="{nonce}", uri="sip:cti.local", '
        f'response="{response}", algorithm=MD5'
    )


def shape(verdict: AccessVerdict) -> tuple[int, list[str]]:
    """What a scanner can compare: the status and the challenges without their nonces."""
    return verdict.status, [v.split("nonce=")[0] + v.split('",', 2)[-1] for _, v in verdict.headers]


def test_no_credentials_real_and_missing_users_get_the_same_challenge() -> None:
    control = access(account("1001", "pw"), account("1002", "pw"))
    known = shape(control.check(register("1001"), "203.0.113.9", 0.0, "n1"))
    missing = shape(control.check(register("4711"), "203.0.113.9", 0.0, "n2"))
    assert known == missing
    assert known[0] == 401 and len(known[1]) == 2


def test_a_missing_user_gets_one_of_the_lists_accounts_use_stably_and_in_proportion() -> None:
    # Half the accounts narrow the list to MD5 (old phones): an unknown name must look like
    # either kind, at about the same odds, and the same on every ask.
    control = access(
        account("1001", "pw", ("MD5",)),
        account("1002", "pw"),
        account("1003", "pw", ("MD5",)),
        account("1004", "pw"),
    )
    real = {
        tuple(shape(control.check(register(u), "203.0.113.9", 0.0, "n"))[1])
        for u in ("1001", "1002")
    }
    assert len(real) == 2
    seen: list[tuple[str, ...]] = []
    for n in range(400):
        name = f"9{n:03d}"
        first = tuple(shape(control.check(register(name), "203.0.113.9", 0.0, "n"))[1])
        again = tuple(shape(control.check(register(name), "198.51.100.1", 1.0, "m"))[1])
        assert first == again
        seen.append(first)
    assert set(seen) == real
    md5_only = sum(1 for s in seen if len(s) == 1)
    assert 140 < md5_only < 260  # about half


def test_bad_nonces_cost_nothing_for_real_and_missing_users_alike() -> None:
    control = access(account("1001", "pw"), max_failures=3)
    for user in ("1001", "4711"):
        for _ in range(10):
            verdict = control.check(
                register(user, digest(user, "not-a-nonce")), "203.0.113.9", 0.0, "n"
            )
            assert verdict.status == 401 and not verdict.events
    assert control.failures == 0


def test_wrong_answers_lock_real_and_missing_users_after_the_same_count() -> None:
    for user in ("1001", "4711"):
        control = access(account("1001", "pw"), max_failures=3)
        statuses = [
            control.check(register(user, digest(user, NONCE)), "203.0.113.9", 0.0, "n").status
            for _ in range(4)
        ]
        assert statuses == [401, 401, 403, 403], user
        assert control.lockouts == 2  # the source and the user name


def test_the_right_password_still_works_and_locked_sources_fall_silent() -> None:
    control = access(account("1001", "pw"), max_failures=2)
    ha2 = hashlib.md5(b"REGISTER:sip:cti.local").hexdigest()
    good = hashlib.md5(f"{ha1('1001', REALM, 'pw', 'MD5')}:{NONCE}:{ha2}".encode()).hexdigest()
    verdict = control.check(register("1001", digest("1001", NONCE, good)), "192.0.2.1", 0.0, "n")
    assert verdict.user == "1001"
    for _ in range(2):
        control.check(register("1002", digest("1002", NONCE)), "203.0.113.9", 0.0, "n")
    assert [control.silent("203.0.113.9", 1.0) for _ in range(4)] == [False] * 3 + [True]
    assert not control.silent("192.0.2.1", 1.0)
