"""Where this server is reachable: the host and port put in Via and Contact headers."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class LocalAddress:
    host: str
    port: int
    user_agent: str = "cti-server"

    def via(self, transport: str, branch: str) -> str:
        # rport (RFC 3581) asks the peer to answer to the port we really sent from.
        return f"SIP/2.0/{transport} {self._hostport()};branch={branch};rport"

    def contact(self, transport: str = "UDP") -> str:
        suffix = "" if transport == "UDP" else f";transport={transport.lower()}"
        return f"<sip:{self._hostport()}{suffix}>"

    def _hostport(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"
