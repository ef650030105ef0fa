"""SDP (RFC 4566) parsing and formatting, and the RFC 3264 offer/answer rules we need.

Theory of operation: the B2BUA terminates media, so each leg negotiates on its own. An
inbound INVITE's offer is parsed, ``answer`` picks one G.711 codec (the offerer's preference
order wins, RFC 3264 §6.1) plus telephone-event if offered, and mirrors the direction; an
outbound leg gets ``offer``. Parsing is tolerant of what real phones send (bare LF, empty
``s=``, unknown lines and attributes, which are kept so a re-format loses nothing we did not
choose to drop) and raises ``SdpError`` only for bodies we cannot act on; the endpoint
answers those with 400 (or 488 when the SDP was fine but nothing matched).

A session-level direction attribute is pushed down into each media description at parse
time (RFC 4566 §6: media-level overrides session-level), so ``MediaDescription.direction``
is always the effective one and formatting writes it at media level.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

DIRECTIONS = ("sendrecv", "sendonly", "recvonly", "inactive")
TELEPHONE_EVENT = "telephone-event"

# RFC 3551 §6 static payload types (the audio ones a phone may list without an rtpmap).
STATIC_PAYLOADS: dict[int, tuple[str, int]] = {
    0: ("PCMU", 8000),
    3: ("GSM", 8000),
    4: ("G723", 8000),
    8: ("PCMA", 8000),
    9: ("G722", 8000),
    13: ("CN", 8000),
    18: ("G729", 8000),
}
_PT_BY_NAME = {name: pt for pt, (name, _) in STATIC_PAYLOADS.items()}
_RTP_PROTOS = ("RTP/AVP", "RTP/AVPF")  # plain RTP; SRTP only when the caller has keys:
_SRTP_PROTOS = ("RTP/SAVP", "RTP/SAVPF")  # sip/sdes.py picks them, call/media_plan.py asks
# RFC 4566 §5: the order lines must appear in; extra lines are re-emitted in this order.
_SESSION_ORDER = "iuepcbtrzk"
_MEDIA_ORDER = "icbk"


class SdpError(ValueError):
    """An SDP body we cannot use; ``reason`` goes into the 400/488 Warning or log line."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(slots=True)
class Codec:
    payload_type: int
    name: str
    clock_rate: int
    fmtp: str | None = None
    channels: int | None = None

    def rtpmap(self) -> str:
        chans = f"/{self.channels}" if self.channels else ""
        return f"{self.payload_type} {self.name}/{self.clock_rate}{chans}"


@dataclass(slots=True)
class MediaDescription:
    media: str
    port: int
    proto: str
    codecs: list[Codec] = field(default_factory=list)
    direction: str = "sendrecv"
    ptime: int | None = None
    connection: str | None = None
    port_count: int | None = None
    formats: list[str] = field(default_factory=list)  # raw fmt tokens (non-RTP media)
    attributes: list[tuple[str, str | None]] = field(default_factory=list)
    extra_lines: list[tuple[str, str]] = field(default_factory=list)

    def effective_direction(self, session_connection: str | None) -> str:
        """Direction from the describer's view; c=0.0.0.0 means it cannot receive.

        RFC 3264 §8.4: the old RFC 2543 hold set the address to 0.0.0.0. Nothing can be sent
        to that address, so the "recv" half is removed whatever the attribute says.
        """
        address = self.connection or session_connection
        if address is None or _host(address) != "0.0.0.0":
            return self.direction
        return "sendonly" if self.direction in ("sendrecv", "sendonly") else "inactive"


@dataclass(slots=True)
class SessionDescription:
    session_id: int
    session_version: int
    origin_address: str
    origin_username: str = "-"
    session_name: str = "-"
    connection: str | None = None
    timing: str = "0 0"
    media: list[MediaDescription] = field(default_factory=list)
    attributes: list[tuple[str, str | None]] = field(default_factory=list)
    extra_lines: list[tuple[str, str]] = field(default_factory=list)

    def audio(self) -> MediaDescription | None:
        return next((m for m in self.media if m.media == "audio"), None)

    def rtp_address(self) -> tuple[str, int] | None:
        """Where to send audio; None when the stream is rejected or held with 0.0.0.0."""
        audio = self.audio()
        if audio is None or audio.port == 0:
            return None
        address = audio.connection or self.connection
        if address is None or _host(address) == "0.0.0.0":
            return None
        return _host(address), audio.port

    def direction(self) -> str:
        audio = self.audio()
        return "inactive" if audio is None else audio.effective_direction(self.connection)

    def is_hold(self) -> bool:
        """True when the offerer stopped wanting our audio (RFC 3264 §8.4)."""
        return self.direction() in ("sendonly", "inactive")


