"""HTTPS and WSS: the REST API, the pages and the events WebSocket over TLS only.

The client is Python's ``ssl`` trusting the test CA (the chain and the 127.0.0.1 name are
checked), the WebSocket one ``websocket-client``; the event comes from a real SIPp REGISTER.
"""

from __future__ import annotations

import http.client
import json
import ssl
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import websocket

from tests.e2e.conftest import Server, free_port
from tests.e2e.helpers import register_agent
from tests.e2e.secure_server import secure_config, secure_server
from tests.e2e.tls_certs import CertFiles, make_certs

pytestmark = pytest.mark.e2e


def _context(certs: CertFiles) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(certs.ca))


def _login(server: Server, certs: CertFiles, user: str = "admin") -> str:
    """Seed the demo users in the server's database and log in over HTTPS."""
    from cti_server.auth import ScryptCost
    from cti_server.config import load_config
    from cti_server.storage.db import Database
    from cti_server.storage.users import DEMO_USERS, UserRepo, seed_demo_users

    config = load_config(server.config_path).with_overrides(data_dir=str(server.data_dir))
    database = Database.from_config(config)
    try:
        seed_demo_users(UserRepo(database, cost=ScryptCost(n=1024)))
    finally:
        database.dispose_sync()
    password = next(p for name, p, *_ in DEMO_USERS if name == user)
    request = urllib.request.Request(
        f"https://127.0.0.1:{server.extra['http_port']}/api/v1/auth/login",
        data=json.dumps({"username": user, "password": password}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=5, context=_context(certs)) as response:
        return str(json.loads(response.read())["token"])


def test_api_and_pages_are_served_over_https_only(tmp_path: Path) -> None:
    certs = make_certs(tmp_path / "certs")
    with secure_server(tmp_path, secure_config(certs, sip_tls=False, https=True)) as server:
        port = server.extra["http_port"]
        url = f"https://127.0.0.1:{port}/api/v1/health"
        with urllib.request.urlopen(url, timeout=5, context=_context(certs)) as response:
            assert json.loads(response.read())["status"] == "ok"
        token = _login(server, certs)
        request = urllib.request.Request(
            f"https://127.0.0.1:{port}/api/v1/calls", headers={"Authorization": f"Bearer {token}"}
        )
        with urllib.request.urlopen(request, timeout=5, context=_context(certs)) as response:
            assert response.status == 200
        with urllib.request.urlopen(
            f"https://localhost:{port}/desktop/", timeout=5, context=_context(certs)
        ) as response:
            policy = response.headers["Content-Security-Policy"]
        assert f"wss://localhost:{port}" in policy, policy
        # Plain HTTP on the HTTPS port gets no HTTP answer.
        plain = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        with pytest.raises((http.client.HTTPException, ConnectionError, OSError)):
            plain.request("GET", "/api/v1/health")
            plain.getresponse().read()
        plain.close()
        # A client that does not trust the CA refuses the server.
        with pytest.raises(urllib.error.URLError, match="CERTIFICATE_VERIFY_FAILED"):
            urllib.request.urlopen(url, timeout=5, context=ssl.create_default_context())


def test_events_websocket_over_wss(tmp_path: Path) -> None:
    certs = make_certs(tmp_path / "certs")
    with secure_server(tmp_path, secure_config(certs, https=True)) as server:
        token = _login(server, certs, "super")
        ws = websocket.create_connection(
            f"wss://127.0.0.1:{server.extra['http_port']}/api/v1/events?token={token}",
            timeout=10,
            sslopt={"ca_certs": str(certs.ca), "cert_reqs": ssl.CERT_REQUIRED},
        )
        try:
            register_agent(tmp_path, server, "1001", "pw1001", free_port())
            seen: list[dict[str, Any]] = []
            while not any(m.get("event") == "agent_registered" for m in seen):
                seen.append(json.loads(ws.recv()))
        finally:
            ws.close()
        event = next(m for m in seen if m.get("event") == "agent_registered")
        assert event["data"]["agent_id"] == "1001", seen
        refused = websocket.create_connection(  # a wrong token: closed with 4401
            f"wss://127.0.0.1:{server.extra['http_port']}/api/v1/events?token=wrong",
            timeout=5,
            sslopt={"ca_certs": str(certs.ca)},
        )
        try:
            opcode, frame = refused.recv_data(control_frame=True)
        finally:
            refused.shutdown()  # the server closed it already: no close handshake left
        assert opcode == websocket.ABNF.OPCODE_CLOSE
        assert int.from_bytes(frame[:2], "big") == 4401, frame
