"""Dashboard users: accounts with roles and salted password hashes, in the alert database."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from functools import cache

from sqlalchemy import Engine, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from alerts.tables import UserRow

MIN_PASSWORD_CHARS = 8
_NAME = re.compile(r"[a-z][a-z0-9._-]{0,63}")


class Role(StrEnum):
    """What a user may do; each role may do everything the ones before it may."""

    VIEWER = "viewer"
    OPERATOR = "operator"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return list(Role).index(self)


class UserError(ValueError):
    """A user cannot be created or changed as asked."""


class InvalidUserName(UserError):
    def __init__(self, name: str) -> None:
        rule = "1 to 64 lowercase letters, digits, '.', '_' or '-', starting with a letter"
        super().__init__(f"invalid user name {name!r}: use {rule}")


class DuplicateUser(UserError):
    def __init__(self, name: str) -> None:
        super().__init__(f"user {name!r} already exists")


class UnknownRole(UserError):
    def __init__(self, role: str) -> None:
        super().__init__(f"unknown role {role!r}; expected one of {', '.join(Role)}")


class WeakPassword(UserError):
    def __init__(self, length: int) -> None:
        super().__init__(f"password of {length} characters is too short: use at least {MIN_PASSWORD_CHARS}")


class UserNotFound(UserError, LookupError):
    def __init__(self, name: str) -> None:
        super().__init__(f"no user {name!r}")


@dataclass(frozen=True, slots=True)
class User:
    name: str
    role: Role
    disabled: bool = False

    def may(self, role: Role) -> bool:
        """Whether this user has at least the rights of `role`."""
        return self.role.rank >= role.rank


class UserStore:
    """Dashboard accounts, in the database of an AlertStore (pass its `engine`).

    Example:
        >>> users = UserStore(AlertStore(":memory:").engine)  # doctest: +SKIP
        >>> users.add("ana", "correct horse", Role.OPERATOR)  # doctest: +SKIP
        >>> users.verify("ana", "correct horse")  # doctest: +SKIP
        User(name='ana', role=<Role.OPERATOR: 'operator'>, disabled=False)
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def add(self, name: str, password: str, role: Role | str) -> None:
        """Create a user; raises InvalidUserName, UnknownRole, WeakPassword or DuplicateUser."""
        if not _NAME.fullmatch(name):
            raise InvalidUserName(name)
        role = _role(role)
        row = UserRow(name=name, password_hash=_hash(password), role=str(role), created_at=datetime.now(UTC))
        try:
            with Session(self.engine) as session, session.begin():
                session.add(row)
        except IntegrityError:
            raise DuplicateUser(name) from None

    def verify(self, name: str, password: str) -> User | None:
        """The user if `password` is theirs and they are enabled, else None.

        A password hash is checked even for unknown names, so the answer takes as long either way.
        """
        with Session(self.engine) as session:
            row = session.scalar(select(UserRow).where(UserRow.name == name))
        if row is None:
            check_password_hash(_unknown_user_hash(), password)
            return None
        if not check_password_hash(row.password_hash, password) or row.disabled:
            return None
        return _to_user(row)

    def get(self, name: str) -> User | None:
        with Session(self.engine) as session:
            row = session.scalar(select(UserRow).where(UserRow.name == name))
            return None if row is None else _to_user(row)

    def list(self) -> list[User]:
        """Every user, by name."""
        with Session(self.engine) as session:
            return [_to_user(row) for row in session.scalars(select(UserRow).order_by(UserRow.name))]

    def set_password(self, name: str, password: str) -> None:
        """Replace a user's password; raises WeakPassword or UserNotFound."""
        password_hash = _hash(password)
        with Session(self.engine) as session, session.begin():
            if not session.execute(
                update(UserRow).where(UserRow.name == name).values(password_hash=password_hash)
            ).rowcount:
                raise UserNotFound(name)

    def count(self) -> int:
        with Session(self.engine) as session:
            return session.scalar(select(func.count()).select_from(UserRow))


def ensure_admin(users: UserStore) -> str | None:
    """When there is no user at all, create `admin` with a random password and return it (show it once); else None."""
    if users.count():
        return None
    password = secrets.token_urlsafe(15)
    try:
        users.add("admin", password, Role.ADMIN)
    except DuplicateUser:  # another process created it first
        return None
    return password


def _role(role: Role | str) -> Role:
    try:
        return Role(role)
    except ValueError:
        raise UnknownRole(str(role)) from None


def _hash(password: str) -> str:
    if len(password) < MIN_PASSWORD_CHARS:
        raise WeakPassword(len(password))
    return generate_password_hash(password)


@cache
def _unknown_user_hash() -> str:
    return generate_password_hash(secrets.token_hex(16))


def _to_user(row: UserRow) -> User:
    return User(name=row.name, role=Role(row.role), disabled=row.disabled)
