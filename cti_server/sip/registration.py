"""REGISTER once the digest check passed: bindings, the 200's Contact list, the events, and
where each contact is reached.

A phone on TCP is reached over the connection it registered on; a Contact with a hostname
is reached at the address it registered from (the core resolves no names); any other
Contact is used as it is (RFC 3261 §10.3).
"""

from __future__ import annotations

from collections.abc import Container
from dataclasses import dataclass, field

from cti_server.events import AgentRegistered, AgentUnregistered, Event
from cti_server.sip.errors import SipParseError
from cti_server.sip.headers import parse_name_addr
from cti_server.sip.leg_actions import peer_for_uri
from cti_server.sip.message import SipRequest
from cti_server.sip.peer import Peer
from cti_server.sip.registrar import (
    REGISTERED,
    UNREGISTERED,
    Registrar,
    contact_response_values,
)


@dataclass(slots=True)
class RegisterAnswer:
    status: int
    reason: str | None = None
    headers: list[tuple[str, str]] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)


class Registrations:
    def __init__(self, registrar: Registrar) -> None:
        self.registrar = registrar
        self._contact_peer: dict[str, Peer] = {}

    def register(self, user: str, request: SipRequest, peer: Peer, now: float) -> RegisterAnswer:
        try:
            aor_user = parse_name_addr(request.headers.get("To") or "", "To").uri.user
        except SipParseError:
            aor_user = None
        if aor_user != user:
            return RegisterAnswer(403, "Wrong AOR for these credentials")
        result = self.registrar.update(user, request, peer, now)
        answer = RegisterAnswer(result.status)
        if result.min_expires is not None:
            answer.headers.append(("Min-Expires", str(result.min_expires)))
        if result.status != 200:
            return answer
        answer.headers += [("Contact", c) for c in contact_response_values(result.bindings, now)]
        for binding in result.bindings:
            if peer.reliable or peer_for_uri(binding.contact) is None:
                self._contact_peer[binding.contact] = peer
        if REGISTERED in result.events and result.bindings:
            first = result.bindings[0]
            answer.events.append(
                AgentRegistered(
                    at=now, agent_id=user, contact=first.contact, expires_at=first.expires_at
                )
            )
        if UNREGISTERED in result.events:
            answer.events.append(AgentUnregistered(at=now, agent_id=user, reason="unregistered"))
        return answer

    def peer_for(self, uri: str, open_connections: Container[str]) -> Peer | None:
        """Where to send a request for ``uri``: see the module docstring."""
        peer = self._contact_peer.get(uri)
        if peer is not None and peer.conn_id is not None and peer.conn_id not in open_connections:
            peer = None  # the connection it registered on is gone: use the Contact itself
        return peer or peer_for_uri(uri)
