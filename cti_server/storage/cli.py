"""``cti-server db upgrade`` and ``cti-server accounts add|list|remove``.

Hooked into the main parser with :func:`add_db_parser`; each sub-command stores its handler
as ``args.handler``, which returns the exit status. These run before or beside the server,
so they use the sync engine. Passwords come from the terminal (getpass) or one line of
stdin, never argv (visible in ``ps`` and shell history), and only digest HA1s are stored.
"""

from __future__ import annotations

import argparse
import getpass
import re
import sys
from pathlib import Path
from typing import Any, cast

from sqlalchemy import CursorResult
from sqlalchemy.orm import Session

from cti_server.config import Config, load_config
from cti_server.sip.digest import ha1
from cti_server.storage.db import Database
from cti_server.storage.migrations import current_revision, head_revision, upgrade
from cti_server.storage.repos import (
    SipAccount,
    account_delete_statement,
    account_from_row,
    account_put_statement,
    accounts_select,
)
from cti_server.storage.tables import SipAccountRow

USER_PATTERN = re.compile(r"^[A-Za-z0-9_.\-+]{1,64}$")  # as config.AccountConfig.user

DB_EPILOG = """examples:
  cti-server db upgrade                            migrate ./data/cti.sqlite3 to the latest schema
  cti-server db upgrade --config cti.yaml          migrate storage.database_url of the config

Run it after every upgrade of cti-server, before `serve`; it is safe to run again.
"""

ACCOUNTS_EPILOG = """examples:
  cti-server accounts add 1001 --display-name "Agent Kim"     prompts for the password twice
  echo "$PW" | cti-server accounts add 1002 --md5-only        password from stdin (scripts)
  cti-server accounts list --config cti.yaml
  cti-server accounts remove 1002

Only the digest HA1s H(user:realm:password) are stored: changing sip.realm needs every
password set again. Accounts in the config file's accounts section are separate.
"""


