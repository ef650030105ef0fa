"""Garbage and malformed SIP over real sockets: answered or dropped, counted, never a crash."""

from __future__ import annotations

import socket
import urllib.request

import pytest

from tests.e2e.conftest import Server

pytestmark = pytest.mark.e2e

OPTIONS = (
    "OPTIONS sip:ping@127.0.0.1 SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK-opt-{n};rport\r\n"
    "From: <sip:probe@127.0.0.1>;tag=p{n}\r\nTo: <sip:ping@127.0.0.1>\r\n"
    "Call-ID: opt-{n}@127.0.0.1\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\n"
    "Content-Length: 0\r\n\r\n"
)
BAD_VIA_INVITE = (
    "INVITE sip:1001@127.0.0.1 SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bKx;rport\r\n"
    "From: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:1001@127.0.0.1>\r\nCall-ID: bad-cl@x\r\n"
    "CSeq: 1 INVITE\r\nMax-Forwards: 70\r\nContent-Length: 500\r\n\r\nv=0\r\n"
)


def exchange(server: Server, payload: bytes, timeout: float = 2.0) -> bytes | None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(timeout)
        sock.sendto(payload, ("127.0.0.1", server.port))
        try:
            return sock.recv(65535)
        except TimeoutError:
            return None


def metrics(server: Server) -> str:
    url = f"http://127.0.0.1:{server.extra['http_port']}/metrics"
    with urllib.request.urlopen(url, timeout=5) as resp:
        return resp.read().decode()


def test_garbage_is_dropped_and_counted_and_server_keeps_answering(server: Server) -> None:
    for junk in (b"\x00\xff" * 50, b"HELLO WORLD\r\n\r\n", b"SIP/2.0 200\r\n", bytes(range(256))):
        assert exchange(server, junk, timeout=0.3) is None
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    reply = exchange(server, OPTIONS.format(port=port, n=1).encode())
    assert reply is not None and reply.startswith(b"SIP/2.0 200 ")
    text = metrics(server)
    assert "sip_messages_dropped_total" in text
    dropped = sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("sip_messages_dropped_total{")
    )
    assert dropped >= 4


def test_content_length_larger_than_body_gets_400(server: Server) -> None:
    reply = exchange(server, BAD_VIA_INVITE.format(port=5999).encode())
    assert reply is not None and reply.startswith(b"SIP/2.0 400 "), reply


def test_health_and_unknown_path_are_json(server: Server) -> None:
    base = f"http://127.0.0.1:{server.extra['http_port']}"
    with urllib.request.urlopen(f"{base}/api/v1/health", timeout=5) as resp:
        assert b'"status": "ok"' in resp.read()
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(f"{base}/nope", timeout=5)
    assert err.value.code == 404
    assert b"not_found" in err.value.read()
