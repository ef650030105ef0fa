"""A server with the contact-center parts on: the shipped IVR flow, a queue, ACD agents and
the demo customers, for the IVR and ACD end-to-end tests.

The shipped ``main.yaml`` is used as it is, except its office hours (always open here, so a
test does not depend on the time of day it runs) and whatever a test rewrites in it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from cti_server.demo import always_open_flows
from cti_server.sipp_caller import write_caller_scenario
from tests.e2e.conftest import Server, api_token, start_server, stop_server
from tests.e2e.helpers import SippRun, run_sipp

CONFIG = """
data_dir: {data_dir}
http: {{listen: 127.0.0.1, port: 0}}
sip: {{listen: 127.0.0.1, port: 0, realm: cti.local, ring_timeout: 20}}
accounts:
  - {{user: "1001", password: "pw1001", digest_algorithms: [MD5]}}
  - {{user: "1002", password: "pw1002", digest_algorithms: [MD5]}}
trunks:
  - {{name: gw, allow_from: [127.0.0.1/32]}}
media: {{mode: anchor, rtp_timeout: 60}}
{storage}
ivr:
  flows_dir: {flows_dir}
  pin_hash: {{n: 1024}}          # cheap hashes: tests are not an attack
  lockout: {{max_failures: {max_failures}, window_seconds: 600, lock_seconds: 600}}
acd:
  queues:
    - {{name: general, strategy: {strategy}, offer_timeout: {offer_timeout}, wrap_up: 0,
       announce_every: null, designated_wait: {designated_wait}}}
  agents:
    - {{id: "1001", name: 김상담, queues: [general]}}
    - {{id: "1002", name: 이상담, queues: [general]}}
routes:
  - {{match: '1588', target: 'flow:main'}}
  - {{match: '1599', target: 'queue:general'}}
  - {{match: '7(1\\d{{3}})', target: 'queue:general', agent: '\\1'}}
  - {{match: '1\\d{{3}}', target: 'extension:\\g<0>'}}
"""


def write_flows(directory: Path, edits: list[tuple[str, str]] | None = None) -> Path:
    """The shipped main flow, always open, with ``(old, new)`` text edits applied."""
    return always_open_flows(directory, edits)


def load_demo_customers(config_path: Path) -> None:
    for command in (["db", "upgrade"], ["customers", "demo"]):
        done = subprocess.run(
            [sys.executable, "-m", "cti_server", *command, "--config", str(config_path)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr


@contextmanager
def contact_center(
    tmp: Path,
    *,
    edits: list[tuple[str, str]] | None = None,
    strategy: str = "longest_idle",
    offer_timeout: float = 15,
    designated_wait: float = 20,
    max_failures: int = 5,
    database_url: str | None = None,
    demo_customers: bool = True,
) -> Iterator[Server]:
    flows = write_flows(tmp / "flows", edits)
    storage = f"storage: {{database_url: '{database_url}'}}" if database_url else ""
    text = CONFIG.format(
        data_dir=tmp / "data",
        flows_dir=flows,
        storage=storage,
        strategy=strategy,
        offer_timeout=offer_timeout,
        designated_wait=designated_wait,
        max_failures=max_failures,
    )
    if demo_customers:
        config_path = tmp / "customers.yaml"
        config_path.write_text(text)
        load_demo_customers(config_path)
    server = start_server(tmp, text)
    try:
        yield server
    finally:
        stop_server(server)
    assert "Traceback" not in server.log(), server.log()


def ivr_caller(
    tmp: Path,
    server: Server,
    steps: list[tuple[float, str]],
    *,
    name: str = "caller",
    hold: float = 8.0,
    ends: str = "caller",
    called: str = "1588",
    timeout: float = 60.0,
) -> SippRun:
    """A SIPp caller on trunk ``gw`` who dials ``called`` and presses keys at the given
    times; ``hold``: seconds it stays on after the last key (``ends="caller"``)."""
    scenario = write_caller_scenario(
        tmp / "scenarios",
        steps,
        name=name,
        ends=ends,  # type: ignore[arg-type]
        server_timeout=timeout,
    )
    return run_sipp(
        tmp,
        name,
        str(scenario),
        server.port,
        "-s",
        called,
        "-d",
        str(int(hold * 1000)),
        timeout=timeout,
    )


def api(
    server: Server, path: str, body: dict[str, Any] | None = None, *, user: str = "admin"
) -> tuple[int, Any]:
    """``GET`` (or ``POST`` with ``body``) as demo user ``user``, logged in on first use."""
    url = f"http://127.0.0.1:{server.extra['http_port']}{path}"
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Authorization": f"Bearer {api_token(server, user)}"}
    request = urllib.request.Request(
        url, data=data, method="POST" if data else "GET", headers=headers
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def poll(check: Callable[[], Any], timeout: float = 10.0) -> Any:
    """``check()``'s first truthy value within ``timeout`` seconds (None if none)."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    return None
