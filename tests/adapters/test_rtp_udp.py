"""The RTP adapter on the real reactor and real loopback sockets.

SIPp's RFC 2833 captures are replayed over UDP into an anchored leg: the digits come out
once each and in order; a bridged pair relays a stream and the tick plays a prompt.
"""

from __future__ import annotations

import random
import socket
import struct

import pytest
import pytest_twisted
from twisted.internet import task

from cti_server.adapters.rtp_udp import MediaService
from cti_server.rtp.bridge import DigitReceived, MediaCore, MediaEvent
from tests.fixtures.rtp.pcap import SIPP_PCAPS, udp_payloads


def even_free_port() -> int:
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1]) & ~1
        try:
            with (
                socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as a,
                socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as b,
            ):
                a.bind(("127.0.0.1", port))
                b.bind(("127.0.0.1", port + 2))
        except OSError:
            continue
        return port
    raise RuntimeError("no free even port")


def reactor() -> object:
    from twisted.internet import reactor as r

    return r


def service_with_legs(events: list[MediaEvent]) -> MediaService:
    base = even_free_port()
    core = MediaCore(local_ip="127.0.0.1", port_min=base, port_max=base + 4, rng=random.Random(1))
    r = reactor()
    return MediaService(core, r, r, events.extend)  # type: ignore[arg-type]


@pytest.mark.skipif(not (SIPP_PCAPS / "dtmf_2833_1.pcap").exists(), reason="SIPp not installed")
@pytest_twisted.ensureDeferred
async def test_rfc2833_captures_replayed_over_udp_give_each_digit_once() -> None:
    events: list[MediaEvent] = []
    service = service_with_legs(events)
    core = service.core
    port = core.open("caller", 0.0)
    core.configure("caller", remote=None, codec="PCMU", dtmf_pt=101)
    core.collect_digits("caller", True)
    service.sync_ports()
    service.start()
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            for name in ("1", "5", "9", "star", "pound"):  # the captures' timestamp order
                for _, payload in udp_payloads(SIPP_PCAPS / f"dtmf_2833_{name}.pcap"):
                    sock.sendto(payload, ("127.0.0.1", port))
                    await task.deferLater(reactor(), 0.001, lambda: None)  # type: ignore[arg-type]
                await task.deferLater(reactor(), 0.05, lambda: None)  # type: ignore[arg-type]
            await task.deferLater(reactor(), 0.4, lambda: None)  # type: ignore[arg-type]
    finally:
        service.stop()
    assert [e.digit for e in events if isinstance(e, DigitReceived)] == ["1", "5", "9", "*", "#"]


@pytest_twisted.ensureDeferred
async def test_bridged_legs_relay_and_the_tick_plays_prompts() -> None:
    events: list[MediaEvent] = []
    service = service_with_legs(events)
    core = service.core
    with (
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as phone_a,
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as phone_b,
    ):
        phone_a.bind(("127.0.0.1", 0))
        phone_b.bind(("127.0.0.1", 0))
        port_a = core.open("a", 0.0)
        core.open("b", 0.0)
        core.configure("a", remote=phone_a.getsockname(), codec="PCMU")
        core.configure("b", remote=phone_b.getsockname(), codec="PCMU")
        core.bridge("a", "b")
        service.sync_ports()
        service.start()
        try:
            for i in range(10):
                pkt = struct.pack("!BBHII", 0x80, 0, i, 160 * i, 99) + b"\x55" * 160
                phone_a.sendto(pkt, ("127.0.0.1", port_a))
            core.play("a", [b"\xff" * 160] * 3)
            await task.deferLater(reactor(), 0.3, lambda: None)  # type: ignore[arg-type]
        finally:
            service.stop()
        phone_b.settimeout(1)
        relayed = [phone_b.recv(2048) for _ in range(10)]
        phone_a.settimeout(1)
        prompt = [phone_a.recv(2048) for _ in range(3)]
    assert all(p[12:] == b"\x55" * 160 for p in relayed)
    assert all(p[12:] == b"\xff" * 160 for p in prompt)
