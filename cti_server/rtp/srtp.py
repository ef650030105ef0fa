"""SRTP (RFC 3711) for one call leg, keyed by SDES (RFC 4568), done by libsrtp (pylibsrtp).

A leg whose peer negotiated SRTP gets two libsrtp sessions on its ``Route``: ``srtp_in``
decrypts and authenticates what the peer sends (its key, from its a=crypto line) before the
route reads a single header field, and ``srtp_out`` encrypts everything sent to the peer
(our key, announced in our answer): bridged packets, prompts, mixes. The other leg may be
plain RTP; the anchor is where the two meet, as in any SBC. A leg without SRTP has ``None``
in both and pays one attribute test per packet.

Each direction has its own master key, as RFC 4568 §6.1 wants; SRTCP is not forwarded
(the anchor forwards no RTCP at all), so only the RTP halves of the sessions are used.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pylibsrtp

from cti_server.ids import RandomSource

# RFC 4568 §6.2 suite names -> libsrtp profiles; both take a 16-byte key and a 14-byte salt.
SUITES: dict[str, int] = {
    "AES_CM_128_HMAC_SHA1_80": pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_80,
    "AES_CM_128_HMAC_SHA1_32": pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_32,
}
KEY_LENGTH = 30  # master key (16) || master salt (14), as the inline: key-param carries it

SrtpError = pylibsrtp.Error  # authentication or replay failure: the packet is dropped


@dataclass(frozen=True, slots=True)
class SrtpKeys:
    """What one leg's SDES exchange settled: the suite, the a=crypto tag, both keys."""

    suite: str
    tag: int
    local: bytes  # ours: we encrypt what we send with it (announced in our SDP)
    remote: bytes  # the peer's: we decrypt what it sends with it (from its SDP)

    def __post_init__(self) -> None:
        if self.suite not in SUITES:
            raise ValueError(f"unsupported SRTP suite {self.suite!r}")
        if len(self.local) != KEY_LENGTH or len(self.remote) != KEY_LENGTH:
            raise ValueError(f"SRTP master key and salt must be {KEY_LENGTH} bytes")

    def __repr__(self) -> str:  # keys stay out of logs and tracebacks
        return f"SrtpKeys(suite={self.suite!r}, tag={self.tag})"


def _session(suite: str, key: bytes, ssrc_type: int) -> pylibsrtp.Session:
    policy = pylibsrtp.Policy(key=key, ssrc_type=ssrc_type, srtp_profile=SUITES[suite])
    return pylibsrtp.Session(policy)


def inbound(keys: SrtpKeys) -> pylibsrtp.Session:
    """Decrypts what the peer sends, whatever SSRC it picks (and re-picks)."""
    return _session(keys.suite, keys.remote, pylibsrtp.Policy.SSRC_ANY_INBOUND)


def outbound(keys: SrtpKeys) -> pylibsrtp.Session:
    """Encrypts what we send the peer (one SSRC per leg: the leg's sequence rewriter)."""
    return _session(keys.suite, keys.local, pylibsrtp.Policy.SSRC_ANY_OUTBOUND)


def new_key(rng: RandomSource) -> bytes:
    """A master key and salt from the injected generator (``random.SystemRandom`` in the
    server: the OS's CSPRNG; a seeded one in tests)."""
    return rng.getrandbits(8 * KEY_LENGTH).to_bytes(KEY_LENGTH, "big")


def apply_keys(route: Any, old: SrtpKeys | None, keys: SrtpKeys | None) -> SrtpKeys | None:
    """Give a route the sessions for ``keys`` (None: plain RTP), making new ones only for
    a key that changed: a re-INVITE that keeps the keys keeps the rollover counter and the
    replay window (RFC 3711 §3.3.1). Returns ``keys``, the leg's new state."""
    if keys is None:
        route.srtp_in = route.srtp_out = None
        return None
    if old is None or old.remote != keys.remote or old.suite != keys.suite:
        route.srtp_in = inbound(keys)
    if old is None or old.local != keys.local or old.suite != keys.suite:
        route.srtp_out = outbound(keys)
    return keys


__all__ = [
    "KEY_LENGTH",
    "SUITES",
    "SrtpError",
    "SrtpKeys",
    "apply_keys",
    "inbound",
    "new_key",
    "outbound",
]
