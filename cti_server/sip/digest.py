"""Server side of HTTP Digest for SIP (RFC 7616, RFC 8760, RFC 2617, RFC 3261 §22).

Theory of operation: accounts store HA1 per algorithm (``H(user:realm:password)``), never a
password. A 401 carries one challenge per algorithm, SHA-256 first (RFC 8760 §2.4); clients
pick the first they support, and pyVoIP, which reads the last one, gets MD5. Nonces are
stateless: ``timestamp.random.HMAC(secret, timestamp.random)``, so any node sharing the
secret can check one and no table grows with challenges sent. A nonce past its lifetime
with a valid MAC is "stale" (the client retries with ``stale=true`` without asking the user);
a bad MAC is "invalid". With qop=auth the nonce-count must increase (RFC 7616 §3.4.5); a
bounded table of the highest nc seen per nonce catches replays. RFC 2617 clients without
qop (pyVoIP) have no nc, so such a nonce is accepted for as long as it is fresh.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

NonceStatus = Literal["ok", "stale", "invalid"]
AuthOutcome = Literal["ok", "stale", "invalid_nonce", "wrong", "replay"]

_HASHES: dict[str, Callable[[bytes], str]] = {
    "MD5": lambda data: hashlib.md5(data).hexdigest(),
    "SHA-256": lambda data: hashlib.sha256(data).hexdigest(),
}


def _hash_for(algorithm: str) -> tuple[Callable[[bytes], str], bool] | None:
    """The hash function for an algorithm token and whether it is a "-sess" variant."""
    name = algorithm.upper()
    sess = name.endswith("-SESS")
    fn = _HASHES.get(name.removesuffix("-SESS"))
    return None if fn is None else (fn, sess)


def _h(fn: Callable[[bytes], str], *parts: str) -> str:
    # The parser decodes bytes that are not UTF-8 with surrogateescape; hashing must see the
    # octets the client sent (RFC 7616 §3.4), not fail on them.
    return fn(":".join(parts).encode("utf-8", "surrogateescape"))


def ha1(username: str, realm: str, password: str, algorithm: str = "MD5") -> str:
    """The value an account stores (RFC 7616 §3.4.2); "-sess" is applied per request."""
    found = _hash_for(algorithm)
    if found is None:
        raise ValueError(f"unsupported digest algorithm {algorithm!r}")
    return _h(found[0], username, realm, password)


def challenges(
    realm: str, nonce: str, *, stale: bool = False, opaque: str | None = None
) -> list[str]:
    """WWW-Authenticate values, strongest first (RFC 8760 §2.4)."""
    base = f'Digest realm="{_quote(realm)}", nonce="{_quote(nonce)}"'
    if opaque is not None:
        base += f', opaque="{_quote(opaque)}"'
    base += ', qop="auth"'
    if stale:
        base += ", stale=true"
    return [f"{base}, algorithm=SHA-256", f"{base}, algorithm=MD5"]


def _quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


# ---------------------------------------------------------------- nonces


class NonceFactory:
    """Issues and checks self-authenticating, expiring nonces; tracks nc for replays."""

    def __init__(self, secret: bytes, lifetime: float, *, max_tracked: int = 10_000) -> None:
        if not secret:
            raise ValueError("nonce secret must not be empty")
        self._secret = secret
        self._lifetime = lifetime
        self._max_tracked = max_tracked
        self._highest_nc: OrderedDict[str, tuple[int, float]] = OrderedDict()

    def _mac(self, stamp: str, random_part: str) -> str:
        digest = hmac.new(self._secret, f"{stamp}.{random_part}".encode(), hashlib.sha256)
        return base64.urlsafe_b64encode(digest.digest()).rstrip(b"=").decode("ascii")

    def issue(self, now: float, random_part: str) -> str:
        # Alphanumeric keeps the nonce a safe token inside quotes for every client parser.
        if not random_part or not random_part.isalnum() or not random_part.isascii():
            raise ValueError("random_part must be a non-empty ASCII alphanumeric string")
        stamp = f"{int(now):x}"
        return f"{stamp}.{random_part}.{self._mac(stamp, random_part)}"

    def check(self, nonce: str, now: float) -> NonceStatus:
        parts = nonce.split(".")
        if (
            not nonce.isascii()
            or len(parts) != 3
            or not 0 < len(parts[0]) <= 16
            or len(nonce) > 256
        ):
            return "invalid"
        stamp, random_part, mac = parts
        if not all(c in "0123456789abcdef" for c in stamp):
            return "invalid"
        if not hmac.compare_digest(mac.encode(), self._mac(stamp, random_part).encode()):
            return "invalid"
        return "stale" if now - int(stamp, 16) > self._lifetime else "ok"

    def record_nc(self, nonce: str, nc: str | None, now: float) -> bool:
        """Accept a verified request's nonce-count; False means a replay.

        Called only after the response verified, so a forged request cannot push the count
        up and lock the real client out. ``nc=None`` is an RFC 2617 client without qop.
        """
        if nc is None:
            return True
        if len(nc) != 8 or not all(c in "0123456789abcdefABCDEF" for c in nc):
            return False  # RFC 7616 §3.4: exactly 8 hex digits
        count = int(nc, 16)
        previous = self._highest_nc.get(nonce)
        if previous is not None and count <= previous[0]:
            return False
        self._highest_nc[nonce] = (count, now)
        self._highest_nc.move_to_end(nonce)
        self._prune(now)
        return True

    def _prune(self, now: float) -> None:
        # Entries are in last-use order; an entry unused for a lifetime has a stale nonce.
        while self._highest_nc:
            oldest_nonce, (_, used_at) = next(iter(self._highest_nc.items()))
            if len(self._highest_nc) <= self._max_tracked and now - used_at <= self._lifetime:
                break
            del self._highest_nc[oldest_nonce]

    def tracked(self) -> int:
        return len(self._highest_nc)


# ---------------------------------------------------------------- Authorization


@dataclass(frozen=True, slots=True)
class DigestCredentials:
    username: str
    realm: str
    nonce: str
    uri: str
    response: str
    algorithm: str = "MD5"
    qop: str | None = None
    nc: str | None = None
    cnonce: str | None = None
    opaque: str | None = None
    params: dict[str, str] = field(default_factory=dict)


_REQUIRED = ("username", "realm", "nonce", "uri", "response")


def parse_authorization(value: str) -> DigestCredentials | None:
    """Parse an Authorization/Proxy-Authorization value; None if it is not usable Digest."""
    scheme, _, rest = value.strip().partition(" ")
    if scheme.lower() != "digest":
        return None
    params = _parse_auth_params(rest)
    if params is None or any(name not in params for name in _REQUIRED):
        return None
    return DigestCredentials(
        username=params["username"],
        realm=params["realm"],
        nonce=params["nonce"],
        uri=params["uri"],
        response=params["response"],
        algorithm=params.get("algorithm", "MD5"),  # RFC 7616 §3.4: absent means MD5
        qop=params["qop"].lower() if "qop" in params else None,
        nc=params.get("nc"),
        cnonce=params.get("cnonce"),
        opaque=params.get("opaque"),
        params=params,
    )


def _parse_auth_params(text: str) -> dict[str, str] | None:
    """``name = token | quoted-string`` pairs separated by commas (RFC 7235 §2.1)."""
    params: dict[str, str] = {}
    i, n = 0, len(text)
    while i < n:
        while i < n and text[i] in " \t\r\n,":
            i += 1
        if i >= n:
            break
        eq = text.find("=", i)
        if eq < 0:
            return None
        name = text[i:eq].strip().lower()
        if not name or any(c in name for c in ' \t",'):
            return None
        i = eq + 1
        while i < n and text[i] in " \t\r\n":
            i += 1
        if i < n and text[i] == '"':
            chars: list[str] = []
            i += 1
            while i < n and text[i] != '"':
                if text[i] == "\\" and i + 1 < n:
                    i += 1
                chars.append(text[i])
                i += 1
            if i >= n:
                return None  # unterminated quoted-string
            i += 1
            param = "".join(chars)
        else:
            end = i
            while end < n and text[end] not in ", \t\r\n":
                end += 1
            param = text[i:end]
            i = end
        params.setdefault(name, param)
    return params


def verify(creds: DigestCredentials, method: str, ha1: str, *, entity_body: bytes = b"") -> bool:
    """Check ``creds.response`` for a request, given the stored HA1 for creds.algorithm.

    HA2 uses ``creds.uri`` as the client sent it (RFC 7616 §3.4.3 "digest-uri"), not the
    Request-URI: pyVoIP sends ``uri=sip:server;transport=UDP`` on a bare Request-URI.
    """
    found = _hash_for(creds.algorithm)
    if found is None:
        return False
    fn, sess = found
    key = ha1.lower()
    if sess:
        if creds.cnonce is None:
            return False
        key = _h(fn, key, creds.nonce, creds.cnonce)  # RFC 7616 §3.4.2
    if creds.qop is None:
        # RFC 2617 §3.2.2.1 compatibility with RFC 2069 clients: no nc, no cnonce.
        expected = _h(fn, key, creds.nonce, _h(fn, method, creds.uri))
    elif creds.qop in ("auth", "auth-int") and creds.nc is not None and creds.cnonce is not None:
        if creds.qop == "auth":
            ha2 = _h(fn, method, creds.uri)
        else:
            ha2 = _h(fn, method, creds.uri, fn(entity_body))
        expected = _h(fn, key, creds.nonce, creds.nc, creds.cnonce, creds.qop, ha2)
    else:
        return False
    response = creds.response.lower().encode("utf-8", "surrogateescape")
    return hmac.compare_digest(expected.encode(), response)


def authenticate(
    nonces: NonceFactory,
    creds: DigestCredentials,
    method: str,
    ha1: str,
    now: float,
    *,
    realm: str,
    entity_body: bytes = b"",
) -> AuthOutcome:
    """The endpoint's one call: nonce freshness, realm, response, then nc replay.

    "stale" is reported only for a correct response (RFC 7616 §3.3: stale means the
    credentials were right), so a wrong password on an old nonce counts as "wrong".
    """
    status = nonces.check(creds.nonce, now)
    if status == "invalid":
        return "invalid_nonce"
    if creds.realm != realm or not verify(creds, method, ha1, entity_body=entity_body):
        return "wrong"
    if status == "stale":
        return "stale"
    return "ok" if nonces.record_nc(creds.nonce, creds.nc, now) else "replay"
