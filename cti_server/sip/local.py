"""Where this server is reachable: the host and port put in Via and Contact headers.

SIP over TLS listens on a port of its own (5061 by default, RFC 3261 §26.2), so a Via or
Contact for a TLS peer names ``tls_port``. The Contact is ``sips:`` only in a secure dialog
(a sips: Request-URI over TLS, §8.1.1.8 and §12.1.1 require it then); otherwise ``sip:`` with
``;transport=tls``: RFC 5630 §3.1.3 deprecates the parameter, but a ``sips:`` Contact
promises TLS on every hop to us, which a call bridged from UDP cannot keep.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class LocalAddress:
    host: str
    port: int
    user_agent: str = "cti-server"
    tls_port: int | None = None  # SIP over TLS listening port; None: TLS is off

    def port_for(self, transport: str) -> int:
        return self.tls_port if transport == "TLS" and self.tls_port else self.port

    def via(self, transport: str, branch: str) -> str:
        # rport (RFC 3581) asks the peer to answer to the port we really sent from.
        return f"SIP/2.0/{transport} {self._hostport(transport)};branch={branch};rport"

    def contact(self, transport: str = "UDP", *, secure: bool = False) -> str:
        if secure and transport == "TLS":
            return f"<sips:{self._hostport(transport)}>"
        suffix = "" if transport == "UDP" else f";transport={transport.lower()}"
        return f"<sip:{self._hostport(transport)}{suffix}>"

    def _hostport(self, transport: str = "UDP") -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port_for(transport)}"
