"""What the fault and soak runs start, each bounded in time and stopped by PID.

* ``OwnRedis`` and ``OwnPostgres``: a ``redis-server --save ''`` and a PostgreSQL cluster
  (``initdb`` into the work directory, ``postgres`` in the foreground under ``timeout``, as the
  ``postgres`` user when we are root, which PostgreSQL refuses) on ports of their own, never
  the machine's services; ``stop`` and ``start`` are the faults' outages.
* ``Server``: ``cti-server serve`` under ``timeout -s KILL`` (the bound if the run dies), on a
  fixed SIP port so a restarted server takes over its callers' retransmissions; ``pid`` is
  the server itself, what ``kill -9`` hits.

The callers and the whole center (``fault_load``), the verdict (``fault_check``) and the runs
(``faults.py``, ``soak.py``) build on these.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

try:
    from loadtests.agent_bot import port_blocks
    from loadtests.locust_server import ROOT, python
except ImportError:  # run as a script from loadtests/
    from agent_bot import port_blocks  # type: ignore[no-redef]
    from locust_server import ROOT, python  # type: ignore[no-redef]

SCENARIOS = ROOT / "loadtests" / "sipp"


def free_tcp_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def signal_pid(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def wait_until(check: Any, timeout: float, step: float = 0.1) -> Any:
    """``check()``'s first truthy value within ``timeout`` seconds, else None."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() >= deadline:
            return value or None
        time.sleep(step)


def child_pid(wrapper: subprocess.Popen[Any]) -> int:
    """The process ``timeout`` runs (0 when gone): signals meant for it go there, since
    ``timeout`` cannot pass a SIGKILL on."""
    children = Path(f"/proc/{wrapper.pid}/task/{wrapper.pid}/children")
    with contextlib.suppress(OSError):
        return int((children.read_text().split() or ["0"])[0])
    return 0


def stop_process(
    proc: subprocess.Popen[Any] | None, sig: signal.Signals, timeout: float = 15
) -> None:
    """Signal ``timeout``'s child (or ``proc`` itself if it has none) and reap ``proc``."""
    if proc is None or proc.poll() is not None:
        return
    child = child_pid(proc)
    if child:
        signal_pid(child, sig)
    else:
        proc.send_signal(sig)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        if child:
            signal_pid(child, signal.SIGKILL)
        proc.kill()
        proc.wait(timeout=5)


# --- Redis and PostgreSQL of our own -------------------------------------------------------------


@dataclass
class OwnRedis:
    work: Path
    bound: float
    port: int = field(default_factory=free_tcp_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed")
        cmd = ["timeout", "-s", "KILL", str(int(self.bound)), binary, "--port", str(self.port)]
        cmd += ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(self.work)]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if not wait_until(self._answers, 10):
            raise RuntimeError(f"redis-server on port {self.port} did not start")

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        """SIGKILL: a crash, and with ``--save ''`` it comes back empty."""
        stop_process(self.proc, signal.SIGKILL)


@dataclass
class OwnPostgres:
    work: Path
    bound: float
    port: int = field(default_factory=free_tcp_port)
    proc: subprocess.Popen[bytes] | None = None
    root: Path | None = None

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _as_owner(self) -> list[str]:
        if os.geteuid() != 0:
            return []
        return ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", "--"]

    def init(self) -> None:
        """``initdb`` into a directory of its own under /tmp (a test's tmp_path is private to
        root, and the cluster must belong to the user it runs as); ``remove`` deletes it."""
        self.root = Path(tempfile.mkdtemp(prefix="cti-faults-pg-"))
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
        cmd = [*self._as_owner(), "initdb", "-D", str(self.root / "data"), "-A", "trust"]
        cmd += ["-U", "postgres", "--no-sync"]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"initdb failed: {done.stderr}")

    def start(self) -> None:
        assert self.root is not None, "init() first"
        cmd = ["timeout", "-s", "KILL", str(int(self.bound)), *self._as_owner(), "postgres"]
        cmd += ["-D", str(self.root / "data"), "-p", str(self.port), "-k", str(self.root)]
        cmd += ["-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "max_connections=200"]
        with (self.work / "postgres.log").open("a") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=log)
        if not wait_until(self._answers, 30, 0.2):
            raise RuntimeError(f"postgres on port {self.port} did not start (see {self.work})")

    def _answers(self) -> bool:
        import psycopg

        try:
            with psycopg.connect(self.url, connect_timeout=1) as conn:
                conn.execute("select 1")
            return True
        except psycopg.Error:
            return False

    def stop(self) -> None:
        """Fast shutdown (SIGINT to the postmaster, whose PID ``timeout`` started): every
        connection is cut, as when the database host goes away."""
        stop_process(self.proc, signal.SIGINT, 30)

    def remove(self) -> None:
        """Stop and delete the cluster's directory."""
        self.stop()
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)


# --- the server ---------------------------------------------------------------------------------


