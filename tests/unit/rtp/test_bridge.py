"""MediaCore and Route on float time: forwarding, rewriting, transcoding, prompts, DTMF."""

from __future__ import annotations

import random
import struct

import pytest

from cti_server.rtp.bridge import (
    DigitReceived,
    MediaCore,
    MediaError,
    MediaTimedOut,
    PlayFinished,
)
from cti_server.rtp.dtmf import DtmfSender
from cti_server.rtp.g711 import ULAW_TO_ALAW
from cti_server.rtp.packet import parse_rtp

A_ADDR = ("192.0.2.1", 4000)
B_ADDR = ("192.0.2.2", 5000)


def rtp(
    seq: int,
    ts: int,
    payload: bytes = b"\x11" * 160,
    pt: int = 0,
    ssrc: int = 77,
    marker: bool = False,
) -> bytes:
    return struct.pack("!BBHII", 0x80, pt | (0x80 if marker else 0), seq, ts, ssrc) + payload


def core(**kw: object) -> MediaCore:
    return MediaCore(
        local_ip="127.0.0.1", port_min=20000, port_max=20010, rng=random.Random(5), **kw
    )  # type: ignore[arg-type]


def bridged(codec_b: str = "PCMU") -> MediaCore:
    m = core()
    m.open("a", 0.0)
    m.open("b", 0.0)
    m.configure("a", remote=A_ADDR, codec="PCMU", dtmf_pt=101)
    m.configure("b", remote=B_ADDR, codec=codec_b, dtmf_pt=96)
    m.bridge("a", "b")
    return m


def test_ports_are_even_distinct_and_reused_after_close() -> None:
    m = core()
    ports = [m.open(f"l{i}", 0.0) for i in range(5)]
    assert len(set(ports)) == 5 and all(p % 2 == 0 and 20000 <= p < 20010 for p in ports)
    with pytest.raises(MediaError):
        m.open("l5", 0.0)
    m.close("l2")
    assert m.open("l6", 0.0) == ports[2]
    assert [p for p, _ in m.opened][:5] == ports and m.closed == [ports[2]]


def test_bridge_forwards_with_the_destination_numbering() -> None:
    m = bridged()
    route_a = m.legs["a"].route
    outs = [route_a.process(rtp(1000 + i, 8000 + 160 * i), A_ADDR, i * 0.02) for i in range(3)]
    pkts = [parse_rtp(o) for o in outs if o is not None]
    assert len(pkts) == 3
    assert {p.ssrc for p in pkts} == {m.legs["b"].rewriter.state.ssrc}  # type: ignore[union-attr]
    assert [p.sequence - pkts[0].sequence for p in pkts] == [0, 1, 2]
    assert [p.timestamp - pkts[0].timestamp for p in pkts] == [0, 160, 320]
    assert pkts[0].marker and not pkts[1].marker
    assert m.stats("a")["received"] == 3


def test_transcoding_and_payload_type_mapping() -> None:
    m = bridged(codec_b="PCMA")
    out = m.legs["a"].route.process(rtp(1, 160, bytes(range(160))), A_ADDR, 0.0)
    pkt = parse_rtp(out)  # type: ignore[arg-type]
    assert pkt.payload_type == 8
    assert pkt.payload == bytes(range(160)).translate(ULAW_TO_ALAW)
    dtmf = m.legs["a"].route.process(rtp(2, 320, b"\x05\x0a\x00\xa0", pt=101), A_ADDR, 0.02)
    assert parse_rtp(dtmf).payload_type == 96  # type: ignore[arg-type]


def test_symmetric_rtp_latches_once_then_drops_foreign_sources() -> None:
    m = bridged()
    route = m.legs["a"].route
    nat = ("203.0.113.9", 31000)
    assert route.process(rtp(1, 160), nat, 0.0) is not None
    assert route.remote == nat
    m.configure("a", remote=A_ADDR, codec="PCMU")  # a later SDP does not undo the latch
    assert route.remote == nat
    assert route.process(rtp(2, 320), ("198.51.100.1", 1), 0.02) is None
    assert route.stats.dropped_foreign == 1


def test_garbage_and_rtcp_are_not_forwarded() -> None:
    route = bridged().legs["a"].route
    for junk in (b"", b"\x80\x00", b"\x00" * 40, b"\x80\xc8" + b"\x00" * 30):
        assert route.process(junk, A_ADDR, 0.0) is None
    assert route.stats.dropped_bad == 3


def test_hold_stops_sending_to_the_held_side_only() -> None:
    m = bridged()
    m.set_sending("b", False)
    assert m.legs["a"].route.process(rtp(1, 160), A_ADDR, 0.0) is None
    assert m.legs["b"].route.process(rtp(1, 160), B_ADDR, 0.0) is not None
    m.set_sending("b", True)
    assert m.legs["a"].route.process(rtp(2, 320), A_ADDR, 0.02) is not None


