"""Where a SIP message came from or goes to: transport, remote address and stream connection.

Transactions and dialogs remember a ``Peer`` rather than a URI because responses and in-dialog
requests go back the way the request came (symmetric routing): pyVoIP phones and NATed agents
only receive on the address they sent from.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Peer:
    transport: str  # "UDP" | "TCP" | "TLS"
    addr: tuple[str, int]  # remote address (for UDP the datagram source/destination)
    conn_id: str | None = None  # stream connection id when known (TCP/TLS)

    @property
    def reliable(self) -> bool:
        """RFC 3261 §17: reliable transports need no retransmissions and no linger timers."""
        return self.transport != "UDP"