def _host(address: str) -> str:
    return address.split("/", 1)[0]  # drop a multicast /ttl suffix


def _digits(text: str) -> bool:
    """RFC 4566 §9 DIGIT is ASCII: '²'.isdigit() is True, but int() refuses it."""
    return text.isascii() and text.isdigit()


# ---------------------------------------------------------------- parsing


def parse_sdp(body: bytes) -> SessionDescription:
    text = body.decode("utf-8", "replace")
    lines = [ln.rstrip("\r") for ln in text.split("\n")]
    lines = [ln for ln in lines if ln.strip()]
    if not lines:
        raise SdpError("empty SDP body")
    for line in lines:
        if len(line) < 2 or line[1] != "=" or not line[0].isalpha():
            raise SdpError(f"malformed SDP line {line[:40]!r}")
    if lines[0].strip() != "v=0":
        raise SdpError("SDP does not start with v=0")  # RFC 4566 §5.1
    sd: SessionDescription | None = None
    session_direction: str | None = None
    media_directions: list[str | None] = []
    current: MediaDescription | None = None
    for line in lines[1:]:
        kind, value = line[0], line[2:]
        if kind == "o":
            if sd is not None:  # RFC 4566 §5: exactly one o= line, after v=
                raise SdpError("SDP has more than one o= line")
            sd = _parse_origin(value)
            continue
        if sd is None:
            raise SdpError("SDP has no o= line after v=0")
        if kind == "m":
            current = _parse_media_line(value)
            sd.media.append(current)
            media_directions.append(None)
        elif kind == "c":
            address = _parse_connection(value)
            if current is None:
                sd.connection = address
            else:
                current.connection = address
        elif kind == "a":
            name, sep, attr_value = value.partition(":")
            name = name.strip()
            if name in DIRECTIONS and not sep:
                if current is None:
                    session_direction = name
                else:
                    media_directions[-1] = name
            elif current is None:
                sd.attributes.append((name, attr_value if sep else None))
            else:
                _apply_media_attribute(current, name, attr_value if sep else None)
        elif current is not None:
            current.extra_lines.append((kind, value))
        elif kind == "s":
            sd.session_name = value or "-"  # RFC 4566 §5.3: never empty; RFC 4317 sends "s="
        elif kind == "t":
            sd.timing = value
        else:
            sd.extra_lines.append((kind, value))
    if sd is None:
        raise SdpError("SDP has no o= line")
    for media, direction in zip(sd.media, media_directions, strict=True):
        media.direction = direction or session_direction or "sendrecv"
    return sd


def _parse_origin(value: str) -> SessionDescription:
    parts = value.split()
    if len(parts) != 6 or not _digits(parts[1]) or not _digits(parts[2]):
        raise SdpError(f"bad o= line {value[:60]!r}")  # RFC 4566 §5.2
    return SessionDescription(int(parts[1]), int(parts[2]), parts[5], parts[0])


def _parse_connection(value: str) -> str:
    parts = value.split()
    if len(parts) != 3 or parts[0] != "IN" or parts[1] not in ("IP4", "IP6"):
        raise SdpError(f"bad c= line {value[:60]!r}")  # RFC 4566 §5.7
    return parts[2]


def _parse_media_line(value: str) -> MediaDescription:
    parts = value.split()
    if len(parts) < 3:
        raise SdpError(f"bad m= line {value[:60]!r}")  # RFC 4566 §5.14
    port_text, _, count_text = parts[1].partition("/")
    if not _digits(port_text) or int(port_text) > 65535:
        raise SdpError(f"bad port in m= line {value[:60]!r}")
    if count_text and not _digits(count_text):
        raise SdpError(f"bad port count in m= line {value[:60]!r}")
    media = MediaDescription(parts[0], int(port_text), parts[2], formats=parts[3:])
    media.port_count = int(count_text) if count_text else None
    if "RTP" in media.proto.upper():
        for fmt in media.formats:
            if not _digits(fmt) or int(fmt) > 127:
                raise SdpError(f"bad RTP payload type {fmt[:10]!r}")
            if any(c.payload_type == int(fmt) for c in media.codecs):
                continue  # listed twice: one codec, which a=rtpmap for it must describe
            name, rate = STATIC_PAYLOADS.get(int(fmt), ("", 0))
            media.codecs.append(Codec(int(fmt), name, rate))
    return media


