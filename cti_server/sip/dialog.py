"""RFC 3261 §12 dialog state, without I/O.

Theory of operation. A ``Dialog`` is created by the UAS from the INVITE it answers with a tag
(``as_uas``, §12.1.1) or by the UAC from a 1xx-with-tag or 2xx (``as_uac``, §12.1.2). It then
builds in-dialog requests (``new_request``, §12.2.1.1; ``make_ack`` for the 2xx ACK, §13.2.2.4)
and vets incoming ones (``check_remote_request``, §12.2.2). Early/confirmed/terminated is call
state and lives in the call controller; this class only holds what §12 says a dialog holds.

Where in-dialog requests go. ``remote_target`` (the peer's Contact) becomes the Request-URI, as
§12.2.1.1 requires, but the datagrams go to ``peer``: for a UAS dialog the address the INVITE
came from, for a UAC dialog the address the INVITE was sent to. pyVoIP phones, and agents behind
NAT, only receive on the address they send from, so resolving the Contact would miss them.

``DialogTable`` finds the dialog of an incoming request by Call-ID and tags, with a Call-ID +
From-tag fallback for ACKs: pyVoIP puts a fresh random tag in the To of every ACK it sends.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from cti_server.sip.headers import parse_cseq, parse_name_addr, split_list
from cti_server.sip.message import Headers, SipMessage, SipRequest, SipResponse
from cti_server.sip.peer import Peer
from cti_server.sip.transaction import tag_param

DialogKey = tuple[str, str, str | None]


@dataclass(slots=True, kw_only=True)
class Dialog:
    call_id: str
    local_tag: str
    remote_tag: str | None
    local_uri: str  # From/To value as on the wire, tag removed
    remote_uri: str
    remote_target: str  # the peer's Contact URI: the Request-URI of in-dialog requests
    route_set: list[str] = field(default_factory=list)  # Route values, in sending order
    local_seq: int  # 0 = empty (§12.1.1): the first request we send uses 1
    remote_seq: int | None
    peer: Peer  # where in-dialog requests are sent (see the module docstring)
    secure: bool = False

    @classmethod
    def as_uas(cls, invite: SipRequest, local_tag: str, peer: Peer) -> Dialog:
        """§12.1.1: route set = Record-Route in order; remote target = the INVITE's Contact."""
        headers = invite.headers
        from_value = headers.get("From") or ""
        return cls(
            call_id=invite.call_id,
            local_tag=local_tag,
            remote_tag=tag_param(from_value),
            local_uri=_without_tag(headers.get("To") or ""),
            remote_uri=_without_tag(from_value),
            remote_target=_contact_uri(invite) or _uri_text(from_value),
            route_set=_record_routes(invite),
            local_seq=0,
            remote_seq=parse_cseq(headers.get("CSeq") or "").seq,
            peer=peer,
            secure=_is_secure(invite, peer),
        )

    @classmethod
    def as_uac(cls, invite: SipRequest, response: SipResponse, peer: Peer) -> Dialog:
        """§12.1.2: route set = the response's Record-Route reversed; remote target = its
        Contact; the remote sequence number stays empty until the peer sends a request."""
        headers = invite.headers
        from_value = headers.get("From") or ""
        to_value = headers.get("To") or ""
        route_set = _record_routes(response)
        route_set.reverse()
        return cls(
            call_id=invite.call_id,
            local_tag=tag_param(from_value) or "",
            remote_tag=tag_param(response.headers.get("To") or ""),
            local_uri=_without_tag(from_value),
            remote_uri=_without_tag(to_value),
            remote_target=_contact_uri(response) or invite.uri,
            route_set=route_set,
            local_seq=parse_cseq(headers.get("CSeq") or "").seq,
            remote_seq=None,
            peer=peer,
            secure=_is_secure(invite, peer),
        )

    def key(self) -> DialogKey:
        return (self.call_id, self.local_tag, self.remote_tag)

    def new_request(
        self,
        method: str,
        *,
        branch: str,
        via_host: str,
        via_port: int,
        transport: str,
        contact: str | None = None,
        body: bytes = b"",
        content_type: str | None = None,
        extra_headers: Iterable[tuple[str, str]] = (),
    ) -> SipRequest:
        """§12.2.1.1. ACK and CANCEL reuse the INVITE's CSeq: use ``make_ack`` and
        ``transaction.make_cancel`` for them."""
        if method in ("ACK", "CANCEL"):
            raise ValueError(f"{method} does not take a new CSeq; use make_ack or make_cancel")
        self.local_seq += 1
        via = _via(transport, via_host, via_port, branch)
        request = self._build(method, self.local_seq, via, body, content_type or "")
        if contact is not None:
            request.headers.add("Contact", contact if "<" in contact else f"<{contact}>")
        for name, value in extra_headers:
            request.headers.add(name, value)
        return request

    def make_ack(
        self,
        invite_cseq: int,
        *,
        branch: str,
        via_host: str,
        via_port: int,
        transport: str,
        body: bytes = b"",
        content_type: str = "application/sdp",
    ) -> SipRequest:
        """§13.2.2.4: the ACK for a 2xx is an in-dialog request with the INVITE's CSeq number
        and a branch of its own; it is sent outside any transaction."""
        via = _via(transport, via_host, via_port, branch)
        return self._build("ACK", invite_cseq, via, body, content_type)

    def _build(self, method: str, seq: int, via: str, body: bytes, content_type: str) -> SipRequest:
        uri, routes = self._request_uri_and_routes()
        to = (
            self.remote_uri
            if self.remote_tag is None
            else f"{self.remote_uri};tag={self.remote_tag}"
        )
        items = [("Via", via), ("Max-Forwards", "70")]
        items += [("Route", route) for route in routes]
        items += [
            ("From", f"{self.local_uri};tag={self.local_tag}"),
            ("To", to),
            ("Call-ID", self.call_id),
            ("CSeq", f"{seq} {method}"),
        ]
        if body:
            items.append(("Content-Type", content_type or "application/sdp"))
        return SipRequest(method, uri, Headers.from_canonical(items), body)

    def _request_uri_and_routes(self) -> tuple[str, list[str]]:
        """§12.2.1.1: loose routing keeps the target as Request-URI; a strict router (first
        route without ;lr) takes the Request-URI and the target goes last in Route."""
        if not self.route_set:
            return self.remote_target, []
        first = parse_name_addr(self.route_set[0], "Route").uri
        if "lr" in first.params:
            return self.remote_target, list(self.route_set)
        first.params.pop("method", None)  # §19.1.1: not allowed in a Request-URI
        first.headers = ""
        return first.format(), [*self.route_set[1:], f"<{self.remote_target}>"]

    def check_remote_request(self, request: SipRequest) -> int | None:
        """§12.2.2: a CSeq lower than the last one is out of order (500). ACK and CANCEL carry
        the INVITE's number and do not advance it."""
        if request.method in ("ACK", "CANCEL"):
            return None
        seq = parse_cseq(request.headers.get("CSeq") or "").seq
        if self.remote_seq is not None and seq < self.remote_seq:
            return 500
        self.remote_seq = seq
        return None

    def update_target(self, message: SipMessage) -> None:
        """Target refresh (§12.2): a re-INVITE or its 2xx may carry a new Contact."""
        contact = _contact_uri(message)
        if contact:
            self.remote_target = contact


