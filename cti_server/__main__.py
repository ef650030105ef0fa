"""The ``cti-server`` command: serve, check-config, demo, ha1.

The asyncio reactor is installed before anything imports Twisted (DESIGN.md §6).
"""

from __future__ import annotations

import argparse
import gc
import getpass
import logging
import signal
import sys
from pathlib import Path

from cti_server.config import Config, ConfigError, load_config

EPILOG = """examples:
  cti-server demo                                  run the built-in demo call on loopback
  cti-server serve --config cti.yaml               run the server
  cti-server serve --config cti.yaml --sip-port 5070 --data-dir /tmp/cti2
  cti-server check-config cti.yaml                 validate a config file, print file:line errors
  cti-server ha1 1001 --realm cti.local            print digest HA1s for an account (no plaintext)
  cti-server db upgrade                            create or migrate the database
  cti-server accounts add 1001 --display-name 김상담  store an agent's SIP account (HA1 only)
  cti-server prompts generate                      make the Korean/English prompts
  cti-server customers import customers.csv        load customers (PINs hashed, IDs keyed-hashed)
  cti-server customers demo                        load the demo customers (10001 / PIN 1234)
  cti-server simulate                              the proposal's day per strategy, vs Erlang C/A
  cti-server report --from 2026-12 --by day --format html   daily statistics of a month
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cti-server",
        description="Contact-center telephony server: SIP B2BUA with IVR, ACD, callbacks, "
        "recording and call statistics.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--log-level",
        default="INFO",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="default: INFO",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    serve = sub.add_parser(
        "serve", help="run the server", description="Run the server until SIGINT/SIGTERM."
    )
    _add_overrides(serve)

    check = sub.add_parser(
        "check-config",
        help="validate a config file and exit",
        description="Validate a config file; prints file:line: reason for "
        "every problem and exits 1, or prints a summary and exits 0.",
    )
    check.add_argument("file", type=Path, help="YAML config file")

    demo = sub.add_parser(
        "demo",
        help="start the server and place a real SIP call on loopback",
        description="Start the server on embedded defaults with two demo "
        "agents, register agent 1001 with SIPp, call it from a SIPp caller "
        "through a demo trunk, and print every step.",
    )
    demo.add_argument("--sip-port", type=int, default=0, help="SIP port (default: a free port)")
    demo.add_argument(
        "--data-dir", type=Path, default=Path("./data"), help="where state goes (default: ./data)"
    )
    demo.add_argument(
        "--stay",
        action="store_true",
        help="keep the server up after the scripted calls, for the agent desktop and the "
        "wallboard in a browser (Enter places another caller; Ctrl-C stops)",
    )
    demo.add_argument(
        "--http-port",
        type=int,
        default=None,
        help="HTTP port of the API and pages (default: 8080 with --stay, else a free port)",
    )
    demo.add_argument(
        "--talk-seconds",
        type=float,
        default=8.0,
        help="how long the caller talks to the agent (default: 8)",
    )

    ha1 = sub.add_parser(
        "ha1",
        help="print digest HA1 hashes for an account",
        description="Prompt for a password and print the ha1_md5/ha1_sha256 "
        "lines to paste into the accounts section of the config.",
    )
    ha1.add_argument("user")
    ha1.add_argument("--realm", default="cti.local", help="SIP realm (default: cti.local)")
    from cti_server.agent_report_cli import add_agents_command
    from cti_server.campaign_cli import add_campaign_commands
    from cti_server.crm.export_cli import add_crm_commands
    from cti_server.media.cli import add_prompts_parser
    from cti_server.report_cli import add_report_command
    from cti_server.simulate_cli import add_simulate_command
    from cti_server.storage.cli import add_db_parser
    from cti_server.storage.customer_cli import add_customer_commands
    from cti_server.storage.user_cli import add_user_commands

    add_prompts_parser(sub)
    add_db_parser(sub)
    add_customer_commands(sub)
    add_campaign_commands(sub)
    add_crm_commands(sub)
    add_user_commands(sub)
    add_simulate_command(sub)
    add_report_command(sub)
    add_agents_command(sub)
    return parser


def _add_overrides(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", type=Path, help="YAML config file (default: embedded defaults)")
    p.add_argument("--sip-port", type=int, help="override sip.port (0 = any free port)")
    p.add_argument("--sip-listen", help="override sip.listen address")
    p.add_argument("--http-port", type=int, help="override http.port")
    p.add_argument("--data-dir", type=Path, help="override data_dir")
    p.add_argument(
        "--rtp-ports",
        metavar="MIN-MAX",
        help="override media.port_min/port_max (side-by-side instances need "
        "disjoint ranges), e.g. 40000-41000",
    )


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)-5s %(name)s: %(message)s",
    )
    try:
        if args.command == "check-config":
            return _check_config(args.file)
        if args.command == "ha1":
            return _ha1(args.user, args.realm)
        if args.command in (
            "prompts",
            "db",
            "accounts",
            "customers",
            "campaigns",
            "crm",
            "users",
            "simulate",
            "report",
            "agents",
        ):
            return int(args.handler(args))
        if args.command == "demo":
            from cti_server.demo import run_demo

            http_port = args.http_port if args.http_port is not None else (8080 if args.stay else 0)
            return run_demo(
                sip_port=args.sip_port,
                data_dir=args.data_dir,
                talk_seconds=args.talk_seconds,
                stay=args.stay,
                http_port=http_port,
            )
        return _serve(args)
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return 1


def check_references(config: Config, source: str) -> None:
    """What pydantic cannot see from the file alone: prompt ids that do not exist."""
    from acd.strategies import validate_strategies
    from cti_server.contact_center import load_config_flows
    from cti_server.media.prompt_source import unknown_prompts

    problems = [
        f"{source}: routes.{i}.announce: unknown prompt {r.announce!r} "
        "(see `cti-server prompts list`)"
        for i, r in enumerate(config.routes)
        if r.announce and unknown_prompts([r.announce])
    ]
    queues = {q.name for q in config.acd.queues}
    problems += [
        f"{source}: routes.{i}.target: unknown queue {r.target[6:]!r} (add it under acd.queues)"
        for i, r in enumerate(config.routes)
        if r.target.startswith("queue:") and r.target[6:] not in queues
    ]
    try:
        validate_strategies(config.acd)
    except (ValueError, ConfigError) as exc:
        problems.append(f"{source}: acd: {exc}")
    from cti_server.crm.script_loader import check_scripts

    campaigns = [c.name for c in config.dialer.campaigns]
    problems += [
        f"{source}: {p}"
        for p in check_scripts(config.crm, sorted(queues), campaign_names=campaigns)
    ]
    if problems:
        raise ConfigError(problems)
    load_config_flows(config)  # every flow file checked; ConfigError lists file:line problems


def _check_config(path: Path) -> int:
    config = load_config(path)
    check_references(config, str(path))
    plain = [a.user for a in config.accounts if a.password is not None]
    from cti_server.contact_center import flow_names

    print(
        f"{path}: OK: {len(config.accounts)} accounts, {len(config.trunks)} trunks, "
        f"{len(config.routes)} routes, {len(config.acd.queues)} queues, "
        f"{len(config.acd.agents)} ACD agents, flows {sorted(flow_names(config)) or 'none'}; "
        f"SIP {config.sip.listen}:{config.sip.port}"
    )
    if plain:
        print(
            f"{path}: warning: plaintext passwords for {', '.join(plain)}; "
            "use `cti-server ha1 USER` and ha1_md5/ha1_sha256 instead"
        )
    return 0


def _reload_flows(app: object) -> None:
    try:
        app.center.reload_flows()  # type: ignore[attr-defined]
    except ConfigError as exc:
        logging.getLogger("cti").error("flows NOT reloaded:\n%s", exc)


def _ha1(user: str, realm: str) -> int:
    from cti_server.sip.digest import ha1

    password = (
        getpass.getpass(f"password for {user}@{realm}: ")
        if sys.stdin.isatty()
        else (sys.stdin.readline().rstrip("\n"))
    )
    print(
        f'  - user: "{user}"\n'
        f'    ha1_md5: "{ha1(user, realm, password, "MD5")}"\n'
        f'    ha1_sha256: "{ha1(user, realm, password, "SHA-256")}"'
    )
    return 0


def load_with_overrides(args: argparse.Namespace) -> Config:
    config = load_config(args.config)
    port_min = port_max = None
    if args.rtp_ports:
        low, sep, high = args.rtp_ports.partition("-")
        if not (sep and low.isdigit() and high.isdigit()):
            raise ConfigError([f"--rtp-ports: {args.rtp_ports!r} is not MIN-MAX, e.g. 40000-41000"])
        port_min, port_max = int(low), int(high)
    return config.with_overrides(
        **{"media.port_min": port_min, "media.port_max": port_max},
        **{
            "sip.port": args.sip_port,
            "sip.listen": args.sip_listen,
            "http.port": args.http_port,
            "data_dir": str(args.data_dir) if args.data_dir else None,
        },
    )


def _serve(args: argparse.Namespace) -> int:
    config = load_with_overrides(args)
    check_references(config, str(args.config or "<defaults>"))
    from cti_server.reactor import install

    reactor = install()
    from cti_server.app import build_app
    from cti_server.app_parts import load_database_accounts

    app = build_app(config, reactor, extra_accounts=load_database_accounts(config))
    from twisted.internet.error import CannotListenError

    try:
        app.start()
    except (OSError, CannotListenError) as exc:
        print(f"cannot listen on {config.sip.listen}:{config.sip.port}: {exc}", file=sys.stderr)
        return 2
    # Tests and benchmarks read this line to learn the bound port.
    tls = f" sips={config.sip.listen}:{app.sip_tls_port}" if app.sip_tls_port_obj else ""
    print(
        f"cti-server ready sip={config.sip.listen}:{app.sip_port} "
        f"http={config.http.listen}:{app.http_port}{tls}",
        flush=True,
    )
    reactor.addSystemEventTrigger("before", "shutdown", app.stop)  # close recordings cleanly
    # Everything built so far lives as long as the process: keep it out of the collector's
    # scans, and collect the young generation less often (a call makes many small objects).
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 20, 20)

    def stop() -> None:  # a second signal while stopping is not an error
        if reactor.running:
            reactor.stop()

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: reactor.callFromThread(stop))
    if app.center is not None:  # SIGHUP: re-read the IVR flows (calls in progress keep theirs)
        signal.signal(signal.SIGHUP, lambda *_: reactor.callFromThread(_reload_flows, app))
    reactor.run(installSignalHandlers=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
