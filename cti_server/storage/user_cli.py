"""``cti-server users add|list|passwd|disable|enable|demo``: desktop logins from a shell.

Hooked into the main parser with :func:`add_user_commands`; like ``accounts`` each
sub-command stores its handler as ``args.handler`` (returning the exit status) and takes
``--config``/``--data-dir``. Only scrypt hashes are stored. A password comes from
``--password`` (scripts and tests; it shows in ``ps``), else a hidden prompt asked twice, else
one line of stdin when stdin is not a terminal.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import Any

from cti_server.auth import ROLES, UserError
from cti_server.auth.users import LANGUAGES
from cti_server.storage.cli import _add_location, _config, _open_migrated
from cti_server.storage.users import DuplicateUser, UserRepo, seed_demo_users

EXIT_OK, EXIT_REJECTED, EXIT_BAD_INPUT = 0, 1, 2

USERS_EPILOG = """examples:
  cti-server users add 1001 --role agent --agent-id 1001 --display-name 김상담
  cti-server users add super --role supervisor --password superpass
  echo "$PW" | cti-server users add admin --role admin        password from stdin
  cti-server users list
  cti-server users passwd 1001                                 prompts twice
  cti-server users disable 1002                                no more logins
  cti-server users demo                 the demo users: 1001/1001pass, 1002/1002pass,
                                        super/superpass (supervisor), admin/adminpass

Roles: agent (own state and calls), supervisor (every agent and call, wallboard, force
state), admin (also reloads IVR flows). An agent user needs --agent-id, the ACD agent id it
works as. Passwords: 8+ characters. Run `cti-server db upgrade` first.
사용자: 상담원(agent)은 --agent-id 필수, 비밀번호는 8자 이상.
"""


def add_user_commands(subparsers: Any) -> None:
    """Add the ``users`` command to the ``cti-server`` sub-parsers."""
    users = subparsers.add_parser(
        "users",
        help="add, list, disable desktop/wallboard logins (agents, supervisors, admins)",
        description="Manage the users who log in to the agent desktop, the wallboard and "
        "the REST API (/api/v1/auth/login).",
        epilog=USERS_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = users.add_subparsers(dest="users_action", metavar="ACTION", required=True)
    add = actions.add_parser(
        "add", help="add a user", description="Add a user; fails if the name exists."
    )
    add.add_argument("username", help="login name, e.g. 1001 or kim.sangdam")
    add.add_argument("--role", required=True, choices=ROLES, help="agent, supervisor or admin")
    add.add_argument("--agent-id", help="the ACD agent id this user works as (agents: required)")
    add.add_argument("--display-name", default="", help="name shown on the desktop")
    add.add_argument("--language", default="ko", choices=LANGUAGES, help="default: ko")
    add.add_argument("--password", help="the password (default: prompt, or a line of stdin)")
    add.set_defaults(handler=users_add_command)

    listing = actions.add_parser("list", help="show the users (never the hashes)")
    listing.set_defaults(handler=users_list_command)

    passwd = actions.add_parser("passwd", help="set a user's password")
    passwd.add_argument("username")
    passwd.add_argument("--password", help="the new password (default: prompt)")
    passwd.set_defaults(handler=users_passwd_command)

    disable = actions.add_parser(
        "disable",
        help="refuse a user's logins",
        description="Refuse the user's next logins; a token already issued lasts until it "
        "expires or the user logs out.",
    )
    disable.add_argument("username")
    disable.set_defaults(handler=users_disable_command, disabled=True)
    enable = actions.add_parser("enable", help="allow a disabled user to log in again")
    enable.add_argument("username")
    enable.set_defaults(handler=users_disable_command, disabled=False)

    demo = actions.add_parser("demo", help="add the demo users (idempotent)")
    demo.set_defaults(handler=users_demo_command)
    for p in (add, listing, passwd, disable, enable, demo):
        _add_location(p)


def _repo(args: argparse.Namespace) -> UserRepo | None:
    db = _open_migrated(_config(args))
    return None if db is None else UserRepo(db)


def _password(args: argparse.Namespace, username: str) -> str | None:
    if args.password is not None:
        return str(args.password)
    if sys.stdin.isatty():
        first = getpass.getpass(f"password for {username} / {username} 비밀번호: ")
        if getpass.getpass("again / 다시: ") != first:
            sys.stderr.write("users: the passwords differ / 비밀번호가 다릅니다\n")
            return None
        return first
    return sys.stdin.readline().rstrip("\r\n")


def _run(args: argparse.Namespace, action: Any) -> int:
    repo = _repo(args)
    if repo is None:
        return EXIT_REJECTED
    try:
        return int(action(repo))
    except UserError as exc:
        sys.stderr.write(f"users: {exc}\n")
        return EXIT_REJECTED if isinstance(exc, LookupError | DuplicateUser) else EXIT_BAD_INPUT
    finally:
        repo.database.dispose_sync()


def users_add_command(args: argparse.Namespace) -> int:
    password = _password(args, args.username)
    if password is None:
        return EXIT_BAD_INPUT

    def add(repo: UserRepo) -> int:
        user = repo.add(
            args.username,
            password,
            role=args.role,
            agent_id=args.agent_id,
            display_name=args.display_name,
            language=args.language,
        )
        linked = f", agent {user.agent_id}" if user.agent_id else ""
        sys.stdout.write(f"user {user.username} added ({user.role.value}{linked})\n")
        return EXIT_OK

    return _run(args, add)


def users_list_command(args: argparse.Namespace) -> int:
    def show(repo: UserRepo) -> int:
        sys.stdout.write(f"{'USERNAME':16} {'ROLE':11} {'AGENT':8} {'LANG':5} {'ENABLED':8} NAME\n")
        for u in repo.list():
            enabled = "no" if u.disabled else "yes"
            sys.stdout.write(
                f"{u.username:16} {u.role.value:11} {u.agent_id or '-':8} {u.language:5} "
                f"{enabled:8} {u.display_name}\n"
            )
        return EXIT_OK

    return _run(args, show)


def users_passwd_command(args: argparse.Namespace) -> int:
    password = _password(args, args.username)
    if password is None:
        return EXIT_BAD_INPUT

    def change(repo: UserRepo) -> int:
        repo.set_password(args.username, password)
        sys.stdout.write(f"password of {args.username} changed\n")
        return EXIT_OK

    return _run(args, change)


def users_disable_command(args: argparse.Namespace) -> int:
    def switch(repo: UserRepo) -> int:
        repo.set_disabled(args.username, args.disabled)
        sys.stdout.write(f"user {args.username} {'disabled' if args.disabled else 'enabled'}\n")
        return EXIT_OK

    return _run(args, switch)


def users_demo_command(args: argparse.Namespace) -> int:
    def seed(repo: UserRepo) -> int:
        added = seed_demo_users(repo)
        sys.stdout.write(f"demo users added: {', '.join(added) or 'none (all there)'}\n")
        return EXIT_OK

    return _run(args, seed)
