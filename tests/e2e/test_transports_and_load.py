"""OPTIONS pings, SIP over TCP, and a burst of calls through the number plan's URI route."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest

from tests.e2e.conftest import Server, free_port
from tests.e2e.helpers import register_agent, run_sipp, server_with, wait_event

pytestmark = pytest.mark.e2e


def _options(transport: str, port: int, local_port: int) -> bytes:
    return (
        f"OPTIONS sip:127.0.0.1:{port} SIP/2.0\r\n"
        f"Via: SIP/2.0/{transport} 127.0.0.1:{local_port};branch=z9hG4bK-ping-{transport}\r\n"
        f"From: <sip:monitor@127.0.0.1>;tag=ping1\r\n"
        f"To: <sip:127.0.0.1:{port}>\r\n"
        f"Call-ID: ping-{transport}-{local_port}@127.0.0.1\r\n"
        "CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    ).encode()


def _check_options_answer(data: bytes, transport: str) -> None:
    head = data.decode("utf-8", "replace")
    assert head.startswith("SIP/2.0 200 "), head
    assert f"Call-ID: ping-{transport}-" in head, head
    allow = next(line for line in head.split("\r\n") if line.lower().startswith("allow:"))
    assert {"INVITE", "ACK", "BYE", "CANCEL", "OPTIONS"} <= {
        m.strip() for m in allow.split(":", 1)[1].split(",")
    }, allow


def test_options_ping_over_udp_and_tcp(server: Server) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.bind(("127.0.0.1", 0))
        udp.settimeout(3)
        udp.sendto(_options("UDP", server.port, udp.getsockname()[1]), ("127.0.0.1", server.port))
        data, source = udp.recvfrom(65535)
    assert source == ("127.0.0.1", server.port)
    _check_options_answer(data, "UDP")

    with socket.create_connection(("127.0.0.1", server.port), timeout=3) as tcp:
        tcp.sendall(_options("TCP", server.port, tcp.getsockname()[1]))
        received = b""
        while b"\r\n\r\n" not in received:
            chunk = tcp.recv(65535)
            assert chunk, received
            received += chunk
    _check_options_answer(received, "TCP")


def test_call_from_a_tcp_trunk_to_a_udp_agent(server: Server, tmp_path: Path) -> None:
    agent_port = free_port()
    agent = run_sipp(
        tmp_path, "agent", "agent_answer.xml", server.port, "-s", "1001", port=agent_port
    )
    register_agent(tmp_path, server, "1001", "pw1001", agent_port)
    caller = run_sipp(
        tmp_path, "caller", "caller.xml", server.port, "-s", "1001", "-d", "300", transport="t1"
    )
    assert caller.finish() == 0, caller.explain()
    assert agent.finish() == 0, agent.explain()
    assert wait_event(server, "call_cleared", cause="caller_hangup", agent_id="1001")
    assert len(server.events("call_established")) == 1
    # The caller's side really was TCP, the agent's UDP.
    assert "TCP message received" in caller.messages(), caller.explain()
    assert "UDP message received" in agent.messages(), agent.explain()


def test_tcp_agent_is_reached_after_its_register_connection_closed(tmp_path: Path) -> None:
    with server_with(tmp_path, ring_timeout=2) as server:
        agent_port = free_port()
        agent = run_sipp(
            tmp_path,
            "agent",
            "agent_answer.xml",
            server.port,
            "-s",
            "1001",
            port=agent_port,
            transport="t1",
            timeout=4,
        )
        # SIPp registers over its own TCP connection and closes it when it exits; the
        # Contact (;transport=TCP) names the agent's listening port.
        reg = run_sipp(
            tmp_path,
            "register",
            "register.xml",
            server.port,
            "-s",
            "1001",
            "-au",
            "1001",
            "-ap",
            "pw1001",
            "-key",
            "contact_port",
            str(agent_port),
            transport="t1",
            timeout=5,
        )
        assert reg.finish() == 0, reg.explain()
        assert wait_event(server, "agent_registered", agent_id="1001")
        caller = run_sipp(
            tmp_path, "caller", "caller.xml", server.port, "-s", "1001", "-d", "300", timeout=6
        )
        caller_rc = caller.finish()
        agent_rc = agent.finish(6)
        assert caller_rc == 0 and agent_rc == 0, caller.explain() + agent.explain()
        assert wait_event(server, "call_cleared", cause="caller_hangup", agent_id="1001")


def test_unreachable_tcp_contact_fails_the_call_at_once(tmp_path: Path) -> None:
    with server_with(tmp_path, ring_timeout=2) as server:
        dead_port = free_port()  # nothing listens there, on TCP or UDP
        reg = run_sipp(
            tmp_path,
            "register",
            "register_contact.xml",
            server.port,
            "-s",
            "1001",
            "-au",
            "1001",
            "-ap",
            "pw1001",
            "-key",
            "contact_uri",
            f"sip:1001@127.0.0.1:{dead_port};transport=tcp",
            timeout=5,
        )
        assert reg.finish() == 0, reg.explain()
        started = time.monotonic()
        caller = run_sipp(
            tmp_path, "caller", "caller_rejected.xml", server.port, "-s", "1001", timeout=8
        )
        assert caller.finish() == 0, caller.explain()
        elapsed = time.monotonic() - started
        assert "final=503" in caller.logs() or "final=480" in caller.logs(), caller.explain()
        assert elapsed < 1.5, f"caller waited {elapsed:.1f} s for its failure answer"


def test_hundred_calls_at_twenty_per_second_through_uri_route(
    server: Server, tmp_path: Path
) -> None:
    calls = 100
    uas = run_sipp(
        tmp_path,
        "uas",
        "",
        server.port,
        "-sn",
        "uas",
        port=server.extra["uas_port"],
        calls=calls,
        timeout=30,
        trace=False,
    )
    uac = run_sipp(
        tmp_path,
        "uac",
        "",
        server.port,
        "-sn",
        "uac",
        "-s",
        "9123",
        "-r",
        "20",
        "-d",
        "500",
        "-trace_stat",
        "-stf",
        str(tmp_path / "uac_stat.csv"),
        calls=calls,
        timeout=30,
        trace=False,
    )
    assert uac.finish(40) == 0, uac.explain() + server.log()[-3000:]
    assert uas.finish(10) == 0, uas.explain()
    cleared = wait_event(server, "call_cleared", count=calls, cause="caller_hangup")
    assert len(cleared) == calls, server.log()[-3000:]
    assert len(server.events("call_established")) == calls
    assert not server.events("call_failed")
    delivered = server.events("call_delivered")
    assert len(delivered) == calls
    assert all("route=uri:sip:123@127.0.0.1:" in line for line in delivered), delivered[0]
