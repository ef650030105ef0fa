"""SIP over TLS end to end: the listener, its certificate, calls in and out over TLS.

Peers: Python's ``ssl`` (checks the certificate chain and the 127.0.0.1 name), baresip
registering over TLS (the server reaches it on that connection, RFC 5626 style), SIPp
through socat (Debian's SIPp has no TLS), and a SIPp agent behind a TLS contact the server
must open a verified TLS connection to.
"""

from __future__ import annotations

import socket
import ssl
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.conftest import free_port
from tests.e2e.helpers import run_sipp, wait_event
from tests.e2e.peers.baresip_secure import SecureBaresip
from tests.e2e.secure_server import (
    secure_config,
    secure_server,
    tls_bridge_to,
    tls_front_for,
)
from tests.e2e.tls_certs import make_certs

pytestmark = pytest.mark.e2e


def _options(port: int, local_port: int) -> bytes:
    return (
        f"OPTIONS sip:127.0.0.1:{port} SIP/2.0\r\n"
        f"Via: SIP/2.0/TLS 127.0.0.1:{local_port};branch=z9hG4bK-tls-ping\r\n"
        "From: <sip:monitor@127.0.0.1>;tag=ping1\r\n"
        f"To: <sip:127.0.0.1:{port}>\r\n"
        f"Call-ID: ping-tls-{local_port}@127.0.0.1\r\n"
        "CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    ).encode()


def test_options_over_tls_with_a_verified_certificate(tmp_path: Path) -> None:
    certs = make_certs(tmp_path / "certs")
    with secure_server(tmp_path, secure_config(certs)) as server:
        port = server.extra["tls_port"]
        assert port and port != server.port
        context = ssl.create_default_context(cafile=str(certs.ca))  # checks name and chain
        with (
            socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
            context.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
        ):
            assert tls.version() in ("TLSv1.2", "TLSv1.3")
            tls.sendall(_options(port, tls.getsockname()[1]))
            received = b""
            while b"\r\n\r\n" not in received:
                chunk = tls.recv(65535)
                assert chunk, received
                received += chunk
        head = received.decode()
        assert head.startswith("SIP/2.0 200 "), head
        assert "Via: SIP/2.0/TLS 127.0.0.1:" in head, head
        # A client that does not trust the server's CA must fail the handshake.
        with (
            socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
            pytest.raises(ssl.SSLCertVerificationError),
        ):
            ssl.create_default_context().wrap_socket(raw, server_hostname="127.0.0.1")


def test_sipp_caller_over_tls_reaches_a_udp_agent(tmp_path: Path) -> None:
    certs = make_certs(tmp_path / "certs")
    with secure_server(tmp_path, secure_config(certs)) as server:
        agent_port = free_port()
        agent = run_sipp(
            tmp_path, "agent", "agent_answer.xml", server.port, "-s", "1001", port=agent_port
        )
        from tests.e2e.helpers import register_agent

        register_agent(tmp_path, server, "1001", "pw1001", agent_port)
        bridge = tls_bridge_to(server.extra["tls_port"], certs.ca)
        caller = run_sipp(
            tmp_path, "caller", "caller.xml", bridge, "-s", "1001", "-d", "300", transport="t1"
        )
        assert caller.finish() == 0, caller.explain() + server.log()[-3000:]
        assert agent.finish() == 0, agent.explain()
        assert wait_event(server, "call_cleared", cause="caller_hangup", agent_id="1001")
        assert len(server.events("call_established")) == 1


def test_agent_registered_over_tls_is_called_on_its_connection(tmp_path: Path) -> None:
    certs = make_certs(tmp_path / "certs")
    with secure_server(tmp_path, secure_config(certs)) as server:
        tls_port = server.extra["tls_port"]
        phone = SecureBaresip(tmp_path, tls_port, "1001", "pw1001", tls_ca=certs.ca)
        try:
            registered = wait_event(server, "agent_registered", agent_id="1001", timeout=10)
            assert registered, phone.log() + server.log()
            assert "transport=tls" in registered[0], registered
            caller = run_sipp(
                tmp_path, "caller", "caller.xml", server.port, "-s", "1001", "-d", "500"
            )
            assert caller.finish() == 0, caller.explain() + phone.log()
            assert wait_event(server, "call_established", agent_id="1001"), server.log()
            assert wait_event(server, "call_cleared", cause="caller_hangup", agent_id="1001")
        finally:
            phone.stop()
        log = phone.log()
        assert "{0/TLS/v4} 200 OK" in log, log  # registered over TLS
        assert "Call established" in log, log
        # The INVITE came over the connection the phone registered on: one TLS connection.
        assert log.count(f"-> 127.0.0.1:{tls_port}") >= 2, log


def test_requests_over_tls_name_the_tls_port_in_via_and_contact(tmp_path: Path) -> None:
    certs = make_certs(tmp_path / "certs")
    with secure_server(tmp_path, secure_config(certs)) as server:
        tls_port = server.extra["tls_port"]
        phone = SecureBaresip(tmp_path, tls_port, "1001", "pw1001", tls_ca=certs.ca)
        try:
            assert wait_event(server, "agent_registered", agent_id="1001", timeout=10)
            caller = run_sipp(
                tmp_path, "caller", "caller.xml", server.port, "-s", "1001", "-d", "300"
            )
            assert caller.finish() == 0, caller.explain() + phone.log()
            assert wait_event(server, "call_cleared", cause="caller_hangup", agent_id="1001")
        finally:
            phone.stop()
        invite = phone.log().split("INVITE sip:", 1)[1].split("\n\n", 1)[0]
        assert f"Via: SIP/2.0/TLS 127.0.0.1:{tls_port};" in invite, invite
        assert f"Contact: <sip:127.0.0.1:{tls_port};transport=tls>" in invite, invite


def test_call_to_a_tls_contact_opens_a_verified_tls_connection(tmp_path: Path) -> None:
    certs = make_certs(tmp_path / "certs")
    phone_certs = make_certs(tmp_path / "phone", "phone")
    config = secure_config(certs, ca=phone_certs.ca)  # the server trusts the phone's CA
    with secure_server(tmp_path, config) as server:
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
        )
        front = tls_front_for(agent_port, phone_certs)
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
            f"sip:1001@127.0.0.1:{front};transport=tls",
            timeout=5,
        )
        assert reg.finish() == 0, reg.explain()
        caller = run_sipp(tmp_path, "caller", "caller.xml", server.port, "-s", "1001", "-d", "300")
        assert caller.finish() == 0, caller.explain() + server.log()[-3000:]
        assert agent.finish() == 0, agent.explain()
        assert wait_event(server, "call_cleared", cause="caller_hangup", agent_id="1001")
        assert f"Via: SIP/2.0/TLS 127.0.0.1:{server.extra['tls_port']};" in agent.messages()


