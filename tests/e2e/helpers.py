"""Shared end-to-end helpers: traced SIPp runs and servers with a non-default configuration.

Every SIPp run started here keeps its message trace (``-trace_msg``) and its ``<log>`` action
output in the test's temporary directory, so a failing assertion can show the SIP exchange
and the tests can assert on the final status a scenario saw (``final=486``).
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.e2e.conftest import (
    BASE_CONFIG,
    SCENARIOS,
    STARTED,
    Server,
    free_port,
    sipp_path,
    start_server,
    stop_server,
)


@dataclass
class SippRun:
    """One SIPp process with its trace files; ``finish`` waits within a bound."""

    name: str
    proc: subprocess.Popen[str]
    messages_path: Path
    log_path: Path
    port: int
    errors: str = ""

    def finish(self, timeout: float = 25.0) -> int:
        try:
            _, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, err = self.proc.communicate()
        self.errors = err or ""
        return self.proc.returncode

    def messages(self) -> str:
        return self.messages_path.read_text(errors="replace") if self.messages_path.exists() else ""

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def explain(self) -> str:
        """What to print when an assertion about this run fails."""
        return f"--- sipp {self.name} stderr:\n{self.errors}\n--- messages:\n{self.messages()}"


def run_sipp(
    tmp: Path,
    name: str,
    scenario: str,
    target_port: int,
    *args: str,
    port: int | None = None,
    calls: int = 1,
    timeout: float = 20.0,
    transport: str = "u1",
    trace: bool = True,
) -> SippRun:
    """Start SIPp on 127.0.0.1 with a scenario file (or ``-sn`` built-in passed in ``args``).

    ``scenario`` is a file name in loadtests/sipp, or "" when ``args`` carry ``-sn uac``.
    """
    local_port = port or free_port()
    messages = tmp / f"{name}_messages.log"
    logs = tmp / f"{name}_logs.log"
    scenario_args = ["-sf", str(SCENARIOS / scenario)] if scenario else []
    cmd = [
        sipp_path(),
        *scenario_args,
        "-i",
        "127.0.0.1",
        "-p",
        str(local_port),
        "-t",
        transport,
        "-m",
        str(calls),
        "-nostdin",
        "-timeout",
        f"{int(timeout)}s",
        "-trace_err",
        "-error_file",
        str(tmp / f"{name}_errors.log"),
        *(["-trace_msg", "-message_file", str(messages)] if trace else []),
        "-trace_logs",
        "-log_file",
        str(logs),
        *args,
        f"127.0.0.1:{target_port}",
    ]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=tmp
    )
    STARTED.append(proc)
    return SippRun(name, proc, messages, logs, local_port)


def register_agent(tmp: Path, server: Server, user: str, password: str, contact_port: int) -> None:
    """Register ``user`` with its Contact on ``contact_port`` and wait for the event."""
    run = run_sipp(
        tmp,
        f"register_{user}",
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
    assert run.finish(10) == 0, run.explain()
    assert wait_event(server, "agent_registered", agent_id=user), server.log()


@contextmanager
def server_with(
    tmp: Path, *, ring_timeout: float = 8, media_mode: str = "anchor", rtp_timeout: float = 60
) -> Iterator[Server]:
    """A server like the ``server`` fixture but with a chosen ring timeout and media mode."""
    uas_port = free_port()
    config = BASE_CONFIG.format(
        ring_timeout=ring_timeout,
        uas_port=uas_port,
        media_mode=media_mode,
        rtp_timeout=rtp_timeout,
    )
    s = start_server(tmp, config)
    s.extra["uas_port"] = uas_port
    try:
        yield s
    finally:
        stop_server(s)
    assert "Traceback" not in s.log(), s.log()


def matching(server: Server, name: str, **fields: object) -> list[str]:
    """Event lines named ``name`` whose fields include every ``key=value`` given."""
    wanted = {f"{k}={v}" for k, v in fields.items()}
    return [line for line in server.events(name) if wanted <= set(line.split())]


def wait_event(
    server: Server, name: str, count: int = 1, timeout: float = 5.0, **fields: object
) -> list[str]:
    """Wait until ``count`` matching events were logged; the lines (empty list on timeout)."""
    deadline = time.monotonic() + timeout
    while True:
        lines = matching(server, name, **fields)
        if len(lines) >= count:
            return lines
        if time.monotonic() >= deadline:
            return []
        time.sleep(0.05)


def event_field(line: str, name: str) -> str | None:
    """The value of ``name=`` in one event log line."""
    for token in line.split():
        if token.startswith(f"{name}="):
            return token.split("=", 1)[1]
    return None
