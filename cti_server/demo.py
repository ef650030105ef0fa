"""``cti-server demo``: the contact center on embedded defaults and one real call over loopback.

Agent 1001 registers from a SIPp softphone (digest auth) and the ACD makes them ready. A
SIPp "gateway" calls the service number 1588 through the demo trunk: the IVR greets the
caller in Korean, the caller presses 1 (Korean), types customer number 10001# and PIN 1234#
(RFC 2833; the PIN is masked everywhere), the PIN is checked (scrypt, off the reactor), the
VIP customer is queued in ``general`` with priority and offered to their own agent first,
the agent's phone rings and answers, the screen pop is attached to the call, the caller
talks (A-law, transcoded for the µ-law agent, recorded in stereo) and hangs up.

Meanwhile a second caller (010-5555-0002) dials 1599, the ``express`` queue, where nobody is
free: after its maximum wait (6 s) the queue overflows to a callback, the request is stored
and confirmed, and the caller is hung up. When agent 1001 is free again (after wrap-up) the
dialer rings the agent first, then calls the customer back through the trunk (a SIPp phone
playing the customer), and the request is done. Every domain event is printed as it happens;
the exit status says whether all of it happened.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any

from cti_server.config import Config, parse_config
from cti_server.demo_peers import (
    PEERS,
    event_fields,
    free_udp_port,
    printer,
    register_args,
    sipp_args,
    spawn,
)
from cti_server.events import (
    AgentLoggedIn,
    AuthenticationAttempted,
    CallbackCompleted,
    CallbackRequested,
    CallCleared,
    CallDialed,
    CallEstablished,
    CallQueued,
    Event,
)

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
  - {{name: demo-gw, allow_from: [127.0.0.1/32], outbound_uri: "sip:127.0.0.1:{customer_port}"}}
ivr:
  flows_dir: {flows}
acd:
  queues:
    - {{name: general, title: 일반 상담, strategy: equalized, offer_timeout: 15, wrap_up: 5}}
    - {{name: express, title: 빠른 상담, max_wait: 6, overflow: callback}}
  agents:
    - {{id: "1001", name: 김상담, queues: [general, express]}}
    - {{id: "1002", name: 이상담, queues: [general, express]}}
dialer:
  poll_interval: 2
  callbacks:   # the demo calls back at any hour; real centres keep the default 09:00-20:00
    calling_hours:
      weekdays: {{start: "00:00", end: "23:59"}}
      weekends: {{start: "00:00", end: "23:59"}}
routes:
  - {{match: '1588', target: 'flow:main'}}        # the service number: the IVR
  - {{match: '1599', target: 'queue:express'}}    # straight to a queue (callback on overflow)
  - {{match: '0\\d{{9,10}}', target: 'trunk:demo-gw'}}  # customers, called back
  - {{match: '1\\d{{3}}', target: 'extension:\\g<0>'}}   # agents dial each other
"""

# The caller's keys, in seconds after the call is answered: the greeting lasts ~3 s, then
# the language menu plays; a key during a menu or collect prompt cuts it (barge-in).
CALLER_KEYS = [(4.5, "1"), (1.5, "10001#"), (1.5, "1234#")]
ALWAYS_OPEN = ('mon-fri: "09:00-18:00"', 'mon-sun: "00:00-24:00"')
SCENARIOS = Path(__file__).resolve().parent.parent / "loadtests" / "sipp"
SPEECH = "/usr/share/sip-tester/g711a.pcap"
log = logging.getLogger("cti.demo")


def always_open_flows(directory: Path, edits: list[tuple[str, str]] | None = None) -> Path:
    """The shipped flows with the office open around the clock (a demo or a test must not
    depend on the time of day), and ``(old, new)`` text edits applied to ``main.yaml``."""
    from ivr_flows.loader import default_flows_dir

    directory.mkdir(parents=True, exist_ok=True)
    text = (default_flows_dir() / "main.yaml").read_text()
    for old, new in [ALWAYS_OPEN, *(edits or [])]:
        if old not in text:
            raise ValueError(f"main.yaml has no {old!r} to replace")
        text = text.replace(old, new)
    (directory / "main.yaml").write_text(text)
    return directory


