"""``cti-server agents report|demo-history``: agent performance from the stored records.

``report`` prints each agent's figures for a period (calls handled, AHT, answer rate on
offers, no-answers, hold and wrap-up, occupancy, callback completions, QA) and the centre's
proposal figures, optionally before and after a date, and writes CSV, an HTML page or a PNG
chart per agent. ``demo-history`` writes weeks of synthetic history with an improvement on a
date (:mod:`cti_server.storage.demo_history`) so the report has something to show. Both read
the configured database with the sync engine, outside the reactor, like ``cti-server
report``; the handlers return the exit status (1 with a one-line reason on stderr).
"""

from __future__ import annotations

import argparse
import csv
import random
import sys
from dataclasses import replace
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy.engine import make_url

from cti_server.config import Config, load_config
from cti_server.report_cli import ReportError
from cti_server.storage.agent_figures import AgentFiguresData, load_agent_figures
from cti_server.storage.db import Database, configured_url
from cti_server.storage.migrations import current_revision, head_revision
from metrics.agent_comparison import Comparison, split_compare
from metrics.agent_performance import PerformanceReport, performance_report, weekly
from metrics.agent_report import (
    csv_comparison,
    csv_rows,
    html_page,
    text_comparison,
    text_report,
)
from metrics.periods import PeriodError, parse_moment

FORMATS = ("text", "csv", "html", "png")
DEMO_AGENTS = ("1001", "1002")
EPILOG = """examples:
  cti-server agents demo-history                 8 weeks to last Sunday, better from week 5
  cti-server agents report --from 2026-10-05 --to 2026-11-30 --compare-before 2026-11-02
  cti-server agents report --from 2026-11 --format png --out agents.png
  cti-server agents report --from 2026-11 --agent 1001 --format html

--from, --to and --compare-before are dates (YYYY-MM-DD), months, years or times
(YYYY-MM-DDTHH:MM) in the report's time zone; --to is exclusive and defaults to the end of
the unit --from names. --compare-before D sets [from, D) against [D, to) and prints each
figure's change. Definitions: metrics/agent_performance.py (handled calls, AHT = (talk +
hold + wrap-up) / handled, offer answer rate = answered / (answered + no answer + declined),
answer rate = inbound answered / inbound requests, per day = per day worked).
"""


