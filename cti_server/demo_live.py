"""``cti-server demo --stay``: after the scripted calls the demo server keeps running for a
person at a browser.

Agent 1001's "headset" is a SIPp phone that answers every call and stays registered; the
customers behind the demo trunk are a SIPp phone that answers every call too, so click-to-call
and callbacks reach someone. The person logs into the desktop as 1001 and the wallboard as
``super``; pressing Enter in the terminal sends one more caller through the IVR (customer
10001, PIN 1234), who stays on the line until the agent hangs up from the desktop.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from cti_server.demo_peers import register_args, sipp_args

LOGINS = "agent 1001 / 1001pass (also 1002 / 1002pass), supervisor super / superpass"
REGISTER_EVERY = 90.0  # the demo phone registers for 120 s


class LiveDemo:
    def __init__(
        self,
        reactor: Any,
        sipp: str,
        sip_port: int,
        http_port: int,
        data_dir: Path,
        customer_port: int,
        say: Callable[[str], None],
        spawn: Callable[..., None],
        scenarios: Path,
    ) -> None:
        self._reactor = reactor
        self._sipp = sipp
        self._sip_port = sip_port
        self._http_port = http_port
        self._data_dir = data_dir
        self._customer_port = customer_port
        self._say = say
        self._spawn = spawn
        self._scenarios = scenarios
        self._agent_port = 0
        self.callers = 0

    def begin(self, agent_port: int) -> None:
        """Start the long-lived phones, keep agent 1001 registered, listen for Enter."""
        from twisted.internet import stdio
        from twisted.internet.task import LoopingCall
        from twisted.protocols.basic import LineReceiver

        self._agent_port = agent_port
        self._phone("agent_answer.xml", agent_port, "1001", "headset")
        self._phone("agent_answer.xml", self._customer_port, "customer", "customers")
        self._registrar = LoopingCall(self._register)
        self._registrar.clock = self._reactor
        self._registrar.start(REGISTER_EVERY, now=True)
        base = f"http://127.0.0.1:{self._http_port}"
        self._say("the server stays up for you now:")
        self._say(f"  agent desktop     {base}/desktop/")
        self._say(f"  wallboard         {base}/wallboard/")
        self._say(f"  API (OpenAPI)     {base}/api/v1/openapi.json")
        self._say(f"  logins            {LOGINS}")
        self._say("  click-to-call any 0xx number from the desktop: the demo customer answers")
        self._say("press Enter to send a caller through the IVR (10001, PIN 1234); Ctrl-C stops")
        demo = self

        class Keys(LineReceiver):
            delimiter = b"\n"

            def lineReceived(self, line: bytes) -> None:
                demo.place_caller()

        stdio.StandardIO(Keys(), reactor=self._reactor)

    def place_caller(self) -> None:
        from cti_server.demo import CALLER_KEYS, SPEECH
        from cti_server.sipp_caller import write_caller_scenario

        self.callers += 1
        name = f"live_caller{self.callers}"
        xml = write_caller_scenario(
            self._data_dir / "demo_scenarios",
            [*CALLER_KEYS, (5.0, "@" + SPEECH)],
            name=name,
            codecs="8 0",
            ends="server",
            server_timeout=600,
        )
        self._say(f"caller {self.callers} dials 1588 (customer 10001); hang up from the desktop")
        args = sipp_args(xml, self._sip_port, "-s", "1588", timeout="600s")
        self._spawn(self._reactor, self._sipp, args, name, self._say, {"expect": ()})

    def _phone(self, scenario: str, port: int, user: str, name: str) -> None:
        args = sipp_args(
            self._scenarios / scenario,
            self._sip_port,
            *("-s", user, "-rtp_echo"),
            calls=10000,
            timeout="86400s",
            port=port,
        )
        self._spawn(self._reactor, self._sipp, args, name, self._say, {"expect": ()})

    def _register(self) -> None:
        args = register_args(self._scenarios, self._sip_port, "1001", "demo1001", self._agent_port)
        self._spawn(self._reactor, self._sipp, args, "register", lambda _t: None, {"expect": ()})
