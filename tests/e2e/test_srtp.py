"""SRTP (SDES, RFC 4568) through the media anchor over real sockets.

1. SIPp signals a caller offering RTP/SAVP with a key of the test's; the test is the caller's
   SRTP stack (pylibsrtp on a UDP socket) and the plain agent's RTP socket: audio goes both
   ways, decrypted towards the agent, encrypted with the key the server answered with
   towards the caller, and the recording holds the plain audio.
2. baresip, a real SRTP implementation (libre's srtp module, ``mediaenc=srtp-mand``), calls
   over SIP/TLS; its 440 Hz tone reaches the plain agent's socket decrypted.
"""

from __future__ import annotations

import base64
import re
import secrets
import socket
import struct
import time
from pathlib import Path

import numpy as np
import pytest

from cti_server.rtp.g711 import ulaw_decode
from cti_server.rtp.srtp import SrtpKeys, inbound, outbound
from tests.e2e.conftest import Server, free_port
from tests.e2e.helpers import register_agent, run_sipp, wait_event
from tests.e2e.peers.baresip_secure import SecureBaresip
from tests.e2e.secure_server import secure_config, secure_server
from tests.e2e.test_media import FRAMES, check_recording, dominant, receive, server_media, tone
from tests.e2e.tls_certs import make_certs

pytestmark = pytest.mark.e2e
SCENARIO = str(Path(__file__).parent / "sipp" / "caller_srtp.xml")
SUITE = "AES_CM_128_HMAC_SHA1_80"


def udp() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", free_port()))
    return sock


def agent_with_media(tmp: Path, server: Server, user: str, rtp_sock: socket.socket) -> object:
    """A SIPp agent whose SDP names ``rtp_sock`` (PCMU): the test does its RTP."""
    agent_port = free_port()
    agent = run_sipp(
        tmp,
        "agent",
        "agent_media.xml",
        server.port,
        "-s",
        user,
        "-key",
        "rtp_port",
        str(rtp_sock.getsockname()[1]),
        "-key",
        "rtp_pt",
        "0",
        "-key",
        "rtp_codec",
        "PCMU",
        port=agent_port,
    )
    register_agent(tmp, server, user, f"pw{user}", agent_port)
    return agent


def send(sock: socket.socket, frames: list[bytes], dest: tuple[str, int], srtp: object) -> None:
    for i, payload in enumerate(frames):
        packet = (
            struct.pack("!BBHII", 0x80, 0x80 if i == 0 else 0, 500 + i, 160 * i, 0x5EC) + payload
        )
        if srtp is not None:
            packet = srtp.protect(packet)  # type: ignore[attr-defined]
        sock.sendto(packet, dest)
        time.sleep(0.02)


def test_srtp_caller_is_answered_with_a_key_and_bridged_to_a_plain_agent(
    server: Server, tmp_path: Path
) -> None:
    caller_key = secrets.token_bytes(30)
    a, b = udp(), udp()
    with a, b:
        agent = agent_with_media(tmp_path, server, "1001", b)
        caller = run_sipp(
            tmp_path,
            "caller",
            SCENARIO,
            server.port,
            "-s",
            "1001",
            "-d",
            "3000",
            "-key",
            "rtp_port",
            str(a.getsockname()[1]),
            "-key",
            "crypto_key",
            base64.b64encode(caller_key).decode(),
        )
        assert wait_event(server, "call_established"), server.log()
        time.sleep(0.2)
        answer = caller.messages().split("SIP/2.0 200 OK", 1)[1].split("\n\n\n", 1)[0]
        assert re.search(r"m=audio \d+ RTP/SAVP 0 ", answer), answer
        found = re.search(rf"a=crypto:1 {SUITE} inline:(\S+)", answer)
        assert found, answer
        server_key = base64.b64decode(found.group(1))
        assert len(server_key) == 30 and server_key != caller_key
        keys = SrtpKeys(SUITE, 1, caller_key, server_key)  # the caller's view
        to_a = server_media(caller.messages(), "SIP/2.0 200 OK")
        to_b = server_media(agent.messages(), "INVITE sip:")  # type: ignore[attr-defined]
        assert "RTP/AVP" in agent.messages().split("INVITE sip:", 1)[1]  # type: ignore[attr-defined]

        frames = tone(440.0)
        send(a, frames, to_a, outbound(keys))
        got_b = receive(b, FRAMES)
        back = tone(1000.0)
        send(b, back, to_b, None)
        got_a = receive(a, FRAMES)
        assert caller.finish() == 0, caller.explain()
        assert agent.finish() == 0, agent.explain()  # type: ignore[attr-defined]
    assert [p[12:] for p in got_b] == frames  # decrypted for the plain agent
    assert len(got_a) == FRAMES
    assert all(p[12:172] not in back for p in got_a)  # encrypted towards the caller
    session = inbound(keys)
    plain = [session.unprotect(p) for p in got_a]
    assert [p[12:] for p in plain] == back
    assert wait_event(server, "call_cleared", cause="caller_hangup"), server.log()
    check_recording(server, caller_hz=440.0, agent_hz=1000.0)


def test_srtp_offer_without_a_usable_key_is_refused_with_488(
    server: Server, tmp_path: Path
) -> None:
    with udp() as b:
        agent = agent_with_media(tmp_path, server, "1001", b)  # the route is good
    caller = run_sipp(
        tmp_path,
        "caller",
        SCENARIO,
        server.port,
        "-s",
        "1001",
        "-key",
        "rtp_port",
        str(free_port()),
        "-key",
        "crypto_key",
        base64.b64encode(b"short").decode(),
        timeout=8,
    )
    caller.finish(10)
    assert "SIP/2.0 488" in caller.messages(), caller.explain() + server.log()[-2000:]
    assert "INVITE sip:" not in agent.messages()  # type: ignore[attr-defined]


def test_baresip_calls_with_srtp_over_tls_and_the_agent_hears_its_tone(tmp_path: Path) -> None:
    certs = make_certs(tmp_path / "certs")
    with secure_server(tmp_path, secure_config(certs)) as server, udp() as b:
        agent = agent_with_media(tmp_path, server, "1002", b)
        tls_port = server.extra["tls_port"]
        phone = SecureBaresip(
            tmp_path,
            tls_port,
            "1001",
            "pw1001",
            tls_ca=certs.ca,
            mediaenc="srtp-mand",
            lifetime=8,
            commands=[f"/dial sip:1002@127.0.0.1:{tls_port};transport=tls"],
        )
        try:
            assert wait_event(server, "call_established", timeout=10), phone.log() + server.log()
            got = receive(b, 50, timeout=5)
            to_b = server_media(agent.messages(), "INVITE sip:")  # type: ignore[attr-defined]
            send(b, tone(1000.0), to_b, None)
        finally:
            phone.stop()
        agent.finish(10)  # type: ignore[attr-defined]
    log = phone.log()
    assert "SRTP is Enabled" in log, log
    assert "RTP/SAVP" in log, log
    assert "failed to decrypt" not in log, log
    assert len(got) >= 40, (len(got), log)
    audio = ulaw_decode(b"".join(p[12:] for p in got[5:])).astype(float)
    assert dominant(np.asarray(audio)) == pytest.approx(440.0, rel=0.03)
