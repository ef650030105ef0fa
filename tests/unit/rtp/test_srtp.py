"""SRTP on a leg's route: decrypt what the SDES peer sends, encrypt what we send it, and the
plain leg on the other side of the bridge sees ordinary RTP (float time, no sockets)."""

from __future__ import annotations

import random
import struct

import pylibsrtp
import pytest

from cti_server.rtp.bridge import MediaCore
from cti_server.rtp.packet import parse_rtp
from cti_server.rtp.srtp import KEY_LENGTH, SrtpKeys, inbound, new_key, outbound

A_ADDR = ("192.0.2.1", 4000)  # the SRTP caller
B_ADDR = ("192.0.2.2", 5000)  # the plain agent
PEER_KEY = bytes(range(KEY_LENGTH))  # what the caller announced in its a=crypto


def rtp(seq: int, payload: bytes = b"\x11" * 160, ssrc: int = 77) -> bytes:
    return struct.pack("!BBHII", 0x80, 0, seq, 160 * seq, ssrc) + payload


def bridged(suite: str = "AES_CM_128_HMAC_SHA1_80") -> tuple[MediaCore, SrtpKeys]:
    media = MediaCore(local_ip="127.0.0.1", port_min=20000, port_max=20010, rng=random.Random(5))
    media.open("a", 0.0)
    media.open("b", 0.0)
    keys = SrtpKeys(suite, 1, media.new_srtp_key(), PEER_KEY)
    media.configure("a", remote=A_ADDR, codec="PCMU", srtp=keys)
    media.configure("b", remote=B_ADDR, codec="PCMU")
    media.bridge("a", "b")
    return media, keys


def caller_side(keys: SrtpKeys) -> tuple[pylibsrtp.Session, pylibsrtp.Session]:
    """The caller's own sessions: it encrypts with its key and decrypts with ours."""
    mirrored = SrtpKeys(keys.suite, keys.tag, keys.remote, keys.local)
    return outbound(mirrored), inbound(mirrored)


@pytest.mark.parametrize("suite", ["AES_CM_128_HMAC_SHA1_80", "AES_CM_128_HMAC_SHA1_32"])
def test_srtp_leg_is_decrypted_towards_the_plain_leg_and_encrypted_back(suite: str) -> None:
    media, keys = bridged(suite)
    send, receive = caller_side(keys)
    a, b = media.legs["a"].route, media.legs["b"].route
    for seq in range(5):
        secret = send.protect(rtp(seq, bytes([seq]) * 160))
        assert secret[12:172] != bytes([seq]) * 160  # really encrypted
        out = a.process(secret, A_ADDR, seq * 0.02)
        assert out is not None and len(out) == 172  # plain RTP to the agent
        assert parse_rtp(out).payload == bytes([seq]) * 160
        back = b.process(rtp(seq, b"\x22" * 160, ssrc=99), B_ADDR, seq * 0.02)
        assert back is not None and back[12:172] != b"\x22" * 160
        plain = receive.unprotect(back)
        assert parse_rtp(plain).payload == b"\x22" * 160
    assert a.stats.received == 5 and a.stats.dropped_bad == 0


def test_forged_replayed_and_plain_packets_are_dropped_and_counted() -> None:
    media, keys = bridged()
    send, _ = caller_side(keys)
    a = media.legs["a"].route
    good = send.protect(rtp(1))
    assert a.process(good, A_ADDR, 0.0) is not None
    assert a.process(good, A_ADDR, 0.02) is None  # replayed
    forged = bytearray(send.protect(rtp(2)))
    forged[20] ^= 1
    assert a.process(bytes(forged), A_ADDR, 0.04) is None
    assert a.process(rtp(3), A_ADDR, 0.06) is None  # plain RTP on an SRTP leg
    assert a.stats.dropped_bad == 3
    rtcp = struct.pack("!BBH", 0x80, 200, 6) + b"\0" * 24  # SRTCP would start like RTCP
    assert a.process(rtcp, A_ADDR, 0.08) is None
    assert a.stats.dropped_bad == 3


def test_prompts_to_an_srtp_leg_are_encrypted() -> None:
    media, keys = bridged()
    _, receive = caller_side(keys)
    media.unbridge("a")
    media.play("a", [b"\x33" * 160, b"\x44" * 160])
    sent = media.tick(0.02) + media.tick(0.04)
    assert [s[2] for s in sent] == [A_ADDR, A_ADDR]
    payloads = [parse_rtp(receive.unprotect(s[1])).payload for s in sent]
    assert payloads == [b"\x33" * 160, b"\x44" * 160]


def test_a_reoffer_with_the_same_keys_keeps_the_sessions() -> None:
    media, keys = bridged()
    route = media.legs["a"].route
    sessions = (route.srtp_in, route.srtp_out)
    media.configure("a", remote=A_ADDR, codec="PCMU", srtp=keys, sending=False)
    assert (route.srtp_in, route.srtp_out) == sessions
    rekeyed = SrtpKeys(keys.suite, keys.tag, keys.local, bytes(KEY_LENGTH))
    media.configure("a", remote=A_ADDR, codec="PCMU", srtp=rekeyed)
    assert route.srtp_in is not sessions[0] and route.srtp_out is sessions[1]
    media.configure("a", remote=A_ADDR, codec="PCMU")  # back to plain RTP
    assert route.srtp_in is None and route.srtp_out is None


def test_keys_are_checked_and_kept_out_of_repr() -> None:
    keys = SrtpKeys("AES_CM_128_HMAC_SHA1_80", 3, b"k" * 30, b"r" * 30)
    assert "kkk" not in repr(keys) and "rrr" not in repr(keys)
    with pytest.raises(ValueError, match="suite"):
        SrtpKeys("F8_128_HMAC_SHA1_80", 1, b"k" * 30, b"r" * 30)
    with pytest.raises(ValueError, match="30 bytes"):
        SrtpKeys("AES_CM_128_HMAC_SHA1_80", 1, b"k" * 16, b"r" * 30)
    rng = random.Random(1)
    assert len(new_key(rng)) == KEY_LENGTH and new_key(rng) != new_key(rng)