def demo_config(port: int, data_dir: Path, customer_port: int = 5099) -> Config:
    flows = always_open_flows(data_dir / "demo_flows")
    text = DEMO_CONFIG.format(port=port, flows=flows, customer_port=customer_port)
    return parse_config(text, "<demo>").with_overrides(data_dir=str(data_dir))


def load_demo_customers(config: Config) -> None:
    from datetime import UTC, datetime

    from cti_server.storage import Database
    from cti_server.storage.customers import CustomerDirectory
    from cti_server.storage.demo_data import load_demo_data
    from cti_server.storage.users import UserRepo, seed_demo_users

    db = Database.from_config(config)
    try:
        load_demo_data(CustomerDirectory.from_config(config, db), now=datetime.now(UTC))
        seed_demo_users(UserRepo(db))  # desktop logins: 1001/1001pass, super/superpass, ...
    finally:
        db.dispose_sync()


def run_demo(
    *, sip_port: int, data_dir: Path, talk_seconds: float, stay: bool = False, http_port: int = 0
) -> int:
    sipp = shutil.which("sipp")
    if sipp is None:
        log.error("SIPp is not installed: run `apt-get install sip-tester` (or scripts/setup)")
        return 2
    from cti_server.reactor import install

    reactor = install()
    from cti_server.app import build_app
    from cti_server.app_parts import load_database_accounts
    from cti_server.sipp_caller import write_caller_scenario

    logging.getLogger("cti.events").setLevel(logging.WARNING)  # the demo prints them itself
    customer_port = free_udp_port()
    config = demo_config(sip_port, data_dir, customer_port)
    if http_port:
        config = config.with_overrides(**{"http.port": http_port})
    accounts = load_database_accounts(config)  # also creates or migrates the database
    load_demo_customers(config)
    app = build_app(config, reactor, extra_accounts=accounts)
    app.start()
    port = app.sip_port
    outcome: dict[str, Any] = {"established": False, "cleared": None, "expect": set(PEERS)}
    say = printer()
    say(f"server up: SIP UDP/TCP on 127.0.0.1:{port}; agents 1001, 1002; trunk demo-gw")
    say("IVR flow `main` on 1588 (office hours opened around the clock for the demo)")
    caller_xml = write_caller_scenario(
        data_dir / "demo_scenarios",
        [*CALLER_KEYS, (12.0, "@" + SPEECH)],  # talk once the agent has answered
        name="demo_caller",
        codecs="8 0",  # A-law first, like a Korean PSTN gateway
    )

    def start_caller() -> None:
        say("SIPp gateway calls 1588: it presses 1 (Korean), 10001# and PIN 1234#")
        talk = str(int(talk_seconds * 1000))
        args = sipp_args(caller_xml, port, "-s", "1588", "-d", talk, timeout="60s")
        spawn(reactor, sipp, args, "caller", say, outcome)

    def on_event(event: Event) -> None:
        say(
            f"event {event.name}: "
            + ", ".join(f"{k}={v}" for k, v in event_fields(event).items() if v not in (None, ""))
        )
        if isinstance(event, AgentLoggedIn) and event.agent_id == "1001":
            reactor.callLater(0.2, start_caller)
        if isinstance(event, AuthenticationAttempted) and event.outcome == "ok":
            outcome["authenticated"] = event.customer_id
        if isinstance(event, CallQueued) and "queued" not in outcome:
            outcome["queued"] = event.customer_id
        if isinstance(event, CallEstablished) and not outcome["established"]:
            outcome["established"] = True
            reactor.callLater(1.0, show_screen_pop, event.call_id)
            reactor.callLater(1.5, start_waiting_caller)
        if isinstance(event, CallCleared) and outcome["cleared"] is None:
            outcome["cleared"] = event.cause
        if isinstance(event, CallbackRequested):
            outcome["callback"] = event.callback_id
        if isinstance(event, CallDialed):
            say(f"dialer: agent {event.agent_id} rings first, then {event.number} is called back")
        if isinstance(event, CallbackCompleted) and event.callback_id == outcome.get("callback"):
            outcome["called_back"] = True

    def start_waiting_caller() -> None:
        say("a second caller (01055550002) dials 1599: queue `express`, nobody free")
        xml = write_caller_scenario(
            data_dir / "demo_scenarios",
            [],
            name="demo_waiting",
            caller="01055550002",
            ends="server",
        )
        spawn(reactor, sipp, sipp_args(xml, port, "-s", "1599"), "waiting_caller", say, outcome)

    def show_screen_pop(call_id: str) -> None:
        call = app.switch.controller.calls.get(call_id)
        pop = call.screen_pop if call is not None else None
        if not pop:
            say("screen pop: not attached")
            return
        outcome["screen_pop"] = True
        payment = (pop.get("usual_payment") or {}).get("label", "-")
        products = ", ".join(p["name"] for p in pop.get("frequent_products", []))
        say(
            f"screen pop for agent 1001: {pop['name']} (customer {pop['customer_number']}, "
            f"VIP={pop['vip']}, verified by {pop['auth_method']}); usual payment {payment}; "
            f"frequent products {products}; {len(pop.get('inquiries', []))} past inquiries"
        )

    app.bus.subscribe(on_event)
    agent_port = free_udp_port()
    say(f"SIPp softphone for agent 1001 listens on 127.0.0.1:{agent_port}")
    phone = ("-s", "1001", "-rtp_echo")  # the agent "speaks" by echoing what it hears
    args = sipp_args(SCENARIOS / "agent_answer.xml", port, *phone, calls=2, port=agent_port)
    spawn(reactor, sipp, args, "agent", say, outcome)  # the caller, then the callback
    say(f"SIPp phone of customer 01055550002 (behind trunk demo-gw) on 127.0.0.1:{customer_port}")
    customer = SCENARIOS / "agent_hangup.xml"  # answers, talks 1 s, hangs up
    spawn(reactor, sipp, sipp_args(customer, 0, port=customer_port), "customer", say, outcome)
    say("agent 1001 registers (digest auth)")
    args = register_args(SCENARIOS, port, "1001", "demo1001", agent_port)
    spawn(reactor, sipp, args, "register", say, outcome)
    live = None
    if stay:
        from cti_server.demo_live import LiveDemo

        live = LiveDemo(
            reactor, sipp, port, app.http_port, data_dir, customer_port, say, spawn, SCENARIOS
        )

    def conclude() -> None:
        """The scripted calls are over (or out of time): say how they went, then stop, or
        (``stay``) keep the server up for a person at a browser."""
        if "ok" in outcome:
            return
        outcome["ok"] = _summary(app, outcome, say)
        if live is None:
            reactor.stop()
        else:
            live.begin(agent_port)

    outcome["conclude"] = conclude
    reactor.callLater(100, conclude)
    reactor.addSystemEventTrigger("before", "shutdown", app.stop)
    reactor.run()
    return 0 if outcome.get("ok") else 1


def _summary(app: Any, outcome: dict[str, Any], say: Any) -> bool:
    for closed in app.recording.closed if app.recording else []:
        say(
            f"recording of {closed.call_id}: {closed.path} ({closed.duration_s:.1f} s, "
            f"stereo: caller left, agent right; play it with `play {closed.path}`)"
        )
    ok = bool(
        outcome.get("authenticated")
        and outcome.get("queued") == outcome.get("authenticated")
        and outcome["established"]
        and outcome.get("screen_pop")
        and outcome["cleared"] == "caller_hangup"
        and outcome.get("called_back")
        and all(outcome.get(k) == 0 for k in PEERS)
    )
    say(
        "demo "
        + (
            "PASSED: the caller logged in by PIN, was queued and reached agent 1001 "
            "with the screen pop; the caller who asked for a callback was called back"
            if ok
            else f"FAILED: {outcome}"
        )
    )
    return ok
