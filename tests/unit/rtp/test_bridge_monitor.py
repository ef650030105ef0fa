"""MediaCore live monitoring on float time: who hears whom, recording taps unchanged, and the
direct forward back once the supervisor leaves."""

from __future__ import annotations

import random
import struct

import numpy as np
import pytest

from cti_server.rtp.bridge import MediaCore, MediaError
from cti_server.rtp.g711 import alaw_encode, ulaw_encode
from cti_server.rtp.mixer import MixTap, decode
from cti_server.rtp.packet import parse_rtp

C_ADDR = ("192.0.2.1", 4000)  # the customer
A_ADDR = ("192.0.2.2", 5000)  # the agent
S_ADDR = ("192.0.2.3", 6000)  # the supervisor
ADDR = {"c": C_ADDR, "a": A_ADDR, "s": S_ADDR}
LEVEL = {"c": 1000, "a": 2000, "s": 4000}  # each party "says" a constant level


def payload(who: str, codec: str = "PCMU") -> bytes:
    pcm = np.full(160, LEVEL[who], dtype=np.int16)
    return ulaw_encode(pcm) if codec == "PCMU" else alaw_encode(pcm)


def rtp(seq: int, data: bytes, pt: int = 0) -> bytes:
    return struct.pack("!BBHII", 0x80, pt, seq, 160 * seq, 9) + data


def call(codec_s: str = "PCMU") -> MediaCore:
    m = MediaCore(local_ip="127.0.0.1", port_min=20000, port_max=20020, rng=random.Random(3))
    for leg in "cas":
        m.open(leg, 0.0)
        m.configure(leg, remote=ADDR[leg], codec=codec_s if leg == "s" else "PCMU")
    m.bridge("c", "a")
    return m


def talk(m: MediaCore, seq: int, now: float) -> dict[str, str | None]:
    """Each party sends one frame; where each forwarded datagram went (leg or None)."""
    out: dict[str, str | None] = {}
    for who in "cas":
        leg = m.legs[who]
        sent = leg.route.process(rtp(seq, payload(who, leg.codec), leg.pt), ADDR[who], now)
        route = leg.route
        out[who] = route.dest_leg if sent is not None else None
    return out


def heard(m: MediaCore, now: float) -> dict[str, float]:
    """What the tick sent to each leg, as the mean level of the decoded frame."""
    by_port = {leg.port: name for name, leg in m.legs.items()}
    got: dict[str, float] = {}
    for port, data, addr in m.tick(now):
        name = by_port[port]
        assert addr == ADDR[name]
        pkt = parse_rtp(data)
        got[name] = float(decode(pkt.payload, m.legs[name].codec).mean())
    return got


def test_listen_the_supervisor_hears_both_the_parties_still_talk_directly() -> None:
    m = call()
    m.monitor("s", "a", "listen")
    assert talk(m, 1, 0.0) == {"c": "a", "a": "c", "s": None}
    got = heard(m, 0.02)
    assert set(got) == {"s"}
    assert got["s"] == pytest.approx(3000, rel=0.05)  # customer + agent


def test_whisper_reaches_the_agent_only() -> None:
    m = call()
    m.monitor("s", "a", "whisper")
    # the customer's audio now reaches the agent through the mix; the agent's still directly
    assert talk(m, 1, 0.0) == {"c": None, "a": "c", "s": None}
    got = heard(m, 0.02)
    assert set(got) == {"s", "a"}  # nothing from the tick to the customer
    assert got["a"] == pytest.approx(5000, rel=0.05)  # customer + supervisor
    assert got["s"] == pytest.approx(3000, rel=0.05)


def test_barge_everyone_hears_the_two_others() -> None:
    m = call(codec_s="PCMA")
    m.monitor("s", "a", "barge")
    assert talk(m, 1, 0.0) == {"c": None, "a": None, "s": None}
    got = heard(m, 0.02)
    assert got["c"] == pytest.approx(6000, rel=0.05)
    assert got["a"] == pytest.approx(5000, rel=0.05)
    assert got["s"] == pytest.approx(3000, rel=0.05)  # encoded in the supervisor's A-law


def test_switching_modes_and_leaving_restore_the_direct_forward() -> None:
    m = call()
    m.monitor("s", "a", "barge")
    m.monitor("s", "a", "listen")
    assert talk(m, 1, 0.0) == {"c": "a", "a": "c", "s": None}
    m.unmonitor("s")
    assert m.hears("s") == frozenset() and m.monitors == {}
    assert talk(m, 2, 0.02) == {"c": "a", "a": "c", "s": None}
    assert heard(m, 0.04) == {}
    assert all(m.legs[leg].route.tap is None for leg in "cas")  # the fast path again


def test_recording_taps_keep_what_each_party_sends() -> None:
    m = call()
    m.tap("c", True)
    m.tap("a", True)
    talk(m, 1, 0.0)
    m.monitor("s", "a", "barge")
    assert isinstance(m.legs["c"].route.tap, MixTap)
    talk(m, 2, 0.01)
    heard(m, 0.02)
    assert m.drain_tap("c") == [payload("c")] * 2  # the frame before the monitor is kept
    assert m.drain_tap("a") == [payload("a")] * 2  # not the supervisor's whisper
    m.unmonitor("s")
    talk(m, 3, 0.03)
    assert type(m.legs["c"].route.tap) is list and m.drain_tap("c") == [payload("c")]


def test_an_unrecorded_mixed_leg_keeps_a_bounded_tap() -> None:
    m = call()
    m.monitor("s", "a", "listen")
    for i in range(80):
        talk(m, i, i * 0.02)
        heard(m, i * 0.02 + 0.01)
    tap = m.legs["c"].route.tap
    assert isinstance(tap, MixTap) and len(tap) <= 50


def test_a_held_customer_hears_music_and_the_agent_only_the_supervisor() -> None:
    m = call()
    m.monitor("s", "a", "barge")
    m.unbridge("c")  # desk hold: customer unbridged, music on hold
    m.play("c", [b"\x7f" * 160], loop=True)
    talk(m, 1, 0.0)
    got = heard(m, 0.02)
    assert m.hears("a") == {"s"} and m.hears("s") == {"a"}
    assert got["a"] == pytest.approx(4000, rel=0.05)
    assert got["s"] == pytest.approx(2000, rel=0.05)
    m.stop_playing("c")
    m.bridge("c", "a")
    assert m.hears("c") == {"s", "a"}


def test_a_closed_leg_ends_the_monitor_and_bad_requests_are_refused() -> None:
    m = call()
    with pytest.raises(MediaError):
        m.monitor("s", "a", "shout")
    with pytest.raises(MediaError):
        m.monitor("s", "nope", "listen")
    with pytest.raises(MediaError):
        m.monitor("a", "a", "listen")
    m.monitor("s", "a", "listen")
    with pytest.raises(MediaError):
        m.monitor("c", "a", "listen")  # one supervisor per agent
    m.close("a")
    assert m.monitors == {} and m.hears("s") == frozenset()
    assert m.legs["c"].route.tap is None
