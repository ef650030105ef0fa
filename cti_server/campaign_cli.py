"""``cti-server campaigns``: outbound campaigns and the do-not-call list from a shell.

Hooked into the main parser with :func:`add_campaign_commands`; like ``customers`` each
sub-command stores its handler as ``args.handler`` (which returns the exit status) and takes
``--config``/``--data-dir`` to find the database. Status commands only write the database:
the running server's dialer picks the change up on its next poll. Times are shown in the
configured zone (``timezone``, default Asia/Seoul).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any
from zoneinfo import ZoneInfo

from pydantic import ValidationError

from cti_server.config import Config
from cti_server.storage.campaign_import import ImportFileError, import_leads, read_lead_file
from cti_server.storage.campaigns import (
    CampaignExists,
    CampaignNotFound,
    CampaignRepo,
    DncRepo,
    IllegalCampaignStatus,
    Lead,
    dnc_number,
)
from cti_server.storage.cli import _add_location, _config, _open_migrated
from cti_server.storage.db import Database

EXIT_OK, EXIT_REJECTED, EXIT_FAILED = 0, 1, 2

CAMPAIGNS_EPILOG = """examples:
  cti-server campaigns create renewal-dec --queue sales --csv leads.csv
  cti-server campaigns create survey --queue support --csv list.csv --customer-first --pacing 1.5
  cti-server campaigns list                          status, leads and progress of each
  cti-server campaigns start renewal-dec             the dialer starts calling
  cti-server campaigns pause renewal-dec             / resume / stop
  cti-server campaigns export renewal-dec --out result.csv
  cti-server campaigns dnc add 010-1234-5678 --reason "고객 요청"