class DialogTable:
    """Dialogs by (Call-ID, local tag, remote tag). A dialog whose remote tag changes must be
    removed and added again."""

    def __init__(self) -> None:
        self._by_key: dict[DialogKey, Dialog] = {}
        self._by_call: dict[str, list[Dialog]] = {}

    def add(self, dialog: Dialog) -> None:
        self._by_key[dialog.key()] = dialog
        self._by_call.setdefault(dialog.call_id, []).append(dialog)

    def remove(self, dialog: Dialog) -> None:
        if self._by_key.pop(dialog.key(), None) is None:
            return
        same_call = [d for d in self._by_call[dialog.call_id] if d is not dialog]
        self._by_call[dialog.call_id] = same_call
        if not same_call:
            del self._by_call[dialog.call_id]

    def get(self, key: DialogKey) -> Dialog | None:
        return self._by_key.get(key)

    def match_request(self, request: SipRequest) -> Dialog | None:
        """§12.2.2: our tag is in the request's To, theirs in its From."""
        headers = request.headers
        call_id = request.call_id
        remote_tag = tag_param(headers.get("From") or "")
        local_tag = tag_param(headers.get("To") or "")
        if local_tag is not None:
            found = self._by_key.get((call_id, local_tag, remote_tag))
            if found is not None or request.method != "ACK":
                return found
        elif request.method != "ACK":
            return None
        # pyVoIP's ACK has a random To tag: accept the one dialog of this Call-ID and From tag.
        hits = [d for d in self._by_call.get(call_id, ()) if d.remote_tag == remote_tag]
        return hits[0] if len(hits) == 1 else None

    def match_response(self, response: SipResponse) -> Dialog | None:
        """Responses to our in-dialog requests: our tag is in From, theirs in To."""
        headers = response.headers
        local_tag = tag_param(headers.get("From") or "") or ""
        remote_tag = tag_param(headers.get("To") or "")
        return self._by_key.get((response.call_id, local_tag, remote_tag))

    def __len__(self) -> int:
        return len(self._by_key)


def _via(transport: str, host: str, port: int, branch: str) -> str:
    host = f"[{host}]" if ":" in host and not host.startswith("[") else host
    return f"SIP/2.0/{transport.upper()} {host}:{port};branch={branch}"


def _record_routes(message: SipMessage) -> list[str]:
    return [
        route for value in message.headers.get_all("Record-Route") for route in split_list(value)
    ]


def _contact_uri(message: SipMessage) -> str | None:
    value = message.headers.get("Contact")
    if not value:
        return None
    first = split_list(value)
    return _uri_text(first[0]) if first else None


def _uri_text(value: str) -> str:
    """The URI of a name-addr or addr-spec exactly as written (no re-formatting)."""
    start = 0
    if value.lstrip().startswith('"'):  # skip a quoted display name, which may hold '<'
        start = value.find('"', value.find('"') + 1) + 1
    lt = value.find("<", start)
    if lt >= 0:
        gt = value.find(">", lt)
        return value[lt + 1 : gt if gt >= 0 else len(value)].strip()
    return value[start:].split(";", 1)[0].strip()


def _without_tag(value: str) -> str:
    """A From/To value with its tag parameter removed, everything else kept as written."""
    gt = value.rfind(">")
    if gt >= 0:
        cut = gt + 1
    else:
        semi = value.find(";")
        cut = semi if semi >= 0 else len(value)
    params = value[cut:].split(";")
    kept = [p for p in params if p.strip() and p.split("=", 1)[0].strip().lower() != "tag"]
    return value[:cut].rstrip() + "".join(";" + p.strip() for p in kept)


def _is_secure(invite: SipRequest, peer: Peer) -> bool:
    """§12.1.1/§12.1.2: secure when the request went over TLS to a sips: Request-URI."""
    return peer.transport == "TLS" and invite.uri[:5].lower() == "sips:"
