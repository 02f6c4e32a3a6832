"""The `vigil user` commands: add, list, disable, enable and delete dashboard users, and set their passwords."""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from collections.abc import Callable
from pathlib import Path

from vigil.stores import open_store
from alerts.users import Role, UserError, UserNotFound, UserStore
from vigil.config import ConfigError, load_config, report_problems

EXIT_USER_ERROR = 1
PASSWORD_ENV = "VIGIL_PASSWORD"


class PasswordMismatch(Exception):
    def __init__(self) -> None:
        super().__init__("the two passwords differ")


def _cli_actor() -> str:
    """Who the audit log names for a change made here: the operating-system user running the command."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no login name and no passwd entry (some containers)
        return f"cli:uid {os.getuid()}"


def _read_password(name: str) -> str:
    """From VIGIL_PASSWORD, else typed twice at a prompt that does not echo."""
    if PASSWORD_ENV in os.environ:
        return os.environ[PASSWORD_ENV]
    password = getpass.getpass(f"password for {name}: ")
    if getpass.getpass("again: ") != password:
        raise PasswordMismatch()
    return password


def _with_users(args: argparse.Namespace, work: Callable[[UserStore], None]) -> int:
    """Run `work(users)` on the database the config names; config and user errors become one line on stderr."""
    try:
        store = open_store(load_config(args.config))
    except ConfigError as error:
        return report_problems(args.config, error.problems)
    try:
        work(UserStore(store.engine))
    except (UserError, PasswordMismatch) as error:
        print(f"vigil user {args.user_command}: {error}", file=sys.stderr)
        return EXIT_USER_ERROR
    finally:
        store.close()
    return 0


def _add(args: argparse.Namespace) -> int:
    def add(users: UserStore) -> None:
        users.add(args.name, _read_password(args.name), args.role, actor=_cli_actor())
        print(f"user {args.name} added with role {args.role}")

    return _with_users(args, add)


def _passwd(args: argparse.Namespace) -> int:
    def set_password(users: UserStore) -> None:
        if users.get(args.name) is None:  # before asking for a password in vain
            raise UserNotFound(args.name)
        users.set_password(args.name, _read_password(args.name), actor=_cli_actor())
        print(f"new password set for {args.name}; their dashboard sessions have ended")

    return _with_users(args, set_password)


def _disable(args: argparse.Namespace) -> int:
    def disable(users: UserStore) -> None:
        changed = users.disable(args.name, actor=_cli_actor())
        print(f"user {args.name} " + ("disabled; their dashboard sessions have ended" if changed else
                                      "was already disabled"))

    return _with_users(args, disable)


def _enable(args: argparse.Namespace) -> int:
    def enable(users: UserStore) -> None:
        changed = users.enable(args.name, actor=_cli_actor())
        print(f"user {args.name} " + ("enabled" if changed else "was already enabled"))

    return _with_users(args, enable)


def _delete(args: argparse.Namespace) -> int:
    def delete(users: UserStore) -> None:
        users.delete(args.name, actor=_cli_actor())
        print(f"user {args.name} deleted")

    return _with_users(args, delete)


def _list(args: argparse.Namespace) -> int:
    def show(users: UserStore) -> None:
        for user in users.list():
            print(f"{user.name}  {user.role}" + ("  disabled" if user.disabled else ""))

    return _with_users(args, show)


def add_user_commands(commands: argparse._SubParsersAction) -> None:
    """Register `user add|list|passwd|disable|enable|delete` on the `vigil` parser's subcommands."""
    user = commands.add_parser("user", help="manage dashboard users")
    actions = user.add_subparsers(dest="user_command", required=True)
    config_help = "config file naming the database (default: config.yaml)"

    add = actions.add_parser("add", help=f"add a user; the password comes from ${PASSWORD_ENV} or a prompt")
    add.add_argument("name")
    add.add_argument("--role", required=True, choices=[r.value for r in Role])
    add.add_argument("-c", "--config", type=Path, default=Path("config.yaml"), help=config_help)
    add.set_defaults(handler=_add)

    listing = actions.add_parser("list", help="every user with their role")
    listing.add_argument("-c", "--config", type=Path, default=Path("config.yaml"), help=config_help)
    listing.set_defaults(handler=_list)

    for name, handler, help_text in (
        ("passwd", _passwd, f"set a user's password (from ${PASSWORD_ENV} or a prompt) and end their sessions"),
        ("disable", _disable, "stop a user from logging in and end their sessions"),
        ("enable", _enable, "let a disabled user log in again"),
        ("delete", _delete, "remove a user"),
    ):
        command = actions.add_parser(name, help=help_text)
        command.add_argument("name")
        command.add_argument("-c", "--config", type=Path, default=Path("config.yaml"), help=config_help)
        command.set_defaults(handler=handler)
