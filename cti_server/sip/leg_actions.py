"""Carrying out the controller's leg actions, and what a transaction time-out means for a leg.

Kept apart from the endpoint's demultiplexing: this is the "actions in" half of the leg
layer (DESIGN.md rule 1), while ``legs.LegManager`` holds the per-leg SIP state.
"""

from __future__ import annotations

from collections.abc import Callable

from cti_server import actions as act
from cti_server.sip import leg_events as le
from cti_server.sip.errors import SipParseError
from cti_server.sip.headers import parse_uri
from cti_server.sip.legs import LegManager
from cti_server.sip.peer import Peer
from cti_server.sip.transaction import ClientKey, TransactionTimedOut


def execute_action(
    legs: LegManager, action: act.LegAction, now: float, peer_for: Callable[[str], Peer | None]
) -> None:
    if isinstance(action, act.CreateLeg):
        peer = peer_for(action.uri)
        if peer is None:
            legs.events.append(
                le.LegFailed(leg_id=action.leg_id, status=503, reason="Unresolvable target")
            )
        else:
            legs.create(action, peer, now)
        return
    leg = legs.legs.get(action.leg_id)
    if leg is None:
        return
    match action:
        case act.RespondLeg():
            legs.answer_invite(leg, action, now)
        case act.AckLeg():
            legs.ack(leg, action.sdp)
        case act.CancelLeg():
            legs.cancel(leg, now)
        case act.ByeLeg():
            legs.bye(leg, now)
        case act.ReinviteLeg():
            legs.reinvite(leg, action.sdp, now)
        case act.AnswerReinvite():
            legs.answer_reinvite(leg, action, now)
        case act.NotifyRefer():
            legs.notify_refer(leg, action, now)
        case act.ProbeLeg():
            legs.probe(leg, now)


def on_timeout(legs: LegManager, e: TransactionTimedOut, now: float) -> None:
    """Timer B/F on our requests, Timer H/L (no ACK) on our answers (RFC 3261 §17)."""
    if isinstance(e.key, ClientKey):
        purpose = legs.client_purpose.pop(e.key, None)
        leg = legs.legs.get(purpose[0]) if purpose else None
        if purpose is None or leg is None:
            return
        what = purpose[1]
        if what == "invite":
            legs.events.append(
                le.LegFailed(leg_id=leg.leg_id, status=408, reason="No answer from the far end")
            )
            legs.forget(leg)
        elif what in ("probe", "bye", "reinvite"):
            if what == "reinvite":
                legs.events.append(le.LegReinviteAnswered(leg_id=leg.leg_id, status=408))
            legs.events.append(le.LegGone(leg_id=leg.leg_id, reason=f"{what} timed out"))
            legs.forget(leg)
        return
    server_leg = legs.by_server_key(e.key)
    if server_leg is not None and server_leg.answered:  # no ACK for our 2xx: §13.3.1.4 BYE
        legs.bye(server_leg, now)
        legs.events.append(le.LegGone(leg_id=server_leg.leg_id, reason="no ACK"))
        legs.forget(server_leg)


def peer_for_uri(uri: str) -> Peer | None:
    """Where to send a request for a URI with a literal IP host (no DNS in the core)."""
    try:
        parsed = parse_uri(uri)
    except SipParseError:
        return None
    host = "127.0.0.1" if parsed.host == "localhost" else parsed.host
    if not host or not (host.replace(".", "").isdigit() or ":" in host):
        return None
    transport = (parsed.params.get("transport") or "udp").upper()
    if parsed.scheme == "sips" or transport == "TLS":  # RFC 3261 §26.2.2, §19.1.2 (5061)
        return Peer("TLS", (host, parsed.port or 5061))
    return Peer("TCP" if transport == "TCP" else "UDP", (host, parsed.port or 5060))
