"""Registrar bindings (RFC 3261 §10.3), in memory, with time passed in.

Theory of operation: ``update`` applies one authenticated REGISTER to an address-of-record
all or nothing (§10.3 step 8: commit only if every binding update succeeds), and returns the
status, the bindings to list in the 200 and the registered/unregistered transitions the
endpoint turns into agent events. Each binding remembers the transport address the REGISTER
came from: behind NAT (and with pyVoIP) the Contact URI is not reachable, the source is.
A binding whose Contact carries ``+sip.instance`` replaces an earlier one from the same
instance (RFC 5626 §6), so a phone that restarts on a new port does not pile up bindings.
Expiry is a lazy min-heap of deadlines; ``next_expiry``/``expire`` drive the endpoint timer.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field

from cti_server.sip.errors import SipParseError
from cti_server.sip.headers import SipUri, parse_cseq, parse_name_addr, split_list
from cti_server.sip.message import SipRequest
from cti_server.sip.peer import Peer

REGISTERED = "registered"  # the AOR went from no bindings to some
UNREGISTERED = "unregistered"  # the AOR lost its last binding


@dataclass(slots=True)
class Binding:
    aor: str
    contact: str
    expires_at: float
    call_id: str
    cseq: int
    q: float
    source: Peer
    updated_at: float
    instance: str | None = None
    reg_id: int | None = None

    def remaining(self, now: float) -> int:
        return max(0, int(self.expires_at - now + 0.5))


@dataclass(slots=True)
class RegisterResult:
    status: int
    bindings: list[Binding] = field(default_factory=list)
    events: list[str] = field(default_factory=list)
    min_expires: int | None = None  # set with 423: the Min-Expires header value
    reason: str = ""


def contact_response_values(bindings: list[Binding], now: float) -> list[str]:
    """Contact values for the 200 OK (RFC 3261 §10.3 step 8)."""
    return [f"<{b.contact}>;expires={b.remaining(now)}" for b in bindings]


def canonical_aor(to_value: str) -> str:
    """The AOR key from a To header value: scheme, user and host (RFC 3261 §10.3 step 5)."""
    uri = parse_name_addr(to_value, "To").uri
    scheme = "sip" if uri.scheme == "sips" else uri.scheme
    return f"{scheme}:{uri.user}@{uri.host}" if uri.user else f"{scheme}:{uri.host}"


def _uri_key(uri: SipUri) -> tuple[object, ...]:
    """RFC 3261 §19.1.4 equivalence, reduced to the parts that identify a phone's contact."""
    port = uri.port or (5061 if uri.scheme == "sips" else 5060)
    checked = tuple((p, (uri.params.get(p) or "").lower()) for p in ("transport", "user", "maddr"))
    return (uri.scheme, uri.user, uri.host.lower(), port, checked)