def _apply_media_attribute(media: MediaDescription, name: str, value: str | None) -> None:
    if name == "rtpmap" and value is not None:
        codec = _codec_for(media, value)
        pieces = value.split(None, 1)[1].split("/") if " " in value.strip() else []
        encoding = pieces[0].strip() if pieces else ""
        rate = pieces[1].strip() if len(pieces) >= 2 else ""
        if codec is not None and encoding and _digits(rate):  # RFC 4566 §6: name/rate
            codec.name = encoding
            codec.clock_rate = int(rate)
            chans = pieces[2].strip() if len(pieces) > 2 else ""
            codec.channels = int(chans) if _digits(chans) else None
            return
    elif name == "fmtp" and value is not None:
        codec = _codec_for(media, value)
        if codec is not None:
            codec.fmtp = value.split(None, 1)[1] if " " in value.strip() else ""
            return
    elif name == "ptime" and value is not None:
        try:
            ptime = float(value)
        except ValueError:
            ptime = 0.0
        if 1 <= ptime < 2**31:  # milliseconds (RFC 4566 §6); not inf, nan, 0 or negative
            media.ptime = int(ptime)
            return
        # otherwise kept below as an unknown attribute: the stream is still usable
    media.attributes.append((name, value))


def _codec_for(media: MediaDescription, value: str) -> Codec | None:
    pt = value.split(None, 1)[0] if value.strip() else ""
    if not _digits(pt):
        return None
    return next((c for c in media.codecs if c.payload_type == int(pt)), None)


# ---------------------------------------------------------------- formatting


def format_sdp(sd: SessionDescription) -> bytes:
    lines = [
        "v=0",
        f"o={sd.origin_username} {sd.session_id} {sd.session_version} "
        f"IN {_addrtype(sd.origin_address)} {sd.origin_address}",
        f"s={sd.session_name or '-'}",
    ]
    extras = sorted(sd.extra_lines, key=lambda kv: _order(_SESSION_ORDER, kv[0]))
    lines += [f"{k}={v}" for k, v in extras if _order(_SESSION_ORDER, k) < 4]
    if sd.connection is not None:
        lines.append(f"c=IN {_addrtype(sd.connection)} {sd.connection}")
    lines += [f"{k}={v}" for k, v in extras if k == "b"]
    lines.append(f"t={sd.timing}")
    lines += [f"{k}={v}" for k, v in extras if _order(_SESSION_ORDER, k) > 6]
    lines += [_attr(n, v) for n, v in sd.attributes]
    for media in sd.media:
        lines += _format_media(media)
    return ("\r\n".join(lines) + "\r\n").encode("utf-8")


def _format_media(media: MediaDescription) -> list[str]:
    rtp = "RTP" in media.proto.upper()
    fmts = [str(c.payload_type) for c in media.codecs] if rtp and media.codecs else media.formats
    port = f"{media.port}/{media.port_count}" if media.port_count else str(media.port)
    lines = [" ".join(["m=" + media.media, port, media.proto, *fmts])]
    extras = sorted(media.extra_lines, key=lambda kv: _order(_MEDIA_ORDER, kv[0]))
    lines += [f"{k}={v}" for k, v in extras if k == "i"]
    if media.connection is not None:
        lines.append(f"c=IN {_addrtype(media.connection)} {media.connection}")
    lines += [f"{k}={v}" for k, v in extras if k != "i"]
    if rtp:
        for codec in media.codecs:
            if codec.name:
                lines.append(f"a=rtpmap:{codec.rtpmap()}")
            if codec.fmtp is not None:
                lines.append(f"a=fmtp:{codec.payload_type} {codec.fmtp}")
    if media.ptime is not None:
        lines.append(f"a=ptime:{media.ptime}")
    lines += [_attr(n, v) for n, v in media.attributes]
    if media.port != 0:
        lines.append(f"a={media.direction}")
    return lines


def _order(order: str, kind: str) -> int:
    index = order.find(kind)
    return index if index >= 0 else len(order)


def _addrtype(address: str) -> str:
    return "IP6" if ":" in address else "IP4"


def _attr(name: str, value: str | None) -> str:
    return f"a={name}" if value is None else f"a={name}:{value}"


