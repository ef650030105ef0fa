"""SDES (RFC 4568): choosing one of an offer's ``a=crypto`` lines and answering it.

Theory of operation: an audio stream offered as RTP/SAVP (or RTP/AVP with a=crypto, the
"best effort SRTP" of baresip and some desk phones) lists crypto attributes in order of
preference (§7.1.1). We take the first one we can use: a suite libsrtp does here
(AES_CM_128_HMAC_SHA1_80 or _32), one ``inline:`` key of the right length, no MKI and no
session parameters (§6.3: we support none, so a line that needs one is skipped). The answer
carries the same tag and suite with a key of our own (§7.1.2; a key per direction, §6.1).
An RTP/SAVP stream with no usable line cannot be answered: :class:`SdesError`, the caller
sends 488. A re-offer that keeps the tag and suite keeps our key (§7.1.4 lets it), so a hold
does not re-key our direction; the peer's key is whatever its newest offer says.

The keys travel in the SDP: they are only as secret as the signalling, which is why SDES is
meant to be used over SIP/TLS (§8.3). Pure functions on the parsed SDP (``sip/sdp.py``).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from dataclasses import dataclass

from cti_server.rtp.srtp import KEY_LENGTH, SUITES, SrtpKeys
from cti_server.sip.sdp import MediaDescription, SessionDescription

SECURE_PROTOS = ("RTP/SAVP", "RTP/SAVPF")


class SdesError(ValueError):
    """An SRTP-only stream none of whose crypto lines we can use (answer 488)."""


@dataclass(frozen=True, slots=True)
class CryptoLine:
    tag: int
    suite: str
    key: bytes  # master key || salt

    def __repr__(self) -> str:
        return f"CryptoLine(tag={self.tag}, suite={self.suite!r})"


def parse_crypto(value: str) -> CryptoLine | None:
    """One ``a=crypto`` value (§9.1 grammar); None when it is malformed or needs something
    we do not do (another suite, several keys, an MKI, session parameters)."""
    parts = value.split()
    if len(parts) != 3:  # tag, suite, key-params; a fourth part is a session parameter
        return None
    tag, suite, params = parts
    if not (tag.isascii() and tag.isdigit() and len(tag) <= 9) or suite not in SUITES:
        return None
    if ";" in params or not params.startswith("inline:"):
        return None  # several keys (only with MKIs) or a key method other than inline
    fields = params[len("inline:") :].split("|")
    if len(fields) > 2:  # key|lifetime|MKI:length: an MKI we would have to put in packets
        return None
    if len(fields) == 2 and not _lifetime(fields[1]):
        return None  # not a lifetime (2^31 or a number): an MKI, or garbage
    try:
        key = base64.b64decode(fields[0], validate=True)
    except (binascii.Error, ValueError):
        return None
    if len(key) != KEY_LENGTH:
        return None
    return CryptoLine(int(tag), suite, key)


def _lifetime(text: str) -> bool:
    digits = text[2:] if text.startswith("2^") else text
    return digits.isascii() and digits.isdigit() and len(digits) <= 20


def offered(media: MediaDescription) -> list[CryptoLine]:
    """The usable crypto lines of a stream, in the offerer's order of preference."""
    lines = (parse_crypto(v) for n, v in media.attributes if n == "crypto" and v is not None)
    return [line for line in lines if line is not None]


def negotiate(
    media: MediaDescription | None,
    new_key: Callable[[], bytes],
    previous: SrtpKeys | None = None,
) -> SrtpKeys | None:
    """The keys for answering ``media``; None for plain RTP (nothing offered)."""
    if media is None:
        return None
    secure = media.proto.upper() in SECURE_PROTOS
    lines = offered(media)
    if not lines:
        if secure:
            raise SdesError("SRTP offered without a crypto line we support")
        return None
    chosen = lines[0]
    if previous is not None and (previous.tag, previous.suite) == (chosen.tag, chosen.suite):
        local = previous.local
    else:
        local = new_key()
    return SrtpKeys(chosen.suite, chosen.tag, local, chosen.key)


def crypto_value(keys: SrtpKeys) -> str:
    """Our ``a=crypto`` value: the chosen tag and suite, our key (no lifetime, no MKI)."""
    return f"{keys.tag} {keys.suite} inline:{base64.b64encode(keys.local).decode('ascii')}"


def accept_answer(media: MediaDescription | None, ours: SrtpKeys | None) -> SrtpKeys | None:
    """The keys after the peer answered our offer (``ours``: what it carried): the peer's
    key for our tag; None (plain RTP) when we offered none or it answered without one."""
    if ours is None or media is None:
        return None
    for line in offered(media):
        if (line.tag, line.suite) == (ours.tag, ours.suite):
            return SrtpKeys(line.suite, line.tag, ours.local, line.key)
    return None


def add_crypto(sd: SessionDescription, keys: SrtpKeys, proto: str | None = None) -> None:
    """Put our crypto line on the accepted audio stream of an answer or of a re-offer to
    an SRTP leg (in place); ``proto`` replaces the stream's (our offers say RTP/AVP)."""
    audio = next((m for m in sd.media if m.media == "audio" and m.port != 0), None)
    if audio is not None:
        if proto is not None:
            audio.proto = proto
        audio.attributes.append(("crypto", crypto_value(keys)))


__all__ = [
    "SECURE_PROTOS",
    "CryptoLine",
    "SdesError",
    "accept_answer",
    "add_crypto",
    "crypto_value",
    "negotiate",
    "offered",
    "parse_crypto",
]
