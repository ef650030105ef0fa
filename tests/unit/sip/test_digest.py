"""Digest authentication: RFC 7616 vectors, pyVoIP's RFC 2617 variant, nonces and replays."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable

import pytest

from cti_server.sip.digest import (
    DigestCredentials,
    NonceFactory,
    authenticate,
    challenges,
    ha1,
    parse_authorization,
    verify,
)

# RFC 7616 §3.9.1: the Authorization headers of the example, as printed (folded lines).
RFC7616_SHA256 = """Digest username="Mufasa",
       realm="http-auth@example.org",
       uri="/dir/index.html",
       algorithm=SHA-256,
       nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
       nc=00000001,
       cnonce="f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
       qop=auth,
       response="753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1",
       opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\""""

RFC7616_MD5 = """Digest username="Mufasa",
       realm="http-auth@example.org",
       uri="/dir/index.html",
       algorithm=MD5,
       nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
       nc=00000001,
       cnonce="f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
       qop=auth,
       response="8ca523f5e9506fed4657c9700eebdbec",
       opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\""""

REALM = "http-auth@example.org"


@pytest.mark.parametrize(
    ("header", "algorithm"), [(RFC7616_SHA256, "SHA-256"), (RFC7616_MD5, "MD5")]
)
def test_rfc7616_example(header: str, algorithm: str) -> None:
    creds = parse_authorization(header)
    assert creds is not None
    assert creds.username == "Mufasa" and creds.realm == REALM and creds.uri == "/dir/index.html"
    assert creds.algorithm == algorithm and creds.qop == "auth" and creds.nc == "00000001"
    assert creds.opaque == "FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"
    stored = ha1("Mufasa", REALM, "Circle of Life", algorithm)
    assert verify(creds, "GET", stored)
    assert not verify(creds, "POST", stored)
    assert not verify(creds, "GET", ha1("Mufasa", REALM, "Circle of life", algorithm))


def test_ha1_values() -> None:
    expected = hashlib.md5(b"Mufasa:http-auth@example.org:Circle of Life").hexdigest()
    assert ha1("Mufasa", REALM, "Circle of Life") == expected
    assert len(ha1("Mufasa", REALM, "Circle of Life", "SHA-256")) == 64
    with pytest.raises(ValueError, match="unsupported"):
        ha1("a", "b", "c", "SHA-1")


def test_md5_ha1_does_not_verify_a_sha256_response() -> None:
    creds = parse_authorization(RFC7616_SHA256)
    assert creds is not None
    assert not verify(creds, "GET", ha1("Mufasa", REALM, "Circle of Life", "MD5"))


def test_parse_tolerates_case_spacing_and_escapes() -> None:
    creds = parse_authorization(
        'digest  UserName = "a\\"b" ,REALM=r,  Nonce="n", URI="sip:x",Response="ABC" ,'
        " QOP=Auth , NC=00000002, cnonce=c, extra=1"
    )
    assert creds == DigestCredentials(
        username='a"b',
        realm="r",
        nonce="n",
        uri="sip:x",
        response="ABC",
        qop="auth",
        nc="00000002",
        cnonce="c",
        params={
            "username": 'a"b',
            "realm": "r",
            "nonce": "n",
            "uri": "sip:x",
            "response": "ABC",
            "qop": "Auth",
            "nc": "00000002",
            "cnonce": "c",
            "extra": "1",
        },
    )


@pytest.mark.parametrize(
    "value",
    [
        "Basic dXNlcjpwYXNz",
        'Digest realm="r", nonce="n", uri="u", response="x"',  # no username
        'Digest username="a, realm="r", nonce="n", uri="u", response="x',  # unterminated
        "Digest username",
        "",
    ],
)
def test_parse_rejects(value: str) -> None:
    assert parse_authorization(value) is None


def _response(fn: str, *parts: str) -> str:
    return hashlib.new(fn, ":".join(parts).encode()).hexdigest()


def test_sess_and_auth_int_variants() -> None:
    key = ha1("bob", "cti", "pw", "SHA-256")
    sess_key = _response("sha256", key, "N", "C")
    ha2 = _response("sha256", "REGISTER", "sip:cti")
    creds = DigestCredentials(
        "bob", "cti", "N", "sip:cti",
        _response("sha256", sess_key, "N", "00000001", "C", "auth", ha2),
        algorithm="SHA-256-sess", qop="auth", nc="00000001", cnonce="C",
    )  # fmt: skip
    assert verify(creds, "REGISTER", key)
    body = b"v=0\r\n"
    ha2_int = _response("md5", "INVITE", "sip:cti", hashlib.md5(body).hexdigest())
    md5_key = ha1("bob", "cti", "pw")
    creds_int = DigestCredentials(
        "bob", "cti", "N", "sip:cti",
        _response("md5", md5_key, "N", "00000001", "C", "auth-int", ha2_int),
        qop="auth-int", nc="00000001", cnonce="C",
    )  # fmt: skip
    assert verify(creds_int, "INVITE", md5_key, entity_body=body)
    assert not verify(creds_int, "INVITE", md5_key, entity_body=b"v=1\r\n")


def test_qop_without_nc_or_unknown_algorithm_fails() -> None:
    creds = parse_authorization(RFC7616_MD5.replace("nc=00000001,", ""))
    assert creds is not None and not verify(creds, "GET", ha1("Mufasa", REALM, "Circle of Life"))
    odd = parse_authorization(RFC7616_MD5.replace("algorithm=MD5", "algorithm=SHA-1"))
    assert odd is not None and not verify(odd, "GET", ha1("Mufasa", REALM, "Circle of Life"))


# ---------------------------------------------------------------- challenges and pyVoIP


def test_challenges_sha256_first() -> None:
    values = challenges("cti.local", "abc", opaque="op")
    assert values == [
        'Digest realm="cti.local", nonce="abc", opaque="op", qop="auth", algorithm=SHA-256',
        'Digest realm="cti.local", nonce="abc", opaque="op", qop="auth", algorithm=MD5',
    ]
    assert all("stale=true" in v for v in challenges("r", "n", stale=True))


def _pyvoip_register_after(challenge_values: list[str]) -> str:
    """Feed our 401 to pyVoIP 1.6.8 and return the Authorization value it answers with."""
    import pyVoIP.VoIP  # noqa: F401  (pyVoIP.SIP imports cleanly only after pyVoIP.VoIP)
    from pyVoIP.SIP import SIPClient, SIPMessage

    lines = [
        "SIP/2.0 401 Unauthorized",
        "Via: SIP/2.0/UDP 192.168.1.20:5062;branch=z9hG4bKabc;rport",
        'From: "alice" <sip:alice@192.168.1.10>;tag=t1',
        'To: "alice" <sip:alice@192.168.1.10>;tag=t2',
        "Call-ID: reg-1",
        "CSeq: 1 REGISTER",
        *[f"WWW-Authenticate: {v}" for v in challenge_values],
        "Content-Length: 0",
    ]
    message = SIPMessage(("\r\n".join(lines) + "\r\n\r\n").encode())
    client = SIPClient(
        "192.168.1.10", 5060, "alice", "secret", None, myIP="192.168.1.20", myPort=5062
    )
    register = client.gen_register(message)
    match = re.search(r"^Authorization: (.*)$", register, re.MULTILINE)
    assert match is not None
    return match.group(1).rstrip("\r")


def test_pyvoip_rfc2617_md5_without_qop_verifies() -> None:
    nonces = NonceFactory(b"k" * 32, 300.0)
    nonce = nonces.issue(1000.0, "0123abcd")
    header = _pyvoip_register_after(challenges("cti.local", nonce))
    creds = parse_authorization(header)
    assert creds is not None
    # pyVoIP: no qop/nc/cnonce, and uri is not the Request-URI (sip:192.168.1.10).
    assert creds.qop is None and creds.nc is None and creds.cnonce is None
    assert creds.uri == "sip:192.168.1.10;transport=UDP" and creds.algorithm == "MD5"
    stored = ha1("alice", "cti.local", "secret", "MD5")
    assert verify(creds, "REGISTER", stored)
    assert not verify(creds, "REGISTER", ha1("alice", "cti.local", "wrong", "MD5"))
    assert authenticate(nonces, creds, "REGISTER", stored, 1010.0, realm="cti.local") == "ok"
    # No nc to track: the same response is accepted while the nonce is fresh ...
    assert authenticate(nonces, creds, "REGISTER", stored, 1020.0, realm="cti.local") == "ok"
    # ... and is stale afterwards.
    assert authenticate(nonces, creds, "REGISTER", stored, 1301.0, realm="cti.local") == "stale"


# ---------------------------------------------------------------- nonces


def test_nonce_lifecycle() -> None:
    nonces = NonceFactory(b"secret", 30.0)
    nonce = nonces.issue(100.5, "feed")
    assert re.fullmatch(r"[0-9a-f]+\.feed\.[A-Za-z0-9_-]{43}", nonce)
    assert nonces.check(nonce, 100.5) == "ok"
    assert nonces.check(nonce, 130.0) == "ok"
    assert nonces.check(nonce, 130.5) == "stale"
    assert NonceFactory(b"other", 30.0).check(nonce, 101.0) == "invalid"


@pytest.mark.parametrize(
    "mutate",
    [
        lambda n: n[:-1] + ("A" if n[-1] != "A" else "B"),  # MAC
        lambda n: "ff" + n,  # timestamp pushed forward
        lambda n: n.replace(".feed.", ".beef."),  # random part
        lambda n: n.replace(".", "", 1),
        lambda n: "zz" + n[n.index(".") :],
        lambda n: "",
    ],
)
def test_tampered_nonce_is_invalid(mutate: Callable[[str], str]) -> None:
    nonces = NonceFactory(b"secret", 30.0)
    nonce = nonces.issue(100.0, "feed")
    assert nonces.check(mutate(nonce), 101.0) == "invalid"


def test_issue_rejects_unsafe_random_part() -> None:
    nonces = NonceFactory(b"secret", 30.0)
    for bad in ("", "a.b", 'a"b', "a,b"):
        with pytest.raises(ValueError):
            nonces.issue(1.0, bad)
    with pytest.raises(ValueError):
        NonceFactory(b"", 30.0)


def _qop_creds(nonce: str, nc: str, password: str = "pw") -> DigestCredentials:
    key = ha1("bob", "cti", password)
    ha2 = _response("md5", "REGISTER", "sip:cti")
    return DigestCredentials(
        "bob", "cti", nonce, "sip:cti",
        _response("md5", key, nonce, nc, "C", "auth", ha2),
        qop="auth", nc=nc, cnonce="C",
    )  # fmt: skip


def test_nc_replay_is_rejected_and_forgeries_do_not_advance_it() -> None:
    nonces = NonceFactory(b"secret", 60.0)
    nonce = nonces.issue(0.0, "1")
    key = ha1("bob", "cti", "pw")

    def run(creds: DigestCredentials, now: float) -> str:
        return authenticate(nonces, creds, "REGISTER", key, now, realm="cti")

    assert run(_qop_creds(nonce, "00000001"), 1.0) == "ok"
    assert run(_qop_creds(nonce, "00000001"), 2.0) == "replay"
    # A wrong password with a high nc must not lock the real client out of nc=2.
    assert run(_qop_creds(nonce, "000000ff", password="guess"), 3.0) == "wrong"
    assert run(_qop_creds(nonce, "00000002"), 4.0) == "ok"
    assert run(_qop_creds(nonce, "00000002"), 5.0) == "replay"
    assert run(_qop_creds(nonce + "x", "00000003"), 6.0) == "invalid_nonce"
    assert run(_qop_creds(nonce, "00000003"), 61.0) == "stale"
    other_realm = authenticate(nonces, _qop_creds(nonce, "00000009"), "REGISTER", key, 7.0,
                               realm="elsewhere")  # fmt: skip
    assert other_realm == "wrong"


def test_malformed_nc_is_a_replay() -> None:
    nonces = NonceFactory(b"secret", 60.0)
    assert not nonces.record_nc("n", "1", 0.0)
    assert not nonces.record_nc("n", "0000000g", 0.0)
    assert nonces.record_nc("n", "0000000A", 0.0)


def test_nc_table_is_bounded_and_forgets_expired_nonces() -> None:
    nonces = NonceFactory(b"secret", 60.0, max_tracked=3)
    for i in range(5):
        assert nonces.record_nc(f"n{i}", "00000001", float(i))
    assert nonces.tracked() == 3
    assert nonces.record_nc("n0", "00000001", 5.0)  # evicted, so seen as new
    assert nonces.tracked() == 3
    nonces.record_nc("late", "00000001", 100.0)
    assert nonces.tracked() == 1  # the others are older than a nonce lifetime
