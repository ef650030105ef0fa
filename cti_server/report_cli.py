"""``cti-server report``: call statistics for a period from the stored call records.

Hooked into the main parser with :func:`add_report_command`; the handler returns the exit
status (0, or 1 with a one-line reason on stderr: a bad date, an empty period, a database
that is missing or not migrated). It reads ``call_records`` with the sync engine (it runs
outside the reactor, like ``cti-server accounts``), rebuilds each fold from the row's
``record`` JSON, and computes with :mod:`metrics.stats`: SQL only loads.

:func:`to_stored` and :func:`from_stored` convert between the fold's record and the storage
row; the server's record writer and the stats API use them too.
"""

from __future__ import annotations

import argparse
import csv
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from cti_server.config import Config, load_config
from cti_server.storage.callback_figures import CallbackFigures, load_callback_figures
from cti_server.storage.db import Database, configured_url
from cti_server.storage.migrations import current_revision, head_revision
from cti_server.storage.repos import CallRecord as StoredCall
from cti_server.storage.tables import CallRecordRow
from metrics.callback_stats import callback_report
from metrics.cdr import CallRecord, Outcome
from metrics.event_rows import AgentStateRow
from metrics.periods import GROUPINGS, PeriodError, parse_moment
from metrics.reports import callback_text, csv_rows, html_page, text_table
from metrics.stats import StatsSettings, StatsTable, period_stats

FORMATS = ("table", "csv", "html", "png")

EPILOG = """examples:
  cti-server report --from 2026-12-01                        one day (Asia/Seoul), by day
  cti-server report --from 2026-12 --by day --format html    December, a page with the chart
  cti-server report --from 2026-12-01 --to 2026-12-08 --by agent --format csv --out week.csv
  cti-server report --from 2026 --by month --format png      the year's chart, month by month
  cti-server report --from 2026-12-01T09:00 --to 2026-12-01T18:00 --by hour --tz UTC

--from and --to are dates (YYYY-MM-DD), months (YYYY-MM), years (YYYY) or times
(YYYY-MM-DDTHH:MM) in the report's time zone; --to is exclusive and defaults to the end of
the day, month or year --from names. A call counts in the period it started in.
The table is always printed; csv, html and png also write --out (default
report-BY-FROM-TO.EXT). Figures: see metrics/stats.py (requests, answer rate, abandons
excluding short ones, service level, ASA, AHT). A callbacks section follows the table:
callbacks requested in the period by queue (done, failed, pending, completion rate, time
to callback, attempts per completion, handle time) and campaign leads by their last
attempt (dialled, answered, dropped and the drop rate, completion): metrics/callback_stats.py.
Each agent's performance (AHT, offer answer rate, occupancy, callbacks, QA) and a before/after
comparison: `cti-server agents report --help`.
"""


class ReportError(Exception):
    """A reason to stop with exit status 1 (the message goes to stderr)."""


def add_report_command(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``report`` to the ``cti-server`` sub-parsers."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "report",
        help="call statistics per day, month, year, hour, agent or queue",
        description="Print call statistics for a period from the stored call records "
        "(requests, answered and answer rate, abandons, service level, ASA, talk and wait "
        "time, AHT), and write them as CSV, an HTML page or a PNG chart.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_arguments(parser)
    parser.set_defaults(handler=report_command)
    return parser


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--from", dest="start", required=True, metavar="WHEN", help="start (see below)"
    )
    parser.add_argument(
        "--to", dest="end", metavar="WHEN", help="end, exclusive (default: end of --from's unit)"
    )
    parser.add_argument("--by", choices=GROUPINGS, default="day", help="grouping (default: day)")
    parser.add_argument("--format", choices=FORMATS, default="table", help="default: table")
    parser.add_argument("--out", type=Path, metavar="FILE", help="file for csv, html and png")
    parser.add_argument(
        "--tz", metavar="ZONE", help="IANA time zone (default: the config's, Asia/Seoul)"
    )
    parser.add_argument(
        "--sl-seconds",
        type=float,
        default=20.0,
        metavar="S",
        help="service level threshold (default: 20)",
    )
    parser.add_argument(
        "--short-abandon",
        type=float,
        default=5.0,
        metavar="S",
        help="abandons with a shorter wait are short abandons (default: 5)",
    )
    parser.add_argument(
        "--config", type=Path, metavar="FILE", help="server config (default: embedded)"
    )
    parser.add_argument(
        "--data-dir", type=Path, metavar="DIR", help="override data_dir (the SQLite file)"
    )


