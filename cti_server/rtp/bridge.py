"""MediaCore: the decision core of the media anchor (DESIGN.md rule 1, the media exception).

Theory of operation: every call leg gets its own RTP port. The core decides who forwards to
whom and installs that decision as a ``Route`` per leg; the UDP adapter holds the route of
each port and calls ``Route.process`` for every datagram (no dict lookup, no tick on the
forwarding path). A route rewrites SSRC/sequence/timestamp so the receiving phone sees one
continuous stream across prompt -> bridge -> transfer switches, maps payload types, and
transcodes µ-law <-> A-law with a 256-byte table when the two legs chose different codecs.
The 20 ms tick (``tick``) plays prompts, mixes and reports RTP time-outs. Symmetric RTP: the
first packet from an address other than the SDP's latches the leg to it (NAT).

Live monitoring (supervisors listening, whispering, barging in) is ``monitoring.py``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable
from dataclasses import dataclass, field

from cti_server.ids import RandomSource
from cti_server.rtp.dtmf import InbandDetector
from cti_server.rtp.g711 import ALAW_TO_ULAW, ULAW_TO_ALAW, alaw_decode, ulaw_decode
from cti_server.rtp.mixer import MixTap
from cti_server.rtp.monitoring import MONITOR_MODES, Monitor, MonitorMixing
from cti_server.rtp.packet import SequenceRewriter
from cti_server.rtp.route import (
    HDR,
    DigitReceived,
    MediaError,
    MediaEvent,
    MediaTimedOut,
    PlayFinished,
    Route,
    Stats,
)
from cti_server.rtp.srtp import SrtpKeys, apply_keys, new_key

__all__ = [
    "CODEC_PT",
    "MONITOR_MODES",
    "DigitReceived",
    "MediaCore",
    "MediaError",
    "MediaEvent",
    "MediaTimedOut",
    "PlayFinished",
    "Route",
    "Stats",
]

CODEC_PT = {"PCMU": 0, "PCMA": 8}
_PROMPT: Hashable = "prompt"  # rewriter sources of what the tick sends


@dataclass(slots=True)
class MediaLeg:
    leg_id: str
    port: int
    route: Route
    codec: str = "PCMU"
    pt: int = 0
    dtmf_pt: int | None = None
    sending: bool = True  # False while the peer put us on hold (sendonly/inactive)
    rewriter: SequenceRewriter | None = None  # numbering of everything we send this leg
    playing: deque[bytes] = field(default_factory=deque)
    play_loop: list[bytes] | None = None
    peer: str | None = None
    opened_at: float = 0.0
    inband: InbandDetector | None = None
    prompt_seq: int = 0  # the prompt source's own numbering, mapped by ``rewriter``
    prompt_ts: int = 0
    tapped: bool = False  # the recorder takes this leg's audio (``tap``/``drain_tap``)
    srtp: SrtpKeys | None = None  # SDES keys when the leg's peer negotiated SRTP


class MediaCore(MonitorMixing):
    def __init__(
        self,
        *,
        local_ip: str,
        port_min: int,
        port_max: int,
        rng: RandomSource,
        rtp_timeout: float = 60.0,
    ) -> None:
        self.local_ip = local_ip
        self.rtp_timeout = rtp_timeout
        self._rng = rng
        ports = list(range(port_min + port_min % 2, port_max, 2))
        for i in range(len(ports) - 1, 0, -1):  # shuffled: ports are not guessable in order
            j = rng.getrandbits(32) % (i + 1)
            ports[i], ports[j] = ports[j], ports[i]
        self._free: deque[int] = deque(ports)
        self.legs: dict[str, MediaLeg] = {}
        self.events: list[MediaEvent] = []
        self.opened: list[tuple[int, Route]] = []  # ports for the adapter to bind
        self.closed: list[int] = []  # ports for the adapter to release
        self.monitors: dict[str, Monitor] = {}  # supervisor leg -> what it watches
        self._hears: dict[str, frozenset[str]] = {}  # listener -> the sources mixed for it

    # --- lifecycle ----------------------------------------------------------------------

    def open(self, leg_id: str, now: float) -> int:
        if leg_id in self.legs:
            return self.legs[leg_id].port
        if not self._free:
            raise MediaError("no RTP port left")
        port = self._free.popleft()
        route = Route(leg_id, self.events)
        rng = self._rng
        rewriter = SequenceRewriter(rng.getrandbits(32), rng.getrandbits(16), rng.getrandbits(32))
        self.legs[leg_id] = MediaLeg(leg_id, port, route, rewriter=rewriter, opened_at=now)
        self.opened.append((port, route))
        return port

    def configure(
        self,
        leg_id: str,
        *,
        remote: tuple[str, int] | None,
        codec: str,
        pt: int | None = None,
        dtmf_pt: int | None = None,
        sending: bool = True,
        srtp: SrtpKeys | None = None,
    ) -> None:
        """Apply the peer's SDP: where it listens, its codec, telephone-event, direction,
        and its SRTP keys (None: plain RTP)."""
        leg = self._leg(leg_id)
        leg.srtp = apply_keys(leg.route, leg.srtp, srtp)
        usable = remote is not None and remote[0] not in ("0.0.0.0", "::") and remote[1] > 0
        if usable and not leg.route.latched:
            leg.route.remote = remote  # an address already latched from real packets wins
        leg.codec = codec
        leg.pt = CODEC_PT.get(codec, 0) if pt is None else pt
        leg.dtmf_pt = dtmf_pt
        leg.route.dtmf_pt = dtmf_pt
        leg.route.in_pt = leg.pt
        leg.sending = sending and usable
        self._rebuild(leg)
        if leg.peer:
            self._rebuild(self._leg(leg.peer))

    def new_srtp_key(self) -> bytes:
        """Our SRTP master key and salt for an SDES answer (``random.SystemRandom`` here)."""
        return new_key(self._rng)

    def close(self, leg_id: str) -> None:
        leg = self.legs.pop(leg_id, None)
        if leg is None:
            return
        if leg.peer and leg.peer in self.legs:
            other = self.legs[leg.peer]
            other.peer = None
            self._rebuild(other)
        leg.route.dest = None
        self.closed.append(leg.port)
        self._free.append(leg.port)
        if self.monitors:
            self._remix()

    # --- bridging, holding, prompts -------------------------------------------------------

    def bridge(self, a: str, b: str) -> None:
        leg_a, leg_b = self._leg(a), self._leg(b)
        for leg in (leg_a, leg_b):
            if leg.peer and leg.peer not in (a, b) and leg.peer in self.legs:
                old = self.legs[leg.peer]
                old.peer = None
                self._rebuild(old)
        leg_a.peer, leg_b.peer = b, a
        self._rebuild(leg_a)
        self._rebuild(leg_b)
        if self.monitors:
            self._remix()

    def unbridge(self, leg_id: str) -> None:
        leg = self._leg(leg_id)
        if leg.peer and leg.peer in self.legs:
            other = self.legs[leg.peer]
            other.peer = None
            self._rebuild(other)
        leg.peer = None
        self._rebuild(leg)
        if self.monitors:
            self._remix()

    def set_sending(self, leg_id: str, sending: bool) -> None:
        """Hold from the leg's side (it sent sendonly/inactive): stop sending it media."""
        leg = self._leg(leg_id)
        leg.sending = sending
        self._rebuild_peer(leg)

    def collect_digits(self, leg_id: str, on: bool) -> None:
        """Report the leg's key presses: RFC 4733 events, or in-band tones (Goertzel) when
        the peer negotiated no telephone-event (old gateways send DTMF as audio)."""
        leg = self._leg(leg_id)
        leg.route.collect = on
        inband = on and leg.dtmf_pt is None
        leg.route.inband = [] if inband else None
        leg.inband = InbandDetector() if inband else None

    def play(self, leg_id: str, frames: list[bytes], *, loop: bool = False) -> None:
        """Queue 20 ms payloads (already in the leg's codec) for playout from the tick."""
        leg = self._leg(leg_id)
        leg.playing.extend(frames)
        leg.play_loop = list(frames) if loop else None
        self._rebuild_peer(leg)  # a prompt replaces the bridged audio towards this leg

    def stop_playing(self, leg_id: str) -> None:
        leg = self._leg(leg_id)
        leg.playing.clear()
        leg.play_loop = None
        self._rebuild_peer(leg)

    def tap(self, leg_id: str, on: bool) -> None:
        leg = self._leg(leg_id)
        leg.tapped = on
        route = leg.route
        if isinstance(route.tap, MixTap):  # mixed: the tap stays, only its backlog goes
            if not on:
                route.tap.clear()
            return
        route.tap = [] if on else None

    def drain_tap(self, leg_id: str) -> list[bytes]:
        leg = self._leg(leg_id)
        route = leg.route
        if route.tap is None:
            return []
        leg.tapped = True
        if isinstance(route.tap, MixTap):
            out = list(route.tap)
            route.tap.clear()
            return out
        out, route.tap = route.tap, []
        return out

    # --- the 20 ms tick -------------------------------------------------------------------

    def tick(self, now: float) -> list[tuple[int, bytes, tuple[str, int]]]:
        """Prompt frames to send now as (from port, datagram, to address); time-outs."""
        out: list[tuple[int, bytes, tuple[str, int]]] = []
        prompted: list[str] = []
        for leg in self.legs.values():
            route = leg.route
            if leg.playing or leg.play_loop:
                if not leg.playing and leg.play_loop:
                    leg.playing.extend(leg.play_loop)
                prompted.append(leg.leg_id)
                payload = leg.playing.popleft()
                if not leg.playing and leg.play_loop is None:
                    self.events.append(PlayFinished(leg.leg_id))
                    self._rebuild_peer(leg)
                if leg.sending and route.remote is not None and leg.rewriter is not None:
                    out.append((leg.port, self._packet(leg, payload, now), route.remote))
            if route.collect:
                for digit in route.dtmf.on_timer(now):
                    self.events.append(DigitReceived(leg.leg_id, digit))
            if route.inband and leg.inband is not None:
                decode = alaw_decode if leg.codec == "PCMA" else ulaw_decode
                audio, route.inband[:] = b"".join(route.inband), []
                for digit in leg.inband.feed(decode(audio), now):
                    self.events.append(DigitReceived(leg.leg_id, digit))
            last = route.stats.last_at if route.stats.last_at is not None else leg.opened_at
            if now - last > self.rtp_timeout:
                self.events.append(MediaTimedOut(leg.leg_id))
                route.stats.last_at = now  # report once per time-out period
        if self._hears:
            out += self._mix(now, prompted)
        return out

    def drain_events(self) -> list[MediaEvent]:
        out, self.events[:] = list(self.events), []
        return out

    def stats(self, leg_id: str) -> dict[str, float]:
        return self._leg(leg_id).route.stats.snapshot()

    # --- internals ------------------------------------------------------------------------

    def _leg(self, leg_id: str) -> MediaLeg:
        try:
            return self.legs[leg_id]
        except KeyError:
            raise MediaError(f"no media for leg {leg_id}") from None

    def _rebuild_peer(self, leg: MediaLeg) -> None:
        if leg.peer and leg.peer in self.legs:
            self._rebuild(self.legs[leg.peer])

    def _rebuild(self, leg: MediaLeg) -> None:
        """Recompute the route of packets arriving from ``leg`` (towards its peer)."""
        route = leg.route
        peer = self.legs.get(leg.peer) if leg.peer else None
        if (
            peer is None
            or not peer.sending
            or peer.playing
            or peer.play_loop
            or peer.leg_id in self._hears  # the peer hears a mix made in the tick
        ):
            route.dest = None
            route.dest_leg = None
            route.rewriter = None
            return
        route.dest = peer.route
        route.dest_leg = peer.leg_id
        route.rewriter = peer.rewriter
        route.out_pt = peer.pt
        route.out_dtmf_pt = peer.dtmf_pt
        route.translate = _table(leg.codec, peer.codec)

    def _packet(
        self, leg: MediaLeg, payload: bytes, now: float, source: Hashable = _PROMPT
    ) -> bytes:
        assert leg.rewriter is not None
        leg.prompt_seq = (leg.prompt_seq + 1) & 0xFFFF
        leg.prompt_ts = (leg.prompt_ts + 160) & 0xFFFFFFFF
        first = leg.rewriter.state.source != source
        seq, ts, marker = leg.rewriter.rewrite(source, leg.prompt_seq, leg.prompt_ts, first, now)
        packet = (
            HDR.pack(0x80, leg.pt | (0x80 if marker else 0), seq, ts, leg.rewriter.state.ssrc)
            + payload
        )
        srtp = leg.route.srtp_out  # our own 20 ms frames: never too long for libsrtp
        return packet if srtp is None else srtp.protect(packet)


def _table(src: str, dst: str) -> bytes | None:
    if src == dst:
        return None
    return ULAW_TO_ALAW if (src, dst) == ("PCMU", "PCMA") else ALAW_TO_ULAW
