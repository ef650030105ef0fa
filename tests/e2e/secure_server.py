"""A server with SIP over TLS and/or HTTPS on free ports, and socat as a TLS bridge.

SIPp on Debian is built without OpenSSL (``-t l1`` is refused), so a SIPp scenario reaches
the TLS port through ``socat TCP-LISTEN -> OPENSSL`` and a SIPp agent behind a TLS contact
is reached through ``socat OPENSSL-LISTEN -> TCP``; baresip speaks TLS itself.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.e2e.conftest import BASE_CONFIG, STARTED, Server, free_port, start_server, stop_server
from tests.e2e.tls_certs import CertFiles


def secure_config(
    certs: CertFiles,
    *,
    sip_tls: bool = True,
    https: bool = False,
    ca: Path | None = None,
    media_mode: str = "anchor",
) -> str:
    """BASE_CONFIG with ``sip.tls`` (port 0) and/or ``http.tls`` added."""
    text = BASE_CONFIG.format(
        ring_timeout=4, uas_port=free_port(), media_mode=media_mode, rtp_timeout=60
    )
    files = f"cert: '{certs.cert}', key: '{certs.key}'"
    if sip_tls:
        extra = f", ca: '{ca}'" if ca is not None else ""
        text = text.replace(
            "  ring_timeout: 4\n", f"  ring_timeout: 4\n  tls: {{{files}, port: 0{extra}}}\n"
        )
    if https:
        text = text.replace(
            "http: {listen: 127.0.0.1, port: 0}",
            f"http: {{listen: 127.0.0.1, port: 0, tls: {{{files}}}}}",
        )
    return text


@contextmanager
def secure_server(tmp: Path, config: str) -> Iterator[Server]:
    """Start the server; ``extra["tls_port"]`` is the SIP over TLS port from its log."""
    server = start_server(tmp, config)
    try:
        found = None
        deadline = time.monotonic() + 5
        while found is None and time.monotonic() < deadline:
            found = re.search(r"SIP over TLS listening on [\d.]+:(\d+)", server.log())
            time.sleep(0.02)
        if found:
            server.extra["tls_port"] = int(found.group(1))
        yield server
    finally:
        stop_server(server)
    assert "Traceback" not in server.log(), server.log()


def wait_listening(port: int, timeout: float = 5.0) -> None:
    """Until a TCP socket listens on ``port`` (read from /proc: a probe connection would
    use up a one-shot socat)."""
    wanted = f":{port:04X} "
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for table in ("/proc/net/tcp", "/proc/net/tcp6"):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                if (fields[1] + " ").endswith(wanted) and fields[3] == "0A":
                    return
        time.sleep(0.02)
    raise AssertionError(f"nothing listens on port {port}")


def socat(*addresses: str) -> subprocess.Popen[str]:
    """Start socat with two addresses; killed by pid after the test (conftest STARTED)."""
    path = shutil.which("socat")
    if path is None:
        pytest.fail("socat is not installed: apt-get install socat")
    proc = subprocess.Popen(
        [path, "-d", *addresses],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    STARTED.append(proc)
    return proc


def tls_bridge_to(server_tls_port: int, ca: Path) -> int:
    """A local TCP port whose connections socat carries over a verified TLS connection to
    the server (one connection, as SIPp ``-t t1`` opens)."""
    port = free_port()
    socat(
        f"TCP-LISTEN:{port},bind=127.0.0.1,reuseaddr",
        f"OPENSSL:127.0.0.1:{server_tls_port},cafile={ca},verify=1",
    )
    wait_listening(port)
    return port


def tls_front_for(target_tcp_port: int, certs: CertFiles) -> int:
    """A TLS port (presenting ``certs``) whose connections socat carries to a local TCP port."""
    port = free_port()
    socat(
        f"OPENSSL-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork,"
        f"cert={certs.cert},key={certs.key},verify=0",
        f"TCP:127.0.0.1:{target_tcp_port}",
    )
    wait_listening(port)
    return port
