"""``cti-server crm export``: a period's call records or contact history as CSV or JSON lines.

Hooked into the main parser with :func:`add_crm_commands`; like ``campaigns`` the handler
is ``args.handler`` (returns the exit status) and ``--config``/``--data-dir`` find the
database. Reads SQL directly, page by page, so it works while the server runs and on a
month of calls without holding it in memory.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy.exc import SQLAlchemyError

from cti_server.crm.export import FORMATS, KINDS, export
from cti_server.storage.cli import _add_location, _config, _open_migrated
from metrics.periods import PeriodError, parse_moment

EXIT_OK, EXIT_FAILED = 0, 2

CRM_EPILOG = """examples:
  cti-server crm export --from 2026-12-01 --kind call_record --format csv --out dec1.csv
  cti-server crm export --from 2026-12 --kind contact --format jsonl > contacts.jsonl
  cti-server crm export --from 2026-12-01T09:00 --to 2026-12-01T18:00 --kind call_record

--from and --to are dates (YYYY-MM-DD), months (YYYY-MM), years (YYYY) or times
(YYYY-MM-DDTHH:MM) in the configured time zone (default Asia/Seoul); --to is exclusive and
defaults to the end of the unit --from names. A call belongs to the period it started in, a
contact to its time. CSV files written with --out start with a BOM, so Excel shows Korean.
"""


def add_crm_commands(subparsers: Any) -> None:
    """Add the ``crm`` command (``crm export``) to the ``cti-server`` sub-parsers."""
    crm = subparsers.add_parser(
        "crm",
        help="export call records and contact history for a CRM",
        description="The CRM feed's batch side: export a period of call records or contact "
        "history (webhooks deliver the same records as they happen).",
        epilog=CRM_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = crm.add_subparsers(dest="crm_action", metavar="ACTION", required=True)
    exporting = actions.add_parser(
        "export",
        help="write a period's call records or contacts as CSV or JSON lines",
        description="Write a period's call records (one row per call) or contact-history "
        "entries (one row per contact), oldest first.",
        epilog=CRM_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    exporting.add_argument("--from", dest="start", required=True, metavar="WHEN",
                           help="start (see below)")  # fmt: skip
    exporting.add_argument("--to", dest="end", metavar="WHEN",
                           help="end, exclusive (default: end of --from's unit)")  # fmt: skip
    exporting.add_argument("--kind", choices=KINDS, default="call_record",
                           help="call_record (default) or contact")  # fmt: skip
    exporting.add_argument("--format", choices=FORMATS, default="csv", help="default: csv")
    exporting.add_argument("--out", type=Path, metavar="FILE",
                           help="output file (default: standard output)")  # fmt: skip
    exporting.add_argument("--tz", metavar="ZONE",
                           help="IANA time zone (default: the config's)")  # fmt: skip
    exporting.set_defaults(handler=export_command)
    _add_location(exporting)


def _fail(message: str) -> int:
    sys.stderr.write(f"crm export: {message}\n")
    return EXIT_FAILED


def export_command(args: argparse.Namespace) -> int:
    config = _config(args)
    try:
        tz = ZoneInfo(args.tz or config.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        return _fail(f"unknown time zone {args.tz!r}")
    try:
        start, unit_end = parse_moment(args.start, tz)
        end = parse_moment(args.end, tz)[0] if args.end else unit_end
    except PeriodError as exc:
        return _fail(f"--from/--to: {exc}")
    if end <= start:
        return _fail(f"--to ({end.isoformat()}) must be after --from ({start.isoformat()})")
    db = _open_migrated(config)
    if db is None:
        return EXIT_FAILED
    try:
        if args.out is None:
            count = export(db, args.kind, args.format, start, end, tz, sys.stdout)
        else:
            encoding = "utf-8-sig" if args.format == "csv" else "utf-8"  # Excel wants the BOM
            with args.out.open("w", encoding=encoding, newline="") as stream:
                count = export(db, args.kind, args.format, start, end, tz, stream)
    except SQLAlchemyError as exc:
        return _fail(f"database: {str(exc).splitlines()[0]}")
    except OSError as exc:
        return _fail(str(exc))
    finally:
        db.dispose_sync()
    what = "call records" if args.kind == "call_record" else "contacts"
    where = args.out if args.out is not None else "standard output"
    sys.stderr.write(
        f"{count} {what} from {start.isoformat()} to {end.isoformat()} written to {where}\n"
    )
    return EXIT_OK


__all__ = ["add_crm_commands", "export_command"]