def run(argv: list[str]) -> int:
    """The command on its own (tests)."""
    parser = argparse.ArgumentParser(prog="cti-server report")
    add_arguments(parser)
    return report_command(parser.parse_args(argv))


def report_command(args: argparse.Namespace) -> int:
    try:
        return _report(args)
    except ReportError as exc:
        sys.stderr.write(f"report: {exc}\n")
        return 1


def _report(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    if args.data_dir is not None:
        config = config.with_overrides(data_dir=str(args.data_dir))
    tz = _zone(args.tz or config.timezone)
    start, unit_end = _moment(args.start, tz, "--from")
    end = _moment(args.end, tz, "--to")[0] if args.end else unit_end
    if end <= start:
        raise ReportError(f"--to ({end.isoformat()}) must be after --from ({start.isoformat()})")
    records = load_records(config, start, end)
    states = load_agent_states(config, start, end)
    settings = StatsSettings(
        service_level_seconds=args.sl_seconds, short_abandon_seconds=args.short_abandon
    )
    try:
        table = period_stats(
            records, start=start, end=end, by=args.by, tz=tz, settings=settings, agent_states=states
        )
    except PeriodError as exc:
        raise ReportError(str(exc)) from exc
    sys.stdout.write(text_table(table) + "\n")
    figures = load_callbacks(config, start, end)
    callbacks = callback_report(
        figures.callbacks,
        figures.leads,
        figures.progress,
        records,
        start=start,
        end=end,
        tz=tz,
        now=datetime.now(UTC).timestamp(),
    )
    sys.stdout.write("\n" + callback_text(callbacks) + "\n")
    if args.format != "table":
        span = f"{args.start}-{args.end or end.date().isoformat()}".replace(":", "")
        out = args.out or Path(f"report-{args.by}-{span}.{args.format}")
        _write(out, args.format, table)
        sys.stdout.write(f"wrote {out}\n")
    return 0


def _moment(text: str, tz: ZoneInfo, option: str) -> tuple[datetime, datetime]:
    try:
        return parse_moment(text, tz)
    except PeriodError as exc:
        raise ReportError(f"{option}: {exc}") from exc


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ReportError(f"unknown time zone {name!r}") from exc


def load_records(config: Config, start: datetime, end: datetime) -> list[CallRecord]:
    """The calls that started in ``[start, end)`` from the configured database."""
    url = make_url(configured_url(config))
    if url.get_backend_name() == "sqlite" and url.database and not Path(url.database).exists():
        raise ReportError(f"no database at {url.database}: run `cti-server db upgrade` first")
    db = Database.from_config(config)
    try:
        at, head = current_revision(db.sync_engine), head_revision()
        if at != head:
            raise ReportError(
                f"database {db.display_url} is at revision {at or 'none'}, not {head}: "
                "run `cti-server db upgrade` first"
            )
        stmt = (
            select(CallRecordRow)
            .where(CallRecordRow.started_at >= start.astimezone(UTC))
            .where(CallRecordRow.started_at < end.astimezone(UTC))
            .order_by(CallRecordRow.started_at, CallRecordRow.call_id)
        )
        with Session(db.sync_engine) as session:
            rows = [_stored(row) for row in session.scalars(stmt)]
    finally:
        db.dispose_sync()
    return [from_stored(r) for r in rows]


def load_callbacks(config: Config, start: datetime, end: datetime) -> CallbackFigures:
    """Callback requests and campaign leads of ``[start, end)`` (after ``load_records``
    checked the database)."""
    db = Database.from_config(config)
    try:
        return load_callback_figures(db, start, end)
    finally:
        db.dispose_sync()


STATE_LOOKBACK = timedelta(days=1)  # the state an agent was in when the period began


def load_agent_states(config: Config, start: datetime, end: datetime) -> list[AgentStateRow]:
    """The agent state log around ``[start, end)`` (for occupancy), oldest first."""
    from cti_server.storage.tables import AgentStateLogRow

    db = Database.from_config(config)
    log = AgentStateLogRow
    stmt = (
        select(log)
        .where(log.at >= (start - STATE_LOOKBACK).astimezone(UTC))
        .where(log.at < end.astimezone(UTC))
        .order_by(log.at, log.id)
    )
    try:
        with Session(db.sync_engine) as session:
            return [
                AgentStateRow(
                    at=row.at.timestamp(),
                    agent_id=row.agent_id,
                    state=row.state,
                    previous=row.previous or "",
                    reason=row.reason or "",
                    call_id=row.call_id,
                    by=row.by or "",
                )
                for row in session.scalars(stmt)
            ]
    finally:
        db.dispose_sync()


def _stored(row: CallRecordRow) -> StoredCall:
    return StoredCall(**{c.key: getattr(row, c.key) for c in CallRecordRow.__table__.columns})


def to_stored(record: CallRecord) -> StoredCall:
    """The storage row for a finished record (``ended_at`` set); ``record`` keeps the fold."""
    if record.ended_at is None:
        raise ValueError(f"call {record.call_id} has not ended")
    answered = record.answered_at
    return StoredCall(
        call_id=record.call_id,
        started_at=datetime.fromtimestamp(record.started_at, UTC),
        ended_at=datetime.fromtimestamp(record.ended_at, UTC),
        caller=record.caller,
        called=record.called,
        cause=record.cause or "",
        status=record.status,
        answered_at=None if answered is None else datetime.fromtimestamp(answered, UTC),
        trunk=record.trunk,
        agent_id=record.agent_id,
        record=record.to_dict(),
    )


def from_stored(row: StoredCall) -> CallRecord:
    """The fold from the row's ``record`` JSON. A row without one (written by something other
    than the fold) gives a record from its columns: a call that asked for a person (unless
    refused), answered or not, with no queue figures."""
    if row.record.get("call_id"):
        try:
            return CallRecord.from_dict(row.record)
        except (TypeError, ValueError):
            pass  # a damaged document: the columns still say what happened
    answered = row.answered_at.timestamp() if row.answered_at else None
    ended = row.ended_at.timestamp()
    refused = row.status >= 400
    outcome = Outcome.ANSWERED if answered else Outcome.REJECTED if refused else Outcome.FAILED
    started = row.started_at.timestamp()
    return CallRecord(
        call_id=row.call_id,
        started_at=started,
        dialed_at=None if refused else started,
        caller=row.caller,
        called=row.called,
        trunk=row.trunk,
        agent_id=row.agent_id,
        answered_at=answered,
        talk_seconds=None if answered is None else ended - answered,
        cause=row.cause,
        status=row.status,
        ended_at=ended,
        outcome=outcome,
    )


def _write(out: Path, fmt: str, table: StatsTable) -> None:
    try:
        if fmt == "csv":
            with out.open("w", newline="", encoding="utf-8-sig") as f:  # BOM: Excel reads UTF-8
                csv.writer(f).writerows(csv_rows(table))
            return
        from cti_server.report_chart import chart_png

        png, warnings = chart_png(table)
        for warning in warnings:
            sys.stderr.write(f"report: {warning}\n")
        if fmt == "png":
            out.write_bytes(png)
        else:
            out.write_text(html_page(table, png), encoding="utf-8")
    except OSError as exc:
        raise ReportError(f"cannot write {out}: {exc.strerror or exc}") from exc
