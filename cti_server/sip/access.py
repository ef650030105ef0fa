"""Who may register and place calls: digest authentication and the failed-attempt lock-out.

A missing, stale or unknown-nonce credential is answered with a fresh challenge (no
penalty); a wrong response counts towards the per-source and per-user lock-out
(``AuthGuard``), after which the answer is 403 for the cool-down. Unknown users are
treated exactly like wrong passwords, so extensions cannot be enumerated by comparing
answers (svwar's method) or lock-out behaviour:

* an unknown user's response is checked against a secret dummy HA1, so a bad or stale nonce
  takes the same path (and about the same time) as for a real account: no penalty for a bad
  nonce, a failure for a wrong response, for both;
* accounts may narrow the challenge list (old phones read only the first challenge); an
  unknown user is given one of the lists the accounts use, picked by a keyed hash of the
  name, with the same odds as a real account has it. The pick is stable per name, so asking
  twice tells nothing either.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field

from cti_server.events import AuthenticationFailed, Event
from cti_server.sip.accounts import AccountBook
from cti_server.sip.auth_guard import AuthGuard
from cti_server.sip.digest import (
    DigestCredentials,
    NonceFactory,
    authenticate,
    challenges,
    parse_authorization,
)
from cti_server.sip.errors import SipParseError
from cti_server.sip.headers import parse_name_addr
from cti_server.sip.message import SipRequest

LOCKED_REASON = "Too many failed authentications"
LISTS_REFRESH = 60.0  # seconds between re-reading which challenge lists accounts use


@dataclass(slots=True)
class AccessVerdict:
    user: str | None  # the authenticated account, or None: answer with ``status``
    status: int = 0
    reason: str | None = None
    headers: list[tuple[str, str]] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    trunk: str | None = None  # set when the account is a gateway's trunk credential


class AccessControl:
    def __init__(
        self,
        *,
        accounts: AccountBook,
        guard: AuthGuard,
        nonces: NonceFactory,
        realm: str,
        algorithms: tuple[str, ...],
    ) -> None:
        self.accounts = accounts
        self._guard = guard
        self._nonces = nonces
        self._realm = realm
        self._algorithms = algorithms
        self.failures = 0
        # A secret only this server can compute: the MAC of a nonce it never issues
        # (timestamp 0), so no extra secret has to be configured or stored.
        self._key = nonces.issue(0.0, "unknownusers").encode()
        self._dummy_ha1 = hmac.new(self._key, b"ha1", hashlib.sha256).hexdigest()
        self._lists: tuple[tuple[str, ...], ...] = ()
        self._mixed = False  # accounts use more than one list
        self._lists_at = float("-inf")

    @property
    def lockouts(self) -> int:
        return self._guard.lockouts

    def silent(self, source_ip: str, now: float) -> bool:
        """Drop this request unanswered: its source is locked out and had its 403s."""
        return self._guard.silent(source_ip, now)

    def check(
        self, request: SipRequest, source_ip: str, now: float, nonce_seed: str
    ) -> AccessVerdict:
        creds = _credentials(request)
        if self._guard.is_locked(source_ip, creds.username if creds else None, now):
            return AccessVerdict(None, 403, LOCKED_REASON)
        if creds is None:
            return self._challenge(request, now, nonce_seed, stale=False)
        account = self.accounts.get(creds.username)
        ha1 = account.ha1(creds.algorithm) if account else None
        outcome = authenticate(
            self._nonces,
            creds,
            request.method,
            ha1 or self._dummy_ha1,  # same checks, same work, for users that do not exist
            now,
            realm=self._realm,
            entity_body=request.body,
        )
        if ha1 is None and outcome in ("ok", "stale", "replay"):
            outcome = "wrong"  # the dummy matched: a guess of a secret, still not a user
        if outcome == "ok" and account is not None:
            self._guard.record_success(source_ip, creds.username, now)
            return AccessVerdict(account.user, trunk=account.trunk)
        if outcome != "wrong":  # stale, unknown or replayed nonce: ask again, no penalty
            return self._challenge(request, now, nonce_seed, stale=outcome == "stale")
        self.failures += 1
        locked = self._guard.record_failure(source_ip, creds.username, now)
        event = AuthenticationFailed(at=now, user=creds.username, source=source_ip, locked=locked)
        if locked:
            return AccessVerdict(None, 403, LOCKED_REASON, events=[event])
        verdict = self._challenge(request, now, nonce_seed, stale=False)
        verdict.events.append(event)
        return verdict

    def _challenge(
        self, request: SipRequest, now: float, seed: str, *, stale: bool
    ) -> AccessVerdict:
        nonce = self._nonces.issue(now, seed)
        offered = {
            c.rsplit("algorithm=", 1)[-1]: c for c in challenges(self._realm, nonce, stale=stale)
        }
        headers = [
            ("WWW-Authenticate", offered[a])
            for a in self._algorithms_for(request, now)
            if a in offered
        ]
        return AccessVerdict(None, 401, headers=headers)

    def _algorithms_for(self, request: SipRequest, now: float) -> tuple[str, ...]:
        """The account's own challenge list (phones that read only the first challenge),
        else the server's; an unknown user gets one of the lists accounts use."""
        try:
            user = parse_name_addr(request.headers.get("From") or "", "From").uri.user
        except SipParseError:
            user = None
        account = self.accounts.get(user) if user else None
        if account is not None:
            return account.algorithms or self._algorithms
        lists = self._account_lists(now)
        if not self._mixed:
            return self._algorithms
        mac = hmac.new(self._key, (user or "").encode("utf-8", "replace"), hashlib.sha256)
        return lists[int.from_bytes(mac.digest()[:8], "big") % len(lists)]

    def _account_lists(self, now: float) -> tuple[tuple[str, ...], ...]:
        """Every account's challenge list, one entry per account (so the odds of each list
        match the accounts'); re-read now and then as accounts come and go."""
        if now - self._lists_at >= LISTS_REFRESH or now < self._lists_at:
            found = (self.accounts.get(u) for u in self.accounts.users())
            self._lists = tuple(a.algorithms or self._algorithms for a in found if a is not None)
            self._mixed = len(set(self._lists)) > 1
            self._lists_at = now
        return self._lists


def _credentials(request: SipRequest) -> DigestCredentials | None:
    for value in request.headers.get_all("Authorization"):
        creds = parse_authorization(value)
        if creds is not None:
            return creds
    return None