# ---------------------------------------------------------------- offer/answer


_MIRROR = {"sendrecv": "sendrecv", "sendonly": "recvonly", "recvonly": "sendonly"}


def _answer_direction(offered: str, hold: bool) -> str:
    """RFC 3264 §6.1: mirror the offer; on hold we also stop sending."""
    direction = _MIRROR.get(offered, "inactive")
    if hold:
        direction = {"sendrecv": "recvonly", "sendonly": "inactive"}.get(direction, direction)
    return direction


def answer(
    offer: SessionDescription,
    *,
    local_ip: str,
    local_port: int,
    session_id: int,
    version: int,
    supported: Sequence[str] = ("PCMU", "PCMA"),
    hold: bool = False,
    srtp: bool = False,
) -> SessionDescription | None:
    """Answer one audio stream; None means no common codec (the caller sends 488).
    ``srtp``: the caller negotiated SDES keys (and adds our a=crypto), so RTP/SAVP is
    answerable too."""
    wanted = {name.upper() for name in supported}
    protos = _RTP_PROTOS + _SRTP_PROTOS if srtp else _RTP_PROTOS
    result = SessionDescription(session_id, version, local_ip, connection=local_ip)
    accepted = False
    for offered in offer.media:
        media: MediaDescription | None = None
        usable = offered.media == "audio" and offered.port != 0 and offered.proto in protos
        if usable and not accepted:
            media = _answer_audio(offered, offer.connection, local_port, wanted, hold)
        if media is None:
            # RFC 3264 §6: a rejected stream keeps its place with port 0 and a format.
            codecs = [Codec(c.payload_type, "", 0) for c in offered.codecs[:1]]
            media = MediaDescription(offered.media, 0, offered.proto, codecs)
            media.formats = offered.formats[:1] or ["0"]
        else:
            accepted = True
        result.media.append(media)
    return result if accepted else None


def _answer_audio(
    offered: MediaDescription,
    session_connection: str | None,
    local_port: int,
    wanted: set[str],
    hold: bool,
) -> MediaDescription | None:
    mono_8k = [c for c in offered.codecs if c.clock_rate == 8000 and (c.channels or 1) == 1]
    chosen = next((c for c in mono_8k if c.name.upper() in wanted), None)
    if chosen is None:
        return None
    codecs = [Codec(chosen.payload_type, chosen.name, chosen.clock_rate)]
    event = _telephone_event(offered)
    if event is not None:
        codecs.append(Codec(event.payload_type, event.name, 8000, event.fmtp or "0-15"))
    direction = _answer_direction(offered.effective_direction(session_connection), hold)
    return MediaDescription(
        "audio", local_port, offered.proto, codecs, direction, offered.ptime or 20
    )


def offer(
    *,
    local_ip: str,
    local_port: int,
    session_id: int,
    version: int,
    codecs: Sequence[str] = ("PCMU", "PCMA"),
    dtmf_pt: int | None = 101,
    direction: str = "sendrecv",
    ptime: int = 20,
) -> SessionDescription:
    if direction not in DIRECTIONS:
        raise ValueError(f"unknown direction {direction!r}")
    listed = [Codec(_PT_BY_NAME[name.upper()], name.upper(), 8000) for name in codecs]
    if dtmf_pt is not None:
        listed.append(Codec(dtmf_pt, TELEPHONE_EVENT, 8000, "0-15"))
    media = MediaDescription("audio", local_port, "RTP/AVP", listed, direction, ptime)
    return SessionDescription(session_id, version, local_ip, connection=local_ip, media=[media])


def chosen_codec(sd: SessionDescription) -> Codec | None:
    """The voice codec in use: the first listed that is neither DTMF nor comfort noise."""
    audio = sd.audio()
    if audio is None:
        return None
    skip = (TELEPHONE_EVENT, "CN")
    return next((c for c in audio.codecs if c.name not in skip), None)


def dtmf_payload_type(sd: SessionDescription) -> int | None:
    audio = sd.audio()
    event = _telephone_event(audio) if audio is not None else None
    return event.payload_type if event is not None else None


def _telephone_event(media: MediaDescription) -> Codec | None:
    """RFC 4733 events at 8 kHz (a wideband-only event PT is useless to a G.711 stream)."""
    events = [c for c in media.codecs if c.name.lower() == TELEPHONE_EVENT]
    return next((c for c in events if c.clock_rate == 8000), None)
