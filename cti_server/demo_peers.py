"""The SIPp peers of ``cti-server demo`` (and of ``--stay``): how one is started, watched and
stopped by its PID when the demo ends, and the printer that shows what happens."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from cti_server.events import Event

PEERS = ("caller", "agent", "register", "waiting_caller", "customer")  # the scripted ones


def sipp_args(
    scenario: Path,
    target: int,
    *extra: str,
    calls: int = 1,
    timeout: str = "90s",
    port: int = 0,
) -> list[str]:
    """SIPp on loopback running ``scenario`` ``calls`` times; ``target`` 0: a peer that only
    answers; ``port``: its own SIP port (0: any)."""
    args = ["-sf", str(scenario), *extra, "-m", str(calls), "-timeout", timeout, "-nostdin"]
    args += ["-i", "127.0.0.1", "-p", str(port)]
    return args + ([f"127.0.0.1:{target}"] if target else [])


def register_args(
    scenarios: Path, target: int, user: str, password: str, contact: int
) -> list[str]:
    """Register ``user`` (digest) with its Contact on port ``contact``."""
    auth = ("-s", user, "-au", user, "-ap", password, "-key", "contact_port", str(contact))
    return sipp_args(scenarios / "register.xml", target, *auth, timeout="10s")


def free_udp_port() -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def event_fields(event: Event) -> dict[str, object]:
    import dataclasses

    return {f.name: getattr(event, f.name) for f in dataclasses.fields(event) if f.name != "at"}


def printer() -> Any:
    def say(text: str) -> None:
        sys.stdout.write(f"[demo] {text}\n")
        sys.stdout.flush()

    return say


def spawn(
    reactor: Any, exe: str, args: list[str], name: str, say: Any, outcome: dict[str, Any]
) -> None:
    from twisted.internet.protocol import ProcessProtocol

    class _Proc(ProcessProtocol):
        def processEnded(self, reason: Any) -> None:
            code = reason.value.exitCode
            outcome[name] = code
            say(f"SIPp {name} finished with exit code {code}")
            expect = outcome.get("expect")
            if expect and all(k in outcome for k in expect):
                reactor.callLater(0.5, outcome["conclude"])

    proc = reactor.spawnProcess(
        _Proc(), exe, [exe, *args], env=None, childFDs={0: "w", 1: "r", 2: "r"}
    )

    def reap() -> None:  # a peer still running when the demo ends is stopped by its PID
        if proc.pid is not None:
            proc.signalProcess("KILL")

    reactor.addSystemEventTrigger("before", "shutdown", reap)