def test_tls_contact_with_an_untrusted_certificate_fails_the_call_at_once(
    tmp_path: Path,
) -> None:
    certs = make_certs(tmp_path / "certs")
    stranger = make_certs(tmp_path / "stranger", "stranger")  # signed by a CA nobody trusts
    with secure_server(tmp_path, secure_config(certs, ca=certs.ca)) as server:
        agent_port = free_port()
        front = tls_front_for(agent_port, stranger)
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
            f"sip:1001@127.0.0.1:{front};transport=tls",
            timeout=5,
        )
        assert reg.finish() == 0, reg.explain()
        caller = run_sipp(
            tmp_path, "caller", "caller_rejected.xml", server.port, "-s", "1001", timeout=8
        )
        assert caller.finish() == 0, caller.explain()
        logs = caller.logs()
        assert "final=503" in logs, caller.explain() + server.log()  # not the 4 s ring timeout


def test_bad_tls_files_stop_the_server_with_file_and_line(tmp_path: Path) -> None:
    certs = make_certs(tmp_path / "certs")
    other = make_certs(tmp_path / "other", "other")
    config = tmp_path / "cti.yaml"
    config.write_text(
        "sip:\n"
        "  port: 0\n"
        "  tls:\n"
        f"    cert: '{certs.cert}'\n"
        f"    key: '{other.key}'\n"
        "http:\n"
        "  port: -1\n"
        "  tls:\n"
        f"    cert: '{tmp_path / 'missing.crt'}'\n"
        f"    key: '{certs.key}'\n"
    )
    done = subprocess.run(
        [sys.executable, "-m", "cti_server", "serve", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=tmp_path,
    )
    assert done.returncode == 1, done.stderr
    assert f"{config}:3: sip.tls: the key does not match the certificate" in done.stderr
    assert f"{config}:9: http.tls.cert: certificate file" in done.stderr
    assert "does not exist" in done.stderr
