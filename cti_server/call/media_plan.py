"""Offer/answer for an anchored call: every leg negotiates with us, never with the other leg.

Theory of operation: the caller's offer is answered with our own address and the codec we
pick from it (PCMU or PCMA, in the caller's order); the agent/trunk leg gets our own offer
listing the caller's codec first, so both sides usually agree and nothing is transcoded.
Hold, unhold and transfer then stay between one leg and us (RFC 3264 §8): a re-INVITE is
answered locally and the other party is simply bridged elsewhere in ``MediaCore``.
A leg that offers SRTP (SDES a=crypto, ``sip/sdes.py``) gets it: our answer carries a key
of ours and the leg's route en/decrypts; our re-offers to it keep SRTP. Our first offers
(agents, trunks, dialled numbers) are plain RTP/AVP.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from cti_server.rtp.bridge import MediaCore
from cti_server.rtp.srtp import SrtpKeys
from cti_server.sip import sdes
from cti_server.sip.sdp import (
    SdpError,
    SessionDescription,
    answer,
    chosen_codec,
    dtmf_payload_type,
    format_sdp,
    offer,
    parse_sdp,
)

SUPPORTED = ("PCMU", "PCMA")


class PromptSource(Protocol):
    """Prompt audio already in memory, as 20 ms payloads in the leg's codec (no file I/O)."""

    def frames(self, prompt_id: str, language: str, codec: str, **slots: int) -> list[bytes]: ...

    def music_on_hold(self, codec: str) -> list[bytes]: ...


@dataclass(slots=True)
class _Negotiation:
    session_id: int
    version: int = 1
    codec: str = "PCMU"
    remote_offer: SessionDescription | None = None  # the leg's offer we answer
    last_answer: bytes = b""
    srtp: SrtpKeys | None = None  # SDES keys when the leg offered SRTP


class MediaPlanner:
    def __init__(self, media: MediaCore, local_ip: str) -> None:
        self.media = media
        self.local_ip = local_ip
        self._legs: dict[str, _Negotiation] = {}
        self._sessions = 0

    def accept_offer(self, leg_id: str, body: bytes, now: float) -> str | None:
        """Open the leg's port and take its offer; the codec we will answer with, or None
        (488: unparsable, or no codec in common). An empty body is a delayed offer: ""."""
        neg = self._open(leg_id, now)
        if not body:
            return ""
        sd = _parse(body)
        codec = _first_supported(sd) if sd is not None else None
        if sd is None or codec is None or not self._negotiate_srtp(neg, sd):
            return None
        neg.codec = codec
        neg.remote_offer = sd
        self._configure(leg_id, sd, codec)
        return codec

    def make_offer(self, leg_id: str, prefer: str | None, now: float) -> bytes:
        neg = self._open(leg_id, now)
        codecs = (prefer, *(c for c in SUPPORTED if c != prefer)) if prefer else SUPPORTED
        neg.version += 1
        sd = offer(
            local_ip=self.local_ip,
            local_port=self.media.legs[leg_id].port,
            session_id=neg.session_id,
            version=neg.version,
            codecs=codecs,
        )
        if neg.srtp is not None:  # a re-offer to a leg that chose SRTP: keep it
            offered = neg.remote_offer.audio() if neg.remote_offer is not None else None
            sdes.add_crypto(sd, neg.srtp, offered.proto if offered is not None else "RTP/SAVP")
        return format_sdp(sd)

    def take_answer(self, leg_id: str, body: bytes) -> bool:
        """The leg answered our offer (2xx, 183 or an ACK): point its media at it."""
        sd = _parse(body)
        neg = self._legs.get(leg_id)
        codec = _first_supported(sd) if sd is not None else None
        if neg is None or sd is None or codec is None:
            return False
        neg.codec = codec
        neg.srtp = sdes.accept_answer(sd.audio(), neg.srtp)
        self._configure(leg_id, sd, codec)
        return True

    def make_answer(self, leg_id: str, *, hold: bool = False) -> bytes:
        """Our answer to the leg's offer; the same bytes again until the offer changes."""
        neg = self._legs[leg_id]
        if neg.last_answer:
            return neg.last_answer
        assert neg.remote_offer is not None
        sd = answer(
            neg.remote_offer,
            local_ip=self.local_ip,
            local_port=self.media.legs[leg_id].port,
            session_id=neg.session_id,
            version=neg.version,
            supported=(neg.codec,),
            hold=hold,
            srtp=neg.srtp is not None,
        )
        if sd is not None and neg.srtp is not None:
            sdes.add_crypto(sd, neg.srtp)
        neg.last_answer = format_sdp(sd) if sd is not None else b""
        return neg.last_answer

    def has_offer(self, leg_id: str) -> bool:
        neg = self._legs.get(leg_id)
        return neg is not None and neg.remote_offer is not None

    def reoffer(self, leg_id: str, body: bytes) -> tuple[bytes, bool] | None:
        """A re-INVITE's new offer (hold, unhold, new address): (our answer, on hold)."""
        neg = self._legs.get(leg_id)
        sd = _parse(body)
        codec = _first_supported(sd) if sd is not None else None
        if neg is None or sd is None or codec is None or not self._negotiate_srtp(neg, sd):
            return None
        neg.remote_offer = sd
        neg.codec = codec
        neg.version += 1
        neg.last_answer = b""
        self._configure(leg_id, sd, codec)
        return self.make_answer(leg_id), sd.is_hold()

    def codec(self, leg_id: str) -> str | None:
        neg = self._legs.get(leg_id)
        return neg.codec if neg is not None else None

    def close(self, leg_id: str) -> None:
        if self._legs.pop(leg_id, None) is not None:
            self.media.close(leg_id)

    def _open(self, leg_id: str, now: float) -> _Negotiation:
        neg = self._legs.get(leg_id)
        if neg is None:
            self.media.open(leg_id, now)
            self._sessions += 1
            neg = self._legs[leg_id] = _Negotiation(session_id=self._sessions)
        return neg

    def _negotiate_srtp(self, neg: _Negotiation, sd: SessionDescription) -> bool:
        """Pick the offer's crypto line (keeping our key across re-offers); False: SRTP
        offered with no line we can use (488)."""
        try:
            neg.srtp = sdes.negotiate(sd.audio(), self.media.new_srtp_key, neg.srtp)
        except sdes.SdesError:
            return False
        return True

    def _configure(self, leg_id: str, sd: SessionDescription, codec: str) -> None:
        direction = sd.direction()
        neg = self._legs.get(leg_id)
        self.media.configure(
            leg_id,
            remote=sd.rtp_address(),
            codec=codec,
            dtmf_pt=dtmf_payload_type(sd),
            sending=direction in ("sendrecv", "recvonly"),
            srtp=neg.srtp if neg is not None else None,
        )


def _parse(body: bytes) -> SessionDescription | None:
    try:
        return parse_sdp(body) if body else None
    except SdpError:
        return None


def _first_supported(sd: SessionDescription) -> str | None:
    audio = sd.audio()
    if audio is None or audio.port == 0:
        return None
    for c in audio.codecs:
        if c.name.upper() in SUPPORTED and c.clock_rate == 8000:
            return c.name.upper()
    found = chosen_codec(sd)
    return found.name.upper() if found is not None and found.name.upper() in SUPPORTED else None