CSV columns (header line, any order): number (required), name, customer_id, time_zone
(IANA, e.g. Asia/Seoul); other columns are kept and shown to the agent. UTF-8 or CP949.
Run `cti-server db upgrade` first.
"""


def add_campaign_commands(subparsers: Any) -> None:
    """Add the ``campaigns`` command to the ``cti-server`` sub-parsers."""
    campaigns = subparsers.add_parser(
        "campaigns",
        help="create, list, start, pause, stop and export outbound campaigns; the DNC list",
        description="Manage outbound calling campaigns (call lists dialled by the server's "
        "dialer when agents are free) and the do-not-call list.",
        epilog=CAMPAIGNS_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = campaigns.add_subparsers(dest="campaigns_action", metavar="ACTION", required=True)
    parsers = [_add_create(actions)]

    listing = actions.add_parser(
        "list",
        help="show every campaign with its leads and progress",
        description="One line per campaign: status, queue, mode, leads by status, attempts "
        "and completion (leads that need no more dialing).",
    )
    listing.set_defaults(handler=list_command)
    parsers.append(listing)

    for command, text in (
        ("start", "start dialing (a draft or stopped campaign)"),
        ("pause", "hold dialing; calls in progress finish"),
        ("resume", "continue a paused campaign"),
        ("stop", "stop dialing; leads stay pending and `start` begins again"),
    ):
        p = actions.add_parser(
            command,
            help=text,
            description=f"{text[0].upper()}{text[1:]}. Writes the status to the database; "
            "a running server's dialer follows within its poll interval.",
        )
        p.add_argument("name", help="campaign name")
        p.set_defaults(handler=status_command, command_word=command)
        parsers.append(p)

    export = actions.add_parser(
        "export",
        help="write every lead's state, attempts, disposition and outcome",
        description="Export a campaign's leads: number, name, status, attempts, last attempt "
        "(in the configured time zone), disposition, outcome and the extra columns.",
    )
    export.add_argument("name", help="campaign name")
    export.add_argument("--out", type=Path, help="output file (default: standard output)")
    export.add_argument("--format", choices=("csv", "jsonl"), default="csv", help="default: csv")
    export.set_defaults(handler=export_command)
    parsers.append(export)

    dnc = actions.add_parser(
        "dnc",
        help="add, remove or list do-not-call numbers",
        description="The do-not-call list: numbers the dialer never calls (callbacks "
        "included). Numbers in any form (010-1234-5678, +82 10 1234 5678).",
    )
    dnc.add_argument("dnc_action", choices=("add", "remove", "list"), metavar="add|remove|list")
    dnc.add_argument("numbers", nargs="*", metavar="NUMBER")
    dnc.add_argument("--reason", help="why (stored with added numbers)")
    dnc.add_argument("--source", default="cli", help="who asked (default: cli)")
    dnc.set_defaults(handler=dnc_command)
    parsers.append(dnc)
    for p in parsers:
        _add_location(p)


def _add_create(actions: Any) -> argparse.ArgumentParser:
    create: argparse.ArgumentParser = actions.add_parser(
        "create",
        help="create a campaign from a CSV call list",
        description="Create a campaign (status draft) and import its call list. Bad rows "
        "(bad number, duplicate, unknown time zone, on the DNC list) are skipped and written "
        "with their line number and reason to a reject report. Exit status: 0 all imported, "
        "1 some rows rejected, 2 nothing created (bad file, name or database).",
    )
    create.add_argument("name", help="campaign name: letters, digits, '_', '-', '.'")
    create.add_argument("--queue", required=True, help="ACD queue whose agents take the calls")
    create.add_argument("--csv", required=True, type=Path, metavar="FILE", help="call list")
    create.add_argument(
        "--customer-first",
        action="store_true",
        help="dial customers before an agent is reserved, paced by --pacing (predictive); "
        "default: agent-first, an agent is reserved and sees the lead before the dial",
    )
    create.add_argument(
        "--pacing", type=float, default=1.0, help="customer-first: lines per free agent, 1.0-3.0"
    )
    create.add_argument("--caller-id", default="", help="number shown to customers")
    create.add_argument("--max-attempts", type=int, help="1-20 (default: the dialer config's)")
    create.add_argument("--rejects", type=Path, help="reject report (default: FILE.rejected.csv)")
    create.add_argument("--batch-size", type=int, default=500, help="rows per transaction")
    create.add_argument("--quiet", action="store_true", help="no progress on stderr")
    create.set_defaults(handler=create_command)
    return create


@contextmanager
def _database(args: argparse.Namespace) -> Iterator[tuple[Config, Database | None]]:
    config = _config(args)
    db = _open_migrated(config)
    try:
        yield config, db
    finally:
        if db is not None:
            db.dispose_sync()


def _fail(message: str) -> int:
    sys.stderr.write(f"campaigns: {message}\n")
    return EXIT_FAILED


class Progress:
    """``  importing 1234/5000 rows (24%)``: redrawn in place on a terminal, one line per
    tenth otherwise (logs)."""

    def __init__(self, enabled: bool, stream: IO[str] | None = None) -> None:
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.tty = self.stream.isatty()
        self.shown = -1

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled:
            return
        percent = 100 * done // total if total else 100
        text = f"  importing {done}/{total} rows ({percent}%)"
        if self.tty:
            self.stream.write("\r" + text + ("\n" if done >= total else ""))
        elif percent // 10 > self.shown or done >= total:
            self.shown = percent // 10
            self.stream.write(text + "\n")
        self.stream.flush()


def create_command(args: argparse.Namespace) -> int:
    try:
        lead_file = read_lead_file(args.csv)
    except ImportFileError as exc:
        return _fail(str(exc))
    now = datetime.now(UTC)
    with _database(args) as (_, db):
        if db is None:
            return EXIT_FAILED
        repo = CampaignRepo(db)
        try:
            campaign = repo.create(
                args.name,
                args.queue,
                now=now,
                customer_first=args.customer_first,
                pacing=args.pacing,
                caller_id=args.caller_id,
                max_attempts=args.max_attempts,
            )
        except (CampaignExists, ValueError, ValidationError) as exc:
            return _fail(_reason(exc))
        report = import_leads(
            db,
            campaign.name,
            lead_file,
            progress=Progress(not args.quiet),
            batch_size=args.batch_size,
            now=now,
            report_path=args.rejects,
        )
    mode = "customer-first" if campaign.customer_first else "agent-first"
    out = sys.stdout
    out.write(
        f"campaign {campaign.name} created (draft, queue {campaign.queue}, {mode}): "
        f"{report.imported} imported, {len(report.rejected)} rejected of {report.total} rows\n"
    )
    if report.report_path is not None:
        out.write(f"rejected rows: {report.report_path}\n")
        for r in report.rejected[:10]:
            out.write(f"  row {r.row}: {r.reason}\n")
        if len(report.rejected) > 10:
            out.write(f"  ... {len(report.rejected) - 10} more in the report\n")
    out.write(f"start dialing with: cti-server campaigns start {campaign.name}\n")
    return EXIT_OK if report.ok else EXIT_REJECTED


def _reason(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
    return str(exc)


def list_command(args: argparse.Namespace) -> int:
    with _database(args) as (_, db):
        if db is None:
            return EXIT_FAILED
        repo = CampaignRepo(db)
        campaigns = repo.list()
        stats = repo.stats()
    if not campaigns:
        sys.stdout.write("no campaigns (create one with `cti-server campaigns create`)\n")
        return EXIT_OK
    head = (
        f"{'NAME':20} {'STATUS':9} {'QUEUE':12} {'MODE':15} {'LEADS':>7} {'PENDING':>7} "
        f"{'DONE':>6} {'FAILED':>6} {'ATTEMPTS':>8} {'ANSWERED':>8} {'COMPLETE':>8}\n"
    )
    sys.stdout.write(head)
    for c in campaigns:
        s = stats[c.name]
        mode = f"customer x{c.pacing:g}" if c.customer_first else "agent-first"
        sys.stdout.write(
            f"{c.name:20} {c.status.value:9} {c.queue:12} {mode:15} {s.total:>7} "
            f"{s.by_status['pending'] + s.by_status['dialing']:>7} {s.by_status['done']:>6} "
            f"{s.by_status['failed']:>6} {s.attempts:>8} {s.answered:>8} "
            f"{s.completion:>7.1f}%\n"
        )
    return EXIT_OK


def status_command(args: argparse.Namespace) -> int:
    with _database(args) as (_, db):
        if db is None:
            return EXIT_FAILED
        try:
            campaign = CampaignRepo(db).command(args.name, args.command_word, now=datetime.now(UTC))
        except (CampaignNotFound, IllegalCampaignStatus) as exc:
            return _fail(str(exc))
    sys.stdout.write(f"campaign {campaign.name}: {campaign.status.value}\n")
    return EXIT_OK


EXPORT_FIELDS = (
    "id",
    "number",
    "name",
    "customer_id",
    "time_zone",
    "status",
    "attempts",
    "last_attempt_at",
    "due_at",
    "disposition",
    "outcome",
)


def _lead_record(lead: Lead, tz: ZoneInfo) -> dict[str, Any]:
    def local(at: datetime | None) -> str:
        return "" if at is None else at.astimezone(tz).isoformat(timespec="seconds")

    return {
        "id": lead.id,
        "number": lead.number,
        "name": lead.name,
        "customer_id": lead.customer_id or "",
        "time_zone": lead.time_zone or "",
        "status": lead.status.value,
        "attempts": lead.attempts,
        "last_attempt_at": local(lead.last_attempt_at),
        "due_at": local(lead.due_at),
        "disposition": lead.disposition or "",
        "outcome": lead.outcome or "",
    }


def export_command(args: argparse.Namespace) -> int:
    with _database(args) as (config, db):
        if db is None:
            return EXIT_FAILED
        repo = CampaignRepo(db)
        if repo.get(args.name) is None:
            return _fail(f"no campaign {args.name!r}")
        tz = ZoneInfo(config.timezone)
        write = _export_jsonl if args.format == "jsonl" else _export_csv
        if args.out is None:
            count = write(sys.stdout, lambda: repo.leads(args.name), tz)
        else:
            encoding = "utf-8-sig" if args.format == "csv" else "utf-8"  # Excel wants the BOM
            with args.out.open("w", encoding=encoding, newline="") as stream:
                count = write(stream, lambda: repo.leads(args.name), tz)
    if args.out is not None:
        sys.stderr.write(f"campaign {args.name}: {count} leads written to {args.out}\n")
    return EXIT_OK


def _export_csv(stream: IO[str], leads: Callable[[], Iterator[Lead]], tz: ZoneInfo) -> int:
    """The extra columns after the fixed ones, in the order first seen (two passes)."""
    extras: dict[str, None] = {}
    for lead in leads():
        extras.update(dict.fromkeys(lead.extra))
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow([*EXPORT_FIELDS, *extras])
    count = 0
    for lead in leads():
        record = _lead_record(lead, tz)
        writer.writerow(
            [record[f] for f in EXPORT_FIELDS] + [lead.extra.get(k, "") for k in extras]
        )
        count += 1
    return count


def _export_jsonl(stream: IO[str], leads: Callable[[], Iterator[Lead]], tz: ZoneInfo) -> int:
    count = 0
    for lead in leads():
        record = _lead_record(lead, tz) | {"extra": lead.extra}
        stream.write(json.dumps(record, ensure_ascii=False) + "\n")
        count += 1
    return count


def dnc_command(args: argparse.Namespace) -> int:
    if args.dnc_action != "list" and not args.numbers:
        return _fail(f"dnc {args.dnc_action}: give one or more numbers")
    with _database(args) as (config, db):
        if db is None:
            return EXIT_FAILED
        repo = DncRepo(db)
        try:
            wanted = {dnc_number(n) for n in args.numbers}
            if args.dnc_action == "add":
                changed = repo.add(args.numbers, source=args.source, reason=args.reason)
                verb = "added"
            elif args.dnc_action == "remove":
                changed = repo.remove(args.numbers)
                verb = "removed"
            else:
                _list_dnc(repo, ZoneInfo(config.timezone))
                return EXIT_OK
        except ValueError as exc:
            return _fail(f"dnc {args.dnc_action}: {exc}")
    unchanged = len(wanted) - len(changed)
    sys.stdout.write(f"do-not-call: {len(changed)} {verb}")
    sys.stdout.write(f", {unchanged} unchanged\n" if unchanged else "\n")
    for number in changed:
        sys.stdout.write(f"  {number}\n")
    return EXIT_OK


def _list_dnc(repo: DncRepo, tz: ZoneInfo) -> None:
    entries = repo.entries()
    sys.stdout.write(f"{'NUMBER':16} {'ADDED':25} {'SOURCE':10} REASON\n")
    for e in entries:
        added = e.added_at.astimezone(tz).isoformat(timespec="seconds")
        sys.stdout.write(f"{e.number:16} {added:25} {e.source:10} {e.reason or ''}\n")
    sys.stdout.write(f"{len(entries)} numbers\n")
