"""A real softphone stack (pyVoIP 1.6.8) as the agent: SHA-256/MD5 challenges, its quirks."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from tests.e2e.conftest import Server
from tests.e2e.helpers import event_field, run_sipp, wait_event
from tests.e2e.peers.pyvoip_phone import PyVoipAgent

pytestmark = pytest.mark.e2e


def _challenges_for(server: Server, user: str) -> list[str]:
    """The WWW-Authenticate values a credential-less REGISTER for ``user`` gets."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.bind(("127.0.0.1", 0))
        udp.settimeout(3)
        port = udp.getsockname()[1]
        udp.sendto(
            (
                f"REGISTER sip:127.0.0.1:{server.port} SIP/2.0\r\n"
                f"Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK-probe-{port}\r\n"
                f"From: <sip:{user}@127.0.0.1>;tag=probe\r\nTo: <sip:{user}@127.0.0.1>\r\n"
                f"Call-ID: probe-{port}@127.0.0.1\r\nCSeq: 1 REGISTER\r\n"
                f"Contact: <sip:{user}@127.0.0.1:{port}>\r\nMax-Forwards: 70\r\n"
                "Content-Length: 0\r\n\r\n"
            ).encode(),
            ("127.0.0.1", server.port),
        )
        data = udp.recv(65535).decode()
    assert data.startswith("SIP/2.0 401 "), data
    return [
        line.split(":", 1)[1].strip()
        for line in data.split("\r\n")
        if line.lower().startswith("www-authenticate:")
    ]


def test_pyvoip_agent_registers_with_md5_and_answers_a_trunk_call(
    server: Server, tmp_path: Path
) -> None:
    # 1003 is challenged with SHA-256 then MD5; pyVoIP keeps the last WWW-Authenticate it
    # parses and only knows MD5 without qop, so registering proves both are accepted.
    offered = _challenges_for(server, "1003")
    assert [c.rsplit("algorithm=", 1)[1] for c in offered] == ["SHA-256", "MD5"], offered
    phone = PyVoipAgent(server.port, "1003", "pw1003")
    phone.start()
    try:
        (registered,) = wait_event(server, "agent_registered", agent_id="1003")
        assert f"@127.0.0.1:{phone.sip_port}" in (event_field(registered, "contact") or "")
        # pyVoIP answers ~1 s after the INVITE; the caller then talks 1 s and hangs up.
        caller = run_sipp(tmp_path, "caller", "caller.xml", server.port, "-s", "1003", "-d", "1000")
        assert caller.finish() == 0, caller.explain()
        assert phone.ended.wait(10), phone.seen
    finally:
        phone.stop()
    assert not phone.errors, phone.errors
    assert phone.seen == ["ringing from=01012345678", "answered", "state=ENDED"], phone.seen
    assert wait_event(server, "call_established", agent_id="1003"), server.log()
    assert wait_event(server, "call_cleared", cause="caller_hangup", agent_id="1003")
    assert wait_event(server, "agent_unregistered", agent_id="1003", reason="unregistered")
    assert not server.events("authentication_failed")
