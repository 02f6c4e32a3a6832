"""The `vigil user` commands: add and list dashboard users."""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from collections.abc import Callable
from pathlib import Path

from alerts import AlertStore
from alerts.users import Role, UserError, UserStore
from vigil.config import ConfigError, load_config, report_problems

EXIT_USER_ERROR = 1
PASSWORD_ENV = "VIGIL_PASSWORD"


class PasswordMismatch(Exception):
    def __init__(self) -> None:
        super().__init__("the two passwords differ")


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
        store = AlertStore(load_config(args.config).storage.database)
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
        users.add(args.name, _read_password(args.name), args.role)
        print(f"user {args.name} added with role {args.role}")

    return _with_users(args, add)


def _list(args: argparse.Namespace) -> int:
    def show(users: UserStore) -> None:
        for user in users.list():
            print(f"{user.name}  {user.role}" + ("  disabled" if user.disabled else ""))

    return _with_users(args, show)


def add_user_commands(commands: argparse._SubParsersAction) -> None:
    """Register `user add` and `user list` on the `vigil` parser's subcommands."""
    user = commands.add_parser("user", help="add or list dashboard users")
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
