"""``cti-server customers import|demo|unlock|show``: the customer database from a shell.

Hooked into the main parser with :func:`add_customer_commands`; like ``accounts`` each
sub-command stores its handler as ``args.handler`` and takes ``--config``/``--data-dir``.
Nothing printed here shows a PIN or a full national ID.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cti_server.crm.screenpop import build_screen_pop
from cti_server.storage.cli import _add_location, _config, _open_migrated
from cti_server.storage.customer_import import ImportFileError, ImportReport, import_customers
from cti_server.storage.customers import CustomerDirectory
from cti_server.storage.db import Database
from cti_server.storage.demo_data import CUSTOMERS, load_demo_data

EXIT_OK, EXIT_REJECTED, EXIT_UNREADABLE = 0, 1, 2
BAR_WIDTH = 30

CUSTOMERS_EPILOG = """examples:
  cti-server customers import customers.csv        add customers from a CSV file
  cti-server customers demo                        add 20 demo customers (10001/PIN 1234, ...)
  cti-server customers show 10001                  profile, lock state, recent contacts
  cti-server customers unlock 10001 --by 1001      lift a PIN lock-out (audited)

CSV columns (header line, any order): customer_number,name,phone,email,vip,segment,
language,assigned_agent,pin,national_id; customer_number and name are required. PINs and
national IDs are stored only as hashes. Run `cti-server db upgrade` first.
"""


def add_customer_commands(subparsers: Any) -> None:
    """Add the ``customers`` command to the ``cti-server`` sub-parsers."""
    customers = subparsers.add_parser(
        "customers",
        help="import, show and unlock customers (IVR login and screen-pop data)",
        description="Manage the customer database the IVR authenticates callers against.",
        epilog=CUSTOMERS_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = customers.add_subparsers(dest="customers_action", metavar="ACTION", required=True)
    imp = actions.add_parser(
        "import",
        help="add customers from a CSV file",
        description="Add customers from a CSV file (UTF-8 or CP949). Bad rows are reported "
        "with their line number and reason and the others are imported. Exit status: 0 all "
        "imported, 1 some rows rejected, 2 the file or database could not be used.",
    )
    imp.add_argument("file", type=Path, metavar="FILE.csv")
    imp.add_argument(
        "--batch-size", type=int, default=500, help="rows per transaction (default: 500)"
    )
    imp.add_argument("--quiet", action="store_true", help="no progress bar")
    imp.set_defaults(handler=customers_import_command)

    demo = actions.add_parser(
        "demo",
        help="add the demo customers (idempotent)",
        description="Add 20 made-up Korean customers with PINs, contact history, payment "
        "methods and products; those that exist already are left alone.",
    )
    demo.set_defaults(handler=customers_demo_command)

    unlock = actions.add_parser(
        "unlock",
        help="lift a customer's PIN lock-out",
        description="Unlock a customer locked after too many wrong PINs; earlier failures "
        "stop counting. The unlock is written to the audit log with --by.",
    )
    unlock.add_argument("number", help="customer number")
    unlock.add_argument("--by", default="cli", help="who unlocks, for the audit log")
    unlock.set_defaults(handler=customers_unlock_command)

    show = actions.add_parser(
        "show",
        help="show a customer (national ID masked, never the PIN)",
        description="Print a customer's profile, lock state and what the screen pop shows.",
    )
    show.add_argument("number", help="customer number")
    show.set_defaults(handler=customers_show_command)
    for p in (imp, demo, unlock, show):
        _add_location(p)


def _directory(args: argparse.Namespace) -> tuple[Database, CustomerDirectory] | None:
    config = _config(args)
    db = _open_migrated(config)
    if db is None:
        return None
    return db, CustomerDirectory.from_config(config, db)


class _ProgressBar:
    """``[#####.....] 1500/10000`` redrawn in place on a terminal; silent otherwise."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled and sys.stderr.isatty()

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled:
            return
        filled = BAR_WIDTH * done // total if total else BAR_WIDTH
        bar = "#" * filled + "." * (BAR_WIDTH - filled)
        sys.stderr.write(f"\rimporting [{bar}] {done}/{total}")
        if done >= total:
            sys.stderr.write("\n")
        sys.stderr.flush()


def _write_report(report: ImportReport, source: Path) -> None:
    sys.stdout.write(
        f"{source}: {report.imported} imported, {len(report.rejected)} rejected "
        f"of {report.total} rows\n"
    )
    if report.ignored_columns:
        sys.stdout.write(f"ignored columns: {', '.join(report.ignored_columns)}\n")
    for r in report.rejected:
        sys.stdout.write(f"  row {r.row}: {r.customer_number or '(no number)'}: {r.reason}\n")


def customers_import_command(args: argparse.Namespace) -> int:
    opened = _directory(args)
    if opened is None:
        return EXIT_UNREADABLE
    db, directory = opened
    try:
        report = import_customers(
            directory,
            args.file,
            progress=_ProgressBar(not args.quiet),
            batch_size=max(args.batch_size, 1),
        )
    except ImportFileError as exc:
        sys.stderr.write(f"customers import: {exc}\n")
        return EXIT_UNREADABLE
    finally:
        db.dispose_sync()
    _write_report(report, args.file)
    return EXIT_OK if report.ok else EXIT_REJECTED


def customers_demo_command(args: argparse.Namespace) -> int:
    opened = _directory(args)
    if opened is None:
        return 1
    db, directory = opened
    try:
        added = load_demo_data(directory, now=datetime.now(UTC))
    finally:
        db.dispose_sync()
    sys.stdout.write(f"demo customers: {added} added, {len(CUSTOMERS) - added} already there\n")
    logins = ", ".join(f"{c.number}/{c.pin}" for c in CUSTOMERS[:4] if c.pin)
    sys.stdout.write(f"IVR logins (number/PIN): {logins}, ... (see `customers show`)\n")
    return 0


def customers_unlock_command(args: argparse.Namespace) -> int:
    opened = _directory(args)
    if opened is None:
        return 1
    db, directory = opened
    try:
        customer = directory.find("customer_number", args.number)
        if customer is None:
            sys.stderr.write(f"customers: no customer {args.number!r}\n")
            return 1
        directory.unlock(customer.id, args.by)
    finally:
        db.dispose_sync()
    sys.stdout.write(f"customer {args.number} unlocked by {args.by}\n")
    return 0


def customers_show_command(args: argparse.Namespace) -> int:
    opened = _directory(args)
    if opened is None:
        return 1
    db, directory = opened
    try:
        customer = directory.find("customer_number", args.number)
        if customer is None:
            sys.stderr.write(f"customers: no customer {args.number!r}\n")
            return 1
        pop = build_screen_pop(directory, customer.id, auth_method="cli", auth_outcome="none")
    finally:
        db.dispose_sync()
    now = datetime.now(UTC)
    lock = "no"
    if customer.locked_until is not None and customer.locked_until > now:
        lock = f"until {customer.locked_until:%Y-%m-%d %H:%M:%S} UTC"
    lines = [
        f"customer {customer.customer_number}: {customer.name}"
        + (" (VIP)" if customer.vip else ""),
        f"  id:             {customer.id}",
        f"  phone:          {customer.phone or '-'}",
        f"  email:          {customer.email or '-'}",
        f"  segment:        {customer.segment or '-'}",
        f"  language:       {customer.language or '-'}",
        f"  assigned agent: {customer.assigned_agent or '-'}",
        f"  national ID:    {customer.national_id_masked or '-'}",
        f"  PIN:            {'set' if customer.has_pin else 'not set'}",
        f"  locked:         {lock}",
    ]
    if pop is not None:
        if pop.usual_payment is not None:
            lines.append(f"  usual payment:  {pop.usual_payment.label}")
        for product in pop.frequent_products:
            lines.append(f"  product:        {product.name} ({product.times_ordered}x)")
        for inquiry in pop.inquiries:
            lines.append(
                f"  {inquiry.at:%Y-%m-%d} {inquiry.category}: {inquiry.summary} "
                f"[{inquiry.disposition or '-'}, agent {inquiry.agent_id or '-'}]"
            )
    sys.stdout.write("\n".join(lines) + "\n")
    return 0