def add_db_parser(subparsers: Any) -> None:
    """Add the ``db`` and ``accounts`` commands to the ``cti-server`` sub-parsers."""
    db = subparsers.add_parser(
        "db",
        help="create or migrate the database schema",
        description="Manage the SQL schema (SQLite in data_dir, or storage.database_url).",
        epilog=DB_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    db_actions = db.add_subparsers(dest="db_action", metavar="ACTION", required=True)
    up = db_actions.add_parser(
        "upgrade",
        help="migrate the schema to the latest revision",
        description="Create the tables, or migrate them to the latest revision; prints the "
        "revision the database is at afterwards.",
    )
    _add_location(up)
    up.set_defaults(handler=db_upgrade_command)

    accounts = subparsers.add_parser(
        "accounts",
        help="add, list or remove agents' SIP accounts in the database",
        description="Manage SIP accounts (agents' phones) stored in the database as digest "
        "HA1 hashes.",
        epilog=ACCOUNTS_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = accounts.add_subparsers(dest="accounts_action", metavar="ACTION", required=True)
    add = actions.add_parser(
        "add",
        help="add an account or set its password",
        description="Add an account, or replace the password and details of an existing one. "
        "The password is read with a hidden prompt, or as one line from stdin when stdin is "
        "not a terminal.",
    )
    add.add_argument("user", help="SIP user name, e.g. the extension 1001")
    add.add_argument("--display-name", help="name shown to callers and on the agent desktop")
    add.add_argument("--realm", help="digest realm (default: sip.realm of the config)")
    add.add_argument(
        "--md5-only",
        action="store_true",
        help="challenge this phone with MD5 only and store no SHA-256 HA1 "
        "(for phones without RFC 8760 support, such as SIPp 3.6 and pyVoIP)",
    )
    add.set_defaults(handler=accounts_add_command)
    listing = actions.add_parser("list", help="show the accounts (never the hashes)")
    listing.set_defaults(handler=accounts_list_command)
    remove = actions.add_parser("remove", help="delete an account")
    remove.add_argument("user")
    remove.set_defaults(handler=accounts_remove_command)
    for p in (add, listing, remove):
        _add_location(p)


def _add_location(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", type=Path, help="server config file (default: embedded defaults)")
    p.add_argument("--data-dir", type=Path, help="override data_dir (where the SQLite file lives)")


def _config(args: argparse.Namespace) -> Config:
    config = load_config(args.config)
    if args.data_dir is not None:
        config = config.with_overrides(data_dir=str(args.data_dir))
    return config


def db_upgrade_command(args: argparse.Namespace) -> int:
    db = Database.from_config(_config(args))
    try:
        before = current_revision(db.sync_engine)
        after = upgrade(db.sync_engine)
    finally:
        db.dispose_sync()
    state = "already at" if before == after else f"upgraded from {before or 'empty'} to"
    sys.stdout.write(f"database {db.display_url}: {state} {after} (head)\n")
    return 0


def _open_migrated(config: Config) -> Database | None:
    """The database, or None (with a message) when its schema is not the latest."""
    db = Database.from_config(config)
    at, head = current_revision(db.sync_engine), head_revision()
    if at != head:
        db.dispose_sync()
        sys.stderr.write(
            f"database {db.display_url} is at revision {at or 'none'}, not {head}: "
            "run `cti-server db upgrade` first\n"
        )
        return None
    return db


def _read_password(user: str, realm: str) -> str | None:
    if sys.stdin.isatty():
        first = getpass.getpass(f"password for {user}@{realm}: ")
        if getpass.getpass("again: ") != first:
            sys.stderr.write("accounts: the passwords differ\n")
            return None
        return first
    return sys.stdin.readline().rstrip("\r\n")


def accounts_add_command(args: argparse.Namespace) -> int:
    if not USER_PATTERN.match(args.user):
        sys.stderr.write(f"accounts: {args.user!r} is not a valid SIP user (A-Z a-z 0-9 _.-+)\n")
        return 2
    config = _config(args)
    realm = args.realm or config.sip.realm
    password = _read_password(args.user, realm)
    if not password:
        sys.stderr.write("accounts: empty password; nothing stored\n")
        return 2
    account = SipAccount(
        user=args.user,
        realm=realm,
        ha1_md5=ha1(args.user, realm, password, "MD5"),
        ha1_sha256=None if args.md5_only else ha1(args.user, realm, password, "SHA-256"),
        display_name=args.display_name,
        digest_algorithms=("MD5",) if args.md5_only else None,
    )
    db = _open_migrated(config)
    if db is None:
        return 1
    try:
        with Session(db.sync_engine) as session, session.begin():
            existed = session.get(SipAccountRow, args.user) is not None
            session.execute(account_put_statement(db.backend, account))
    finally:
        db.dispose_sync()
    sys.stdout.write(f"account {args.user}@{realm} {'updated' if existed else 'added'}\n")
    return 0


def accounts_list_command(args: argparse.Namespace) -> int:
    db = _open_migrated(_config(args))
    if db is None:
        return 1
    try:
        with Session(db.sync_engine) as session:
            accounts = [account_from_row(row) for row in session.scalars(accounts_select())]
    finally:
        db.dispose_sync()
    sys.stdout.write(f"{'USER':16} {'REALM':16} {'ALGORITHMS':14} {'ENABLED':8} DISPLAY NAME\n")
    for a in accounts:
        algorithms = ",".join(a.digest_algorithms) if a.digest_algorithms else "(server)"
        enabled = "yes" if a.enabled else "no"
        sys.stdout.write(
            f"{a.user:16} {a.realm:16} {algorithms:14} {enabled:8} {a.display_name or ''}\n"
        )
    return 0


def accounts_remove_command(args: argparse.Namespace) -> int:
    db = _open_migrated(_config(args))
    if db is None:
        return 1
    try:
        with db.sync_engine.begin() as conn:
            removed = cast(CursorResult[Any], conn.execute(account_delete_statement(args.user)))
    finally:
        db.dispose_sync()
    if not removed.rowcount:
        sys.stderr.write(f"accounts: no account {args.user!r}\n")
        return 1
    sys.stdout.write(f"account {args.user} removed\n")
    return 0
