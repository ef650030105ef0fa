"""``cti-server demo``: the server on embedded defaults and one real call over loopback.

Agent 1001 registers from a SIPp softphone (digest auth), a SIPp "gateway" calls 1001
through the demo trunk; the server answers, plays the Korean greeting over RTP, hears the
caller press 1 (RFC 2833), stops the greeting, rings the agent, bridges the audio; the
caller hangs up. Every domain event is printed as it happens; the exit status says whether
the call connected and cleared.
"""

from __future__ import annotations

import logging
import shutil
import sys
from pathlib import Path
from typing import Any

from cti_server.config import Config, parse_config
from cti_server.events import AgentRegistered, CallCleared, CallEstablished, Event

DEMO_CONFIG = """
http: {{listen: 127.0.0.1, port: 0}}
sip:
  listen: 127.0.0.1
  port: {port}
  realm: cti.local
accounts:
  # SIPp 3.6 answers only the first challenge and knows only MD5.
  - {{user: "1001", password: "demo1001", display_name: "Agent Kim", digest_algorithms: [MD5]}}
  - {{user: "1002", password: "demo1002", display_name: "Agent Lee"}}
trunks:
  - {{name: demo-gw, allow_from: [127.0.0.1/32]}}
routes:
  # the caller hears the Korean greeting first (a key skips it), then agent 1001 rings
  - {{match: '1\\d{{3}}', target: 'extension:\\g<0>', announce: greeting}}
"""

SCENARIOS = Path(__file__).resolve().parent.parent / "loadtests" / "sipp"
log = logging.getLogger("cti.demo")


def demo_config(port: int, data_dir: Path) -> Config:
    return parse_config(DEMO_CONFIG.format(port=port), "<demo>").with_overrides(
        data_dir=str(data_dir)
    )


def run_demo(*, sip_port: int, data_dir: Path, talk_seconds: float) -> int:
    sipp = shutil.which("sipp")
    if sipp is None:
        log.error("SIPp is not installed: run `apt-get install sip-tester` (or scripts/setup)")
        return 2
    from cti_server.reactor import install

    reactor = install()
    from cti_server.app import build_app, load_database_accounts

    logging.getLogger("cti.events").setLevel(logging.WARNING)  # the demo prints them itself
    config = demo_config(sip_port, data_dir)
    app = build_app(config, reactor, extra_accounts=load_database_accounts(config))
    app.start()
    port = app.sip_port
    outcome: dict[str, Any] = {"established": False, "cleared": None}
    say = _printer()
    say(f"server up: SIP UDP/TCP on 127.0.0.1:{port}; agents 1001, 1002; trunk demo-gw")

    def start_caller() -> None:
        say("SIPp gateway calls 1001 through trunk demo-gw; it presses 1 during the greeting")
        _spawn(
            reactor,
            sipp,
            [
                "-sf",
                str(SCENARIOS / "caller_demo.xml"),
                "-s",
                "1001",
                "-d",
                str(int(talk_seconds * 1000)),
                "-m",
                "1",
                "-timeout",
                "30s",
                "-nostdin",
                "-i",
                "127.0.0.1",
                "-p",
                "0",
                f"127.0.0.1:{port}",
            ],
            "caller",
            say,
            outcome,
        )

    def on_event(event: Event) -> None:
        say(
            f"event {event.name}: "
            + ", ".join(f"{k}={v}" for k, v in _fields(event).items() if v not in (None, ""))
        )
        if isinstance(event, AgentRegistered) and event.agent_id == "1001":
            reactor.callLater(0.2, start_caller)
        if isinstance(event, CallEstablished):
            outcome["established"] = True
        if isinstance(event, CallCleared):
            outcome["cleared"] = event.cause

    app.bus.subscribe(on_event)
    agent_port = _free_udp_port()
    say(f"SIPp softphone for agent 1001 listens on 127.0.0.1:{agent_port}")
    _spawn(
        reactor,
        sipp,
        [
            "-sf",
            str(SCENARIOS / "agent_answer.xml"),
            "-s",
            "1001",
            "-rtp_echo",  # the agent "speaks" by echoing what it hears
            "-m",
            "1",
            "-timeout",
            "30s",
            "-nostdin",
            "-i",
            "127.0.0.1",
            "-p",
            str(agent_port),
            f"127.0.0.1:{port}",
        ],
        "agent",
        say,
        outcome,
    )
    say("agent 1001 registers (digest auth)")
    _spawn(
        reactor,
        sipp,
        [
            "-sf",
            str(SCENARIOS / "register.xml"),
            "-s",
            "1001",
            "-au",
            "1001",
            "-ap",
            "demo1001",
            "-key",
            "contact_port",
            str(agent_port),
            "-m",
            "1",
            "-timeout",
            "10s",
            "-nostdin",
            "-i",
            "127.0.0.1",
            "-p",
            "0",
            f"127.0.0.1:{port}",
        ],
        "register",
        say,
        outcome,
    )
    reactor.callLater(40, reactor.stop)
    reactor.addSystemEventTrigger("before", "shutdown", app.stop)
    reactor.run()
    for closed in app.recording.closed if app.recording else []:
        say(
            f"recording of {closed.call_id}: {closed.path} ({closed.duration_s:.1f} s, "
            f"stereo: caller left, agent right; play it with `play {closed.path}`)"
        )
    ok = (
        outcome["established"]
        and outcome["cleared"] == "caller_hangup"
        and all(outcome.get(k) == 0 for k in ("caller", "agent", "register"))
    )
    say("demo " + ("PASSED: the call connected and cleared" if ok else f"FAILED: {outcome}"))
    return 0 if ok else 1


def _free_udp_port() -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _fields(event: Event) -> dict[str, object]:
    import dataclasses

    return {f.name: getattr(event, f.name) for f in dataclasses.fields(event) if f.name != "at"}


def _printer() -> Any:
    def say(text: str) -> None:
        sys.stdout.write(f"[demo] {text}\n")
        sys.stdout.flush()

    return say


def _spawn(
    reactor: Any, exe: str, args: list[str], name: str, say: Any, outcome: dict[str, Any]
) -> None:
    from twisted.internet.protocol import ProcessProtocol

    class _Proc(ProcessProtocol):
        def processEnded(self, reason: Any) -> None:
            code = reason.value.exitCode
            outcome[name] = code
            say(f"SIPp {name} finished with exit code {code}")
            if all(k in outcome for k in ("caller", "agent", "register")):
                reactor.callLater(0.5, reactor.stop)

    proc = reactor.spawnProcess(
        _Proc(), exe, [exe, *args], env=None, childFDs={0: "w", 1: "r", 2: "r"}
    )

    def reap() -> None:  # a peer still running when the demo ends is stopped by its PID
        if proc.pid is not None:
            proc.signalProcess("KILL")

    reactor.addSystemEventTrigger("before", "shutdown", reap)
