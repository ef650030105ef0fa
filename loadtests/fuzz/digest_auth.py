"""Fuzz target ``digest``: Digest credentials (RFC 7616/8760/2617) as a server receives them.

One input is the value of an Authorization header, decoded as the SIP parser decodes it
(UTF-8, surrogateescape). ``parse_authorization`` must return credentials or None, and
``authenticate`` (nonce check, response check, nonce-count replay table) must return one of
its outcomes: none of them may raise. The seeds carry nonces this harness's ``NonceFactory``
issued and correct responses, so mutations start from credentials that pass.
"""

from __future__ import annotations

import hashlib

import atheris

from loadtests.fuzz.common import fuzz_main, sip_fixtures, tricky_tokens

with atheris.instrument_imports(include=["cti_server"]):
    from cti_server.sip.digest import NonceFactory, authenticate, ha1, parse_authorization

REALM = "cti.local"
SECRET = b"fuzz-secret"
NOW = 1_000_000.0
OUTCOMES = {"ok", "stale", "invalid_nonce", "wrong", "replay"}
DICTIONARY = [
    t.encode()
    for t in (
        "Digest ", "username=", "realm=", "nonce=", "uri=", "response=", "qop=", "auth",
        "auth-int", "nc=", "cnonce=", "algorithm=", "MD5", "SHA-256", "MD5-sess",
        "SHA-256-sess", "opaque=", "stale=true", '"', '\\"', ",", "=", " ", "00000001",
        "ffffffff",
    )
] + tricky_tokens()  # fmt: skip


def test_one_input(data: bytes) -> None:
    creds = parse_authorization(data.decode("utf-8", "surrogateescape"))
    if creds is None:
        return
    nonces = NonceFactory(SECRET, 300.0, max_tracked=4)
    for method in ("REGISTER", "INVITE"):
        for now in (NOW, NOW + 1000.0):
            stored = _stored_ha1(creds.algorithm, creds.username)
            outcome = authenticate(
                nonces, creds, method, stored, now, realm=REALM, entity_body=b"v=0\r\n"
            )
            if outcome not in OUTCOMES:
                raise AssertionError(f"unknown outcome {outcome!r}")


def _stored_ha1(algorithm: str, username: str) -> str:
    name = "SHA-256" if algorithm.upper().startswith("SHA-256") else "MD5"
    return ha1(username, REALM, "secret", name)


def _credentials(algorithm: str, qop: str | None, uri: str = "sip:cti.local") -> bytes:
    """A correct Authorization value for user 1001, password "secret" (RFC 7616 §3.4)."""
    nonce = NonceFactory(SECRET, 300.0).issue(NOW, "abc123")
    hash_name = "sha256" if algorithm.upper().startswith("SHA-256") else "md5"

    def h(*parts: str) -> str:
        return hashlib.new(hash_name, ":".join(parts).encode()).hexdigest()

    key = h("1001", REALM, "secret")
    if algorithm.upper().endswith("-SESS"):
        key = h(key, nonce, "c0ffee")
    if qop is None:
        response = h(key, nonce, h("REGISTER", uri))
        extra = ""
    else:
        ha2 = h("REGISTER", uri) if qop == "auth" else h("REGISTER", uri, h("v=0\r\n"))
        response = h(key, nonce, "00000001", "c0ffee", qop, ha2)
        extra = f', qop={qop}, nc=00000001, cnonce="c0ffee"'
    return (
        f'Digest username="1001", realm="{REALM}", nonce="{nonce}", uri="{uri}", '
        f'response="{response}", algorithm={algorithm}{extra}'
    ).encode()


def seeds() -> list[bytes]:
    out = [
        _credentials(algorithm, qop)
        for algorithm in ("MD5", "SHA-256", "MD5-sess", "SHA-256-sess")
        for qop in (None, "auth", "auth-int")
    ]
    out.append(_credentials("MD5", None, "sip:cti.local;transport=UDP"))  # pyVoIP's uri
    for message in sip_fixtures():
        for line in message.split(b"\n"):
            name, _, value = line.partition(b":")
            if name.strip().lower() in (b"authorization", b"proxy-authorization"):
                out.append(value.strip())
    return out


def main() -> None:
    fuzz_main("digest", test_one_input, seeds(), max_len=2048, dictionary=DICTIONARY)


if __name__ == "__main__":
    main()
