"""Where responses to a request go (RFC 3261 §18.2.1-§18.2.2, RFC 3581 rport).

The server transport stamps the top Via with ``received`` when the packet came from another
address than the Via names, and fills ``rport`` when the client asked for it; responses then
go to the source IP and, for UDP, to the ``rport`` (the source port) when asked for, else to
the port the Via names (5060 by default). Stream transports answer on the same connection.
"""

from __future__ import annotations

from cti_server.sip.headers import format_params, parse_via
from cti_server.sip.message import SipRequest
from cti_server.sip.peer import Peer


def stamp_and_route(request: SipRequest, peer: Peer) -> Peer:
    """Add received/rport to the top Via in place; return the peer responses must go to."""
    value = request.headers.get("Via")
    if value is None:
        return peer
    via = parse_via(value)
    source_ip, source_port = peer.addr
    changed = False
    if via.host != source_ip:
        via.params["received"] = source_ip
        changed = True
    wants_rport = "rport" in via.params
    if wants_rport:
        via.params["rport"] = str(source_port)
        changed = True
    if changed:
        request.headers.replace_first("Via", _format(value, via.params))
    if peer.reliable or wants_rport:
        return peer
    return Peer(peer.transport, (source_ip, via.port or 5060), peer.conn_id)


def _format(original: str, params: dict[str, str | None]) -> str:
    sent_by = original.split(";", 1)[0].strip()
    return f"{sent_by}{format_params(params)}"