def test_prompt_playout_is_one_frame_per_tick_then_bridge_resumes_continuously() -> None:
    m = bridged()
    m.play("b", [b"\xff" * 160] * 3)
    assert m.legs["a"].route.process(rtp(1, 160), A_ADDR, 0.0) is None  # prompt has the leg
    sent = [m.tick(0.02 * i) for i in range(1, 5)]
    assert [len(s) for s in sent] == [1, 1, 1, 0]
    port, _data, addr = sent[0][0]
    assert port == m.legs["b"].port and addr == B_ADDR
    prompt_pkts = [parse_rtp(s[0][1]) for s in sent[:3]]
    assert PlayFinished("b") in m.drain_events()
    bridged_pkt = parse_rtp(m.legs["a"].route.process(rtp(50, 9999), A_ADDR, 0.1))  # type: ignore[arg-type]
    seqs = [p.sequence for p in prompt_pkts] + [bridged_pkt.sequence]
    assert [(s - seqs[0]) & 0xFFFF for s in seqs] == [0, 1, 2, 3]
    assert bridged_pkt.marker and bridged_pkt.ssrc == prompt_pkts[0].ssrc


def test_rfc4733_digits_are_collected_once() -> None:
    m = bridged()
    m.collect_digits("a", True)
    route = m.legs["a"].route
    for i, (payload, marker, _) in enumerate(DtmfSender().packets_for_digit("7")):
        route.process(rtp(10 + i, 48000, payload, pt=101, marker=marker), A_ADDR, i * 0.02)
    assert m.drain_events() == [DigitReceived("a", "7")]


def test_silence_past_the_rtp_timeout_is_reported_once() -> None:
    m = bridged()
    m.legs["a"].route.process(rtp(1, 160), A_ADDR, 1.0)
    m.legs["b"].route.process(rtp(1, 160), B_ADDR, 1.0)
    m.tick(60.0)
    assert m.drain_events() == []
    m.tick(61.5)
    assert set(m.drain_events()) == {MediaTimedOut("a"), MediaTimedOut("b")}
    m.tick(62.0)
    assert m.drain_events() == []


def test_transfer_rebridges_without_breaking_the_numbering() -> None:
    m = bridged()
    m.open("c", 0.0)
    m.configure("c", remote=("192.0.2.3", 6000), codec="PCMU")
    before = parse_rtp(m.legs["b"].route.process(rtp(1, 160), B_ADDR, 0.0))  # type: ignore[arg-type]
    m.bridge("a", "c")
    m.close("b")
    assert m.legs["a"].peer == "c"
    after = parse_rtp(m.legs["c"].route.process(rtp(500, 777), ("192.0.2.3", 6000), 0.02))  # type: ignore[arg-type]
    assert after.ssrc == before.ssrc and after.sequence == (before.sequence + 1) & 0xFFFF


def test_header_extension_and_padding_never_reach_the_other_phone_as_audio() -> None:
    m = bridged()
    route = m.legs["a"].route
    route.process(rtp(1, 160), A_ADDR, 0.0)  # the first packet sets the numbering
    ext = struct.pack("!HH", 0xBEDE, 1) + b"\x10\xaa\x00\x00"  # RFC 8285 one-byte header
    padded = b"\x55" * 160 + b"\x00\x00\x03"  # three padding octets, the last counts them
    with_ext = struct.pack("!BBHII", 0x90, 0, 2, 320, 77) + ext + b"\x55" * 160
    with_pad = struct.pack("!BBHII", 0xA0, 0, 3, 480, 77) + padded
    for data in (with_ext, with_pad):
        out = route.process(data, A_ADDR, 0.02)
        assert out is not None and out[0] == 0x80 and out[12:] == b"\x55" * 160
    broken = struct.pack("!BBHII", 0x90, 0, 4, 640, 77) + struct.pack("!HH", 0xBEDE, 50)
    assert route.process(broken, A_ADDR, 0.04) is None


def test_in_band_tones_become_digits_when_no_telephone_event_was_negotiated() -> None:
    import numpy as np

    from cti_server.rtp.g711 import ulaw_encode

    m = core()
    m.open("gw", 0.0)
    m.configure("gw", remote=A_ADDR, codec="PCMU", dtmf_pt=None)  # an old gateway
    m.collect_digits("gw", True)
    route = m.legs["gw"].route
    t = np.arange(160 * 6) / 8000.0
    tone = 6000 * (np.sin(2 * np.pi * 770 * t) + np.sin(2 * np.pi * 1336 * t)) / 2
    audio = ulaw_encode(tone.astype(np.int16)) + ulaw_encode(np.zeros(160 * 6, np.int16))
    events = []
    for i in range(12):
        route.process(rtp(i, 160 * i, audio[i * 160 : (i + 1) * 160]), A_ADDR, i * 0.02)
        m.tick(i * 0.02 + 0.01)
        events += m.drain_events()
    assert events == [DigitReceived("gw", "5")]


def test_a_payload_type_nobody_negotiated_is_dropped_and_counted() -> None:
    m = bridged()
    route = m.legs["a"].route
    assert route.process(rtp(1, 160, pt=18), A_ADDR, 0.0) is None  # G.729, not offered
    assert route.stats.dropped_bad == 1
    assert route.process(rtp(2, 320, pt=0), A_ADDR, 0.02) is not None