class _Failure(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(slots=True)
class _Contact:
    uri: str
    key: tuple[object, ...]
    expires: int
    q: float
    instance: str | None
    reg_id: int | None


class Registrar:
    def __init__(
        self,
        *,
        min_expires: int = 60,
        max_expires: int = 3600,
        default_expires: int = 3600,
        max_contacts: int = 10,
    ) -> None:
        self.min_expires = min_expires
        self.max_expires = max_expires
        self.default_expires = default_expires
        self.max_contacts = max_contacts
        self._bindings: dict[str, dict[tuple[object, ...], Binding]] = {}
        # (deadline, push counter, aor, key): the counter keeps keys from being compared.
        self._heap: list[tuple[float, int, str, tuple[object, ...]]] = []
        self._pushes = 0
        # Cluster: bindings other nodes hold (registrations kept in shared state), and the
        # AORs whose own bindings changed since the sharing adapter last looked.
        self._remote: dict[str, list[Binding]] = {}
        self.changed: set[str] = set()

    # ------------------------------------------------------------ update

    def update(self, aor: str, request: SipRequest, source: Peer, now: float) -> RegisterResult:
        # Unreaped expired bindings count as present: the endpoint has not been told yet.
        had_bindings = aor in self._bindings
        try:
            call_id, cseq = self._request_ids(request)
            contacts = self._contacts(request)
            if contacts is None:  # Contact: * (RFC 3261 §10.3 step 6)
                new = self._remove_all_checked(aor, call_id, cseq, now)
            elif not contacts:  # a query: list the bindings, change nothing
                return RegisterResult(200, self.lookup(aor, now))
            else:
                new = self._apply(aor, contacts, call_id, cseq, source, now)
        except _Failure as failure:
            min_expires = self.min_expires if failure.status == 423 else None
            return RegisterResult(failure.status, min_expires=min_expires, reason=failure.reason)
        self._commit(aor, new)
        events: list[str] = []
        if new and not had_bindings:
            events.append(REGISTERED)
        elif had_bindings and not new:
            events.append(UNREGISTERED)
        return RegisterResult(200, self.lookup(aor, now), events)

    def _request_ids(self, request: SipRequest) -> tuple[str, int]:
        call_id = request.headers.get("Call-ID")
        cseq_text = request.headers.get("CSeq")
        if not call_id or cseq_text is None:
            raise _Failure(400, "Missing Call-ID or CSeq")
        try:
            return call_id.strip(), parse_cseq(cseq_text).seq
        except SipParseError as exc:
            raise _Failure(400, exc.reason) from exc

    def _contacts(self, request: SipRequest) -> list[_Contact] | None:
        values = [v for raw in request.headers.get_all("Contact") for v in split_list(raw)]
        header_expires = self._expires_value(request.headers.get("Expires"), "Expires")
        if any(v.strip() == "*" for v in values):
            if len(values) != 1 or header_expires != 0:
                raise _Failure(400, "Contact: * needs Expires: 0 and no other Contact")
            return None
        contacts: list[_Contact] = []
        for value in values:
            try:
                addr = parse_name_addr(value, "Contact")
            except SipParseError as exc:
                raise _Failure(400, exc.reason) from exc
            expires = self._expires_value(addr.params.get("expires"), "expires")
            if expires is None:
                expires = header_expires
            if expires is None:
                expires = self.default_expires
            if 0 < expires < self.min_expires:  # RFC 3261 §10.3 step 7
                raise _Failure(423, "Interval Too Brief")
            contacts.append(
                _Contact(
                    uri=addr.uri.format(),
                    key=_uri_key(addr.uri),
                    expires=min(expires, self.max_expires),
                    q=self._q_value(addr.params.get("q")),
                    instance=(addr.params.get("+sip.instance") or "").strip('"') or None,
                    reg_id=self._reg_id(addr.params.get("reg-id")),
                )
            )
        return contacts

    @staticmethod
    def _expires_value(text: str | None, what: str) -> int | None:
        if text is None:
            return None
        text = text.strip()
        if not text.isascii() or not text.isdigit():
            raise _Failure(400, f"Bad {what} value")
        return int(text)

    @staticmethod
    def _q_value(text: str | None) -> float:
        if text is None:
            return 1.0
        try:
            q = float(text)
        except ValueError:
            raise _Failure(400, "Bad q value") from None
        if not 0.0 <= q <= 1.0:
            raise _Failure(400, "Bad q value")
        return q

    @staticmethod
    def _reg_id(text: str | None) -> int | None:
        if text is None:
            return None
        if not text.isascii() or not text.isdigit():
            raise _Failure(400, "Bad reg-id value")
        return int(text)

    def _remove_all_checked(
        self, aor: str, call_id: str, cseq: int, now: float
    ) -> dict[tuple[object, ...], Binding]:
        for binding in self._live(aor, now).values():
            if binding.call_id == call_id and cseq <= binding.cseq:
                raise _Failure(500, "Out of order REGISTER")  # RFC 3261 §10.3 step 6
        return {}

    def _apply(
        self,
        aor: str,
        contacts: list[_Contact],
        call_id: str,
        cseq: int,
        source: Peer,
        now: float,
    ) -> dict[tuple[object, ...], Binding]:
        new = dict(self._live(aor, now))
        for contact in contacts:
            key = contact.key if contact.key in new else self._same_instance(new, contact)
            if key is not None:
                existing = new.pop(key)
                # RFC 3261 §10.3 step 7: same Call-ID must carry a higher CSeq.
                if existing.call_id == call_id and cseq <= existing.cseq:
                    raise _Failure(500, "Out of order REGISTER")
            if contact.expires == 0:
                continue
            new[contact.key] = Binding(
                aor=aor,
                contact=contact.uri,
                expires_at=now + contact.expires,
                call_id=call_id,
                cseq=cseq,
                q=contact.q,
                source=source,
                updated_at=now,
                instance=contact.instance,
                reg_id=contact.reg_id,
            )
        if len(new) > self.max_contacts:
            raise _Failure(403, "Too many contacts")
        return new

    @staticmethod
    def _same_instance(
        bindings: dict[tuple[object, ...], Binding], contact: _Contact
    ) -> tuple[object, ...] | None:
        if contact.instance is None:
            return None
        return next(
            (
                key
                for key, b in bindings.items()
                if b.instance == contact.instance and b.reg_id == contact.reg_id
            ),
            None,
        )

    def _commit(self, aor: str, new: dict[tuple[object, ...], Binding]) -> None:
        self.changed.add(aor)
        if not new:
            self._bindings.pop(aor, None)
            return
        old = self._bindings.get(aor, {})
        self._bindings[aor] = new
        for key, binding in new.items():
            if old.get(key) is binding:
                continue  # unchanged: its deadline is already queued
            self._pushes += 1
            heapq.heappush(self._heap, (binding.expires_at, self._pushes, aor, key))

    # ------------------------------------------------------------ queries and expiry

    def _live(self, aor: str, now: float) -> dict[tuple[object, ...], Binding]:
        bindings = self._bindings.get(aor, {})
        return {k: b for k, b in bindings.items() if b.expires_at > now}

    def lookup(self, aor: str, now: float) -> list[Binding]:
        """Unexpired bindings, highest q first, then the most recently refreshed; with the
        ones other nodes of a cluster hold for contacts this node does not have."""
        live = list(self._live(aor, now).values())
        mine = {b.contact for b in live}
        live += [
            b for b in self._remote.get(aor, ()) if b.expires_at > now and b.contact not in mine
        ]
        return sorted(live, key=lambda b: (-b.q, -b.updated_at))

    def local(self, aor: str, now: float) -> list[Binding]:
        """This node's own unexpired bindings (what it shares with the cluster)."""
        return list(self._live(aor, now).values())

    def set_remote(self, aor: str, bindings: list[Binding]) -> None:
        """The bindings the other nodes hold for ``aor`` (replacing what they held before)."""
        if bindings:
            self._remote[aor] = bindings
        else:
            self._remote.pop(aor, None)

    def drain_changed(self) -> set[str]:
        out, self.changed = self.changed, set()
        return out

    def aors(self) -> list[str]:
        return list(self._bindings)

    def next_expiry(self) -> float | None:
        self._drop_dead_heap_entries()
        return self._heap[0][0] if self._heap else None

    def expire(self, now: float) -> list[str]:
        """Remove due bindings; return the AORs that lost their last one."""
        gone: list[str] = []
        while self._heap and self._heap[0][0] <= now:
            expires_at, _, aor, key = heapq.heappop(self._heap)
            bindings = self._bindings.get(aor)
            binding = bindings.get(key) if bindings else None
            if bindings is None or binding is None or binding.expires_at != expires_at:
                continue  # refreshed or removed since this deadline was pushed
            del bindings[key]
            self.changed.add(aor)
            if not bindings:
                del self._bindings[aor]
                gone.append(aor)
        return gone

    def remove_all(self, aor: str) -> list[Binding]:
        """Forget an AOR (account deleted or disabled); the heap entries die lazily."""
        self.changed.add(aor)
        return list(self._bindings.pop(aor, {}).values())

    def _drop_dead_heap_entries(self) -> None:
        while self._heap:
            expires_at, _, aor, key = self._heap[0]
            binding = self._bindings.get(aor, {}).get(key)
            if binding is not None and binding.expires_at == expires_at:
                return
            heapq.heappop(self._heap)