def add_agents_command(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``agents`` to the ``cti-server`` sub-parsers."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "agents",
        help="agent performance reports and the demo history behind them",
        description="Agent performance per period (상담원 성과), and synthetic history.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = parser.add_subparsers(dest="agents_action", metavar="ACTION", required=True)
    report = actions.add_parser(
        "report",
        help="each agent's figures for a period, optionally before/after a date",
        description="Print each agent's calls handled, AHT, offer answer rate, no-answers, "
        "hold and wrap-up time, occupancy, callback completions and QA score, and the "
        "centre's answer rate, AHT, answered calls per agent-day and callbacks per day.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_report_arguments(report)
    report.set_defaults(handler=report_command)
    demo = actions.add_parser(
        "demo-history",
        help="write weeks of synthetic calls, states and callbacks with an improvement",
        description="Write a synthetic history for the demo agents: working days with "
        "handle time 150 s, answer rate 61 %% and 100 callbacks a day before the change "
        "date, 135 s, 68 %% and 110 after (MISSION.md item 11). Seeded: every run writes "
        "the same; it replaces the previous demo history (rows named demo-h-*).",
    )
    add_demo_arguments(demo)
    demo.set_defaults(handler=demo_command)
    return parser


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tz", metavar="ZONE", help="IANA zone (default: the config's)")
    parser.add_argument("--config", type=Path, metavar="FILE", help="server config")
    parser.add_argument("--data-dir", type=Path, metavar="DIR", help="override data_dir")


def add_report_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--from", dest="start", required=True, metavar="WHEN", help="start")
    parser.add_argument("--to", dest="end", metavar="WHEN", help="end, exclusive")
    parser.add_argument(
        "--compare-before", metavar="WHEN", help="compare [from, WHEN) with [WHEN, to)"
    )
    parser.add_argument(
        "--agent", action="append", metavar="ID", help="only this agent (repeatable)"
    )
    parser.add_argument("--format", choices=FORMATS, default="text", help="default: text")
    parser.add_argument("--out", type=Path, metavar="FILE", help="file for csv, html and png")
    _common(parser)


def add_demo_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--weeks", type=int, default=8, help="weeks of history (default: 8)")
    parser.add_argument(
        "--start", metavar="DATE", help="first day (default: WEEKS weeks before this Monday)"
    )
    parser.add_argument(
        "--change", metavar="DATE", help="first day after the change (default: half-way)"
    )
    parser.add_argument("--agents", metavar="IDS", help="comma-separated (default: the config's)")
    parser.add_argument("--seed", type=int, default=7, help="random seed (default: 7)")
    _common(parser)


def run(argv: list[str]) -> int:
    """``agents ...`` on its own (tests)."""
    parser = argparse.ArgumentParser(prog="cti-server")
    add_agents_command(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["agents", *argv])
    return int(args.handler(args))


def report_command(args: argparse.Namespace) -> int:
    return _guard("agents report", _report, args)


def demo_command(args: argparse.Namespace) -> int:
    return _guard("agents demo-history", _demo, args)


def _guard(name: str, action: Any, args: argparse.Namespace) -> int:
    try:
        return int(action(args))
    except ReportError as exc:
        sys.stderr.write(f"{name}: {exc}\n")
        return 1


def _setup(args: argparse.Namespace) -> tuple[Config, ZoneInfo, Database]:
    config = load_config(args.config)
    if args.data_dir is not None:
        config = config.with_overrides(data_dir=str(args.data_dir))
    name = args.tz or config.timezone
    try:
        tz = ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ReportError(f"unknown time zone {name!r}") from exc
    return config, tz, open_database(config)


def open_database(config: Config) -> Database:
    """The configured database, checked to exist and be migrated to the head revision."""
    url = make_url(configured_url(config))
    if url.get_backend_name() == "sqlite" and url.database and not Path(url.database).exists():
        raise ReportError(f"no database at {url.database}: run `cti-server db upgrade` first")
    db = Database.from_config(config)
    at, head = current_revision(db.sync_engine), head_revision()
    if at != head:
        db.dispose_sync()
        raise ReportError(
            f"database {db.display_url} is at revision {at or 'none'}, not {head}: "
            "run `cti-server db upgrade` first"
        )
    return db


def _moment(text: str, tz: ZoneInfo, option: str) -> tuple[datetime, datetime]:
    try:
        return parse_moment(text, tz)
    except PeriodError as exc:
        raise ReportError(f"{option}: {exc}") from exc


def _report(args: argparse.Namespace) -> int:
    _, tz, db = _setup(args)
    start, unit_end = _moment(args.start, tz, "--from")
    end = _moment(args.end, tz, "--to")[0] if args.end else unit_end
    if end <= start:
        raise ReportError(f"--to ({end.isoformat()}) must be after --from ({start.isoformat()})")
    at = _moment(args.compare_before, tz, "--compare-before")[0] if args.compare_before else None
    try:
        data = load_agent_figures(db, start, end)
    finally:
        db.dispose_sync()
    names: list[str] = args.agent or []
    report = performance_report(
        data.records, data.states, data.qa_scores, start=start, end=end, tz=tz, agents=names
    )
    comparison = None
    if at is not None:
        try:
            comparison = split_compare(
                data.records, data.states, data.qa_scores, start=start, at=at, end=end, tz=tz
            )
        except ValueError as exc:
            raise ReportError(f"--compare-before: {exc}") from exc
    if names:
        report, comparison = _only(report, names), _only_changes(comparison, names)
    sys.stdout.write(text_report(report) + "\n")
    if comparison is not None:
        sys.stdout.write("\n" + text_comparison(comparison) + "\n")
    if args.format != "text":
        span = f"{args.start}-{args.end or end.date().isoformat()}".replace(":", "")
        out = args.out or Path(f"agents-{span}.{args.format}")
        _write(out, args.format, report, comparison, data, names)
        sys.stdout.write(f"wrote {out}\n")
    return 0


def _only(report: PerformanceReport, names: list[str]) -> PerformanceReport:
    return replace(report, agents=tuple(report.agent(n) for n in names))


def _only_changes(comparison: Comparison | None, names: list[str]) -> Comparison | None:
    if comparison is None:
        return None
    return replace(
        comparison,
        before=_only(comparison.before, names),
        after=_only(comparison.after, names),
        agents=tuple((n, comparison.changes(n)) for n in names),
    )


def _write(
    out: Path,
    fmt: str,
    report: PerformanceReport,
    comparison: Comparison | None,
    data: AgentFiguresData,
    names: list[str],
) -> None:
    try:
        if fmt == "csv":
            rows = csv_rows(report) if comparison is None else csv_comparison(comparison)
            with out.open("w", newline="", encoding="utf-8-sig") as f:  # BOM: Excel reads UTF-8
                csv.writer(f).writerows(rows)
            return
        from cti_server.agent_chart import agent_chart_png

        tz = ZoneInfo(report.tz)
        weeks = weekly(
            data.records, data.states, data.qa_scores, start=report.start, end=report.end, tz=tz
        )
        at = None if comparison is None else comparison.at
        png, warnings = agent_chart_png(weeks, agents=[*names, "total"] if names else None, at=at)
        for warning in warnings:
            sys.stderr.write(f"agents report: {warning}\n")
        if fmt == "png":
            out.write_bytes(png)
        else:
            out.write_text(html_page(report, comparison, png), encoding="utf-8")
    except OSError as exc:
        raise ReportError(f"cannot write {out}: {exc.strerror or exc}") from exc


def _demo(args: argparse.Namespace) -> int:
    from cti_server.storage.demo_history import DemoPlan, default_plan, generate, write_history

    config, tz, db = _setup(args)
    agents = tuple(a.strip() for a in (args.agents or "").split(",") if a.strip())
    agents = agents or tuple(a.id for a in config.acd.agents) or DEMO_AGENTS
    queue = config.acd.queues[0].name if config.acd.queues else "general"
    try:
        plan = default_plan(agents, datetime.now(tz).date(), args.weeks)
        start = _date(args.start, "--start") or plan.start
        end = start + (plan.end - plan.start)
        change = _date(args.change, "--change") or start + (plan.change - plan.start)
        plan = DemoPlan(agents=agents, start=start, change=change, end=end, queue=queue)
        history = generate(plan, tz, random.Random(args.seed))
        write_history(db, history)
    except ValueError as exc:
        raise ReportError(str(exc)) from exc
    finally:
        db.dispose_sync()
    sys.stdout.write(
        f"demo history: {len(history.records)} call records, {len(history.states)} agent "
        f"states, {len(history.callbacks)} callbacks for agents {', '.join(agents)}, "
        f"{start} to {end} (exclusive), changed on {change}\n"
        f"read it back: cti-server agents report --from {start} --to {end} "
        f"--compare-before {change}\n"
    )
    return 0


def _date(text: str | None, option: str) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise ReportError(f"{option}: {text!r} is not a date (YYYY-MM-DD)") from exc