@dataclass
class Server:
    wrapper: subprocess.Popen[str]
    pid: int
    log: Path
    sip_port: int
    http_port: int
    token: str = ""

    def get(self, path: str, timeout: float = 5) -> Any:
        """GET as the demo supervisor, logging in again when the session is gone (sessions
        live in Redis, which comes back empty after its fault)."""
        for attempt in (1, 2):
            headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
            request = urllib.request.Request(
                f"http://127.0.0.1:{self.http_port}{path}", headers=headers
            )
            try:
                with urllib.request.urlopen(request, timeout=timeout) as r:
                    body = r.read()
                break
            except urllib.error.HTTPError as exc:
                if exc.code != 401 or attempt == 2 or not self.token:
                    raise
                login(self)
        return body.decode() if path == "/metrics" else json.loads(body)

    def metrics(self) -> dict[str, float]:
        """Every sample of ``/metrics`` (label sets summed per name), {} when unreachable."""
        try:
            text = self.get("/metrics")
        except OSError:
            return {}
        values: dict[str, float] = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                key = name.partition("{")[0]
                with contextlib.suppress(ValueError):
                    values[key] = values.get(key, 0.0) + float(value)
        return values

    def alive(self) -> bool:
        return self.wrapper.poll() is None

    def kill9(self) -> None:
        signal_pid(self.pid, signal.SIGKILL)
        self.wrapper.wait(timeout=10)

    def stop(self) -> None:
        """One SIGTERM to the server itself (``timeout`` would pass a second one on)."""
        if self.wrapper.poll() is None:
            signal_pid(self.pid, signal.SIGTERM)
            try:
                self.wrapper.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.wrapper.kill()
                self.wrapper.wait(timeout=5)
        signal_pid(self.pid, signal.SIGKILL)  # only if it outlived its wrapper


def serve(
    config: Path,
    work: Path,
    bound: float,
    name: str,
    env: dict[str, str] | None = None,
    launcher: list[str] | None = None,
) -> Server:
    """``cti-server serve`` (or ``launcher`` + the serve arguments), once it printed ready."""
    log = work / f"{name}.log"
    cmd = ["timeout", "-s", "KILL", str(int(bound))]
    cmd += launcher or [python(), "-m", "cti_server", "serve"]
    cmd += ["--config", str(config), "--data-dir", str(work / "data")]
    environment = dict(os.environ, PYTHONUNBUFFERED="1", **(env or {}))
    with log.open("w") as sink:
        proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=sink, text=True, cwd=work, env=environment
        )
    assert proc.stdout is not None
    line = proc.stdout.readline()  # "cti-server ready sip=... http=..."
    proc.stdout.close()
    pid = child_pid(proc)
    if "ready" not in line or not pid:
        proc.kill()
        proc.wait()
        raise RuntimeError(f"the server did not start: {line!r}\n{log.read_text()[-3000:]}")
    fields = dict(part.split("=", 1) for part in line.split()[2:])
    sip = int(fields["sip"].rsplit(":", 1)[1])
    return Server(proc, pid, log, sip, int(fields["http"].rsplit(":", 1)[1]))


def login(server: Server, user: str = "super", password: str = "superpass") -> None:
    request = urllib.request.Request(
        f"http://127.0.0.1:{server.http_port}/api/v1/auth/login",
        data=json.dumps({"username": user, "password": password}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as r:
        server.token = str(json.loads(r.read())["token"])


def register(work: Path, server: Server, contacts: dict[str, int]) -> None:
    """Register every agent (``register_long.xml`` that ``start_agents`` wrote) at ``server``:
    registrations live in the server's memory, so a restarted server needs them again."""
    sipp = shutil.which("sipp") or "sipp"
    procs = []
    for agent, block in zip(contacts, port_blocks(len(contacts)), strict=True):
        cmd = [sipp, "-sf", str(work / "register_long.xml"), "-i", "127.0.0.1", "-nostdin"]
        cmd += ["-s", agent, "-au", agent, "-ap", f"pw{agent}", "-key", "contact_port"]
        cmd += [str(contacts[agent]), "-p", str(block), "-mp", str(block + 1)]
        cmd += ["-cp", str(block + 2), "-m", "1", "-timeout", "10s", f"127.0.0.1:{server.sip_port}"]
        quiet = subprocess.DEVNULL
        procs.append(subprocess.Popen(cmd, stdout=quiet, stderr=quiet, cwd=work))
    codes = [p.wait(timeout=20) for p in procs]
    if any(codes):
        raise RuntimeError(f"agents did not register again: exit codes {codes}")


def ready_agents(server: Server) -> int:
    """Agents the leader has ready or on a call (0 from a standby or a dead server)."""
    try:
        rows = server.get("/api/v1/agents")["agents"]
    except (OSError, ValueError, KeyError):
        return 0
    return sum(1 for a in rows if a["state"] not in ("logged_out", "not_ready"))


def contact_port(proc: subprocess.Popen[bytes]) -> int:
    args = [str(a) for a in proc.args]  # type: ignore[union-attr]
    return int(args[args.index("-p") + 1])


# --- what the server left on disk ----------------------------------------------------------------


def journal_backlog(directory: Path) -> tuple[int, int]:
    """(entries written but not committed to SQL, the last sequence number) of a journal
    (``cti_server.storage.journal``), read from its files while the server runs."""
    try:
        committed = int(json.loads((directory / "checkpoint.json").read_text())["committed"])
    except (OSError, ValueError, KeyError):
        return 0, 0
    seqs: list[int] = []
    for segment in sorted(directory.glob("segment-*.jsonl")):
        with contextlib.suppress(OSError):
            for line in segment.read_bytes().split(b"\n"):
                found = re.match(rb'\{"seq":(\d+),', line)
                if found:
                    seqs.append(int(found.group(1)))
    last = max(seqs, default=committed)
    return sum(1 for s in seqs if s > committed), last
