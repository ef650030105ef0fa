"""End-to-end fixtures: a real ``cti-server serve`` process on loopback, and SIPp runs.

Each test gets its own server on free ports and its own data directory; the server's log
(with one line per domain event) is kept so tests can assert on what the server saw.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = ROOT / "loadtests" / "sipp"

BASE_CONFIG = """
http: {{listen: 127.0.0.1, port: 0}}
sip:
  listen: 127.0.0.1
  port: 0
  realm: cti.local
  ring_timeout: {ring_timeout}
accounts:
  - {{user: "1001", password: "pw1001", digest_algorithms: [MD5]}}
  - {{user: "1002", password: "pw1002", digest_algorithms: [MD5]}}
  - {{user: "1003", password: "pw1003"}}
trunks:
  - {{name: gw, allow_from: [127.0.0.1/32]}}
media: {{mode: {media_mode}, rtp_timeout: {rtp_timeout}}}
routes:
  - {{match: '1\\d{{3}}', target: 'extension:\\g<0>'}}
  - {{match: '9(\\d+)', target: 'uri:sip:\\1@127.0.0.1:{uas_port}'}}
"""


def free_port(kind: int = socket.SOCK_DGRAM) -> int:
    """A port free for both UDP and TCP on 127.0.0.1 (SIPp binds both)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            u.bind(("127.0.0.1", 0))
            port = int(u.getsockname()[1])
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
                try:
                    t.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return port
    raise RuntimeError("no free port")


@dataclass
class Server:
    port: int
    proc: subprocess.Popen[str]
    log_path: Path
    data_dir: Path
    log_file: object = None
    extra: dict[str, int] = field(default_factory=dict)
    config_path: Path | None = None
    tokens: dict[str, str] = field(default_factory=dict)  # API logins by user name

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def events(self, name: str) -> list[str]:
        """Event log lines for one event name (``call_established``...)."""
        return [line for line in self.log().splitlines() if f" {name} " in line]

    def wait_for(self, text: str, timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.log():
                return True
            time.sleep(0.05)
        return False


def start_server(tmp: Path, config_text: str) -> Server:
    cfg = tmp / "cti.yaml"
    cfg.write_text(config_text)
    log_path = tmp / "server.log"
    data = tmp / "data"
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    log_file = log_path.open("w")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cti_server",
            "serve",
            "--config",
            str(cfg),
            "--data-dir",
            str(data),
        ],
        stdout=subprocess.PIPE,
        stderr=log_file,
        text=True,
        env=env,
        cwd=tmp,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if "ready" not in line:
        proc.kill()
        raise RuntimeError(f"server did not start: {line!r}\n{log_path.read_text()}")
    fields = dict(part.split("=", 1) for part in line.split()[2:])
    port = int(fields["sip"].rsplit(":", 1)[1])
    proc.stdout.close()
    server = Server(port, proc, log_path, data, log_file, config_path=cfg)
    server.extra["http_port"] = int(fields["http"].rsplit(":", 1)[1])
    return server


def api_token(server: Server, user: str = "admin") -> str:
    """A bearer token for demo user ``user`` (``admin``, ``super``, ``1001``, ``1002``): the
    demo users are added to the server's own database (cheap hashes), then logged in."""
    if user in server.tokens:
        return server.tokens[user]
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
        f"http://127.0.0.1:{server.extra['http_port']}/api/v1/auth/login",
        data=json.dumps({"username": user, "password": password}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        server.tokens[user] = json.loads(response.read())["token"]
    return server.tokens[user]


def stop_server(server: Server) -> None:
    server.proc.terminate()
    try:
        server.proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        server.proc.kill()
        server.proc.wait(timeout=5)
    server.log_file.close()  # type: ignore[attr-defined]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    uas_port = free_port()
    s = start_server(
        tmp_path,
        BASE_CONFIG.format(ring_timeout=8, uas_port=uas_port, media_mode="anchor", rtp_timeout=60),
    )
    s.extra["uas_port"] = uas_port
    yield s
    stop_server(s)
    assert "Traceback" not in s.log(), s.log()


STARTED: list[subprocess.Popen[str]] = []  # every peer process a test started


@pytest.fixture(autouse=True)
def _reap_peers() -> Iterator[None]:
    """Kill, by PID, whatever peer a failing test left running (SIPp's own -timeout aside)."""
    yield
    while STARTED:
        proc = STARTED.pop()
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=5)
        for pipe in (proc.stdin, proc.stdout, proc.stderr):  # a peer nobody finished
            if pipe is not None and not pipe.closed:
                pipe.close()


def sipp_path() -> str:
    path = shutil.which("sipp")
    if path is None:
        pytest.fail("SIPp is not installed: run scripts/setup (apt-get install sip-tester)")
    return path


def sipp(
    scenario: str,
    server_port: int,
    *args: str,
    port: int | None = None,
    timeout: float = 20.0,
    cwd: Path | None = None,
) -> subprocess.Popen[str]:
    """Start SIPp with a scenario from loadtests/sipp; bounded by -timeout and our timeout."""
    cmd = [
        sipp_path(),
        "-sf",
        str(SCENARIOS / scenario),
        "-i",
        "127.0.0.1",
        "-p",
        str(port or free_port()),
        "-m",
        "1",
        "-nostdin",
        "-timeout",
        f"{int(timeout)}s",
        "-trace_err",
        *args,
        f"127.0.0.1:{server_port}",
    ]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=cwd
    )
    STARTED.append(proc)
    return proc


def finish(proc: subprocess.Popen[str], timeout: float = 25.0) -> int:
    """Wait for a SIPp run; its stderr is kept on ``proc.errors`` for assertion messages."""
    try:
        _, err = proc.communicate(timeout=timeout)
        proc.errors = err  # type: ignore[attr-defined]
        return proc.returncode
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
        proc.errors = err  # type: ignore[attr-defined]
        return -9


def register(server: Server, user: str, password: str, contact_port: int) -> None:
    """Register ``user`` with Contact on ``contact_port`` (where its SIPp UAS listens)."""
    proc = sipp(
        "register.xml",
        server.port,
        "-s",
        user,
        "-au",
        user,
        "-ap",
        password,
        "-key",
        "contact_port",
        str(contact_port),
        timeout=5,
    )
    assert finish(proc) == 0, proc.errors  # type: ignore[attr-defined]
