"""Dashboard users: accounts with roles and salted password hashes, in the alert database, each change audited."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from functools import cache

from sqlalchemy import Engine, delete, false, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from alerts.audit import AccountAction, AuditEntry, add_entry, announce, recent_entries
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


class LastAdmin(UserError):
    """Nobody could manage the accounts any more: the last enabled admin stays."""

    def __init__(self, name: str, action: AccountAction) -> None:
        super().__init__(f"cannot {action} {name!r}: it is the last enabled admin; make another admin first")


@dataclass(frozen=True, slots=True)
class User:
    name: str
    role: Role
    disabled: bool = False
    session_version: str = field(default="", compare=False, repr=False)
    """A session is the user's only while it carries this value; see `UserStore.end_sessions`."""

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

    def add(self, name: str, password: str, role: Role | str, actor: str = "system") -> None:
        """Create a user; raises InvalidUserName, UnknownRole, WeakPassword or DuplicateUser."""
        if not _NAME.fullmatch(name):
            raise InvalidUserName(name)
        role = _role(role)
        now = datetime.now(UTC)
        row = UserRow(name=name, password_hash=_hash(password), role=str(role), created_at=now,
                      session_version=_new_session_version())
        entry = AuditEntry(now, actor, AccountAction.ADD, name, f"role {role}")
        try:
            with Session(self.engine) as session, session.begin():
                session.add(row)
                add_entry(session, entry)
        except IntegrityError:
            raise DuplicateUser(name) from None
        announce(entry)

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

    def password_fingerprint(self, name: str) -> str | None:
        """A digest of the user's password hash, which changes with the password (and the user), or None for an
        unknown name: lets a signed cookie say "logged in with the password they still have" without the hash."""
        with Session(self.engine) as session:
            password_hash = session.scalar(select(UserRow.password_hash).where(UserRow.name == name))
        return None if password_hash is None else hashlib.sha256(password_hash.encode()).hexdigest()[:32]

    def list(self) -> list[User]:
        """Every user, by name."""
        with Session(self.engine) as session:
            return [_to_user(row) for row in session.scalars(select(UserRow).order_by(UserRow.name))]

    def set_password(self, name: str, password: str, actor: str = "system") -> None:
        """Replace a user's password and end their sessions; raises WeakPassword or UserNotFound."""
        password_hash = _hash(password)
        entry = AuditEntry(datetime.now(UTC), actor, AccountAction.PASSWORD, name)
        with Session(self.engine) as session, session.begin():
            if not session.execute(
                update(UserRow).where(UserRow.name == name)
                .values(password_hash=password_hash, session_version=_new_session_version())
            ).rowcount:
                raise UserNotFound(name)
            add_entry(session, entry)
        announce(entry)

    def disable(self, name: str, actor: str = "system") -> bool:
        """Stop a user from logging in and end their sessions; False if they already were disabled.

        Raises UserNotFound, or LastAdmin for the last enabled admin.
        """
        entry = AuditEntry(datetime.now(UTC), actor, AccountAction.DISABLE, name)
        with Session(self.engine) as session, session.begin():
            # Write first, then count: the write lock keeps two admins from disabling each other at once.
            role = session.scalar(
                update(UserRow).where(UserRow.name == name, UserRow.disabled == false())
                .values(disabled=True, session_version=_new_session_version()).returning(UserRow.role)
            )
            if role is None:
                return self._unchanged(session, name)
            _keep_an_admin(session, name, role, AccountAction.DISABLE)
            add_entry(session, entry)
        announce(entry)
        return True

    def enable(self, name: str, actor: str = "system") -> bool:
        """Let a disabled user log in again; False if they were enabled. Raises UserNotFound."""
        entry = AuditEntry(datetime.now(UTC), actor, AccountAction.ENABLE, name)
        with Session(self.engine) as session, session.begin():
            if not session.execute(
                update(UserRow).where(UserRow.name == name, UserRow.disabled).values(disabled=False)
            ).rowcount:
                return self._unchanged(session, name)
            add_entry(session, entry)
        announce(entry)
        return True

    def delete(self, name: str, actor: str = "system") -> None:
        """Remove a user, and so their sessions; raises UserNotFound, or LastAdmin for the last enabled admin."""
        entry = AuditEntry(datetime.now(UTC), actor, AccountAction.DELETE, name)
        with Session(self.engine) as session, session.begin():
            deleted = session.execute(
                delete(UserRow).where(UserRow.name == name).returning(UserRow.role, UserRow.disabled)
            ).first()
            if deleted is None:
                raise UserNotFound(name)
            if not deleted.disabled:
                _keep_an_admin(session, name, deleted.role, AccountAction.DELETE)
            add_entry(session, entry)
        announce(entry)

    def end_sessions(self, name: str) -> None:
        """Make every session of the user invalid, on every device (at logout); an unknown name is ignored."""
        with Session(self.engine) as session, session.begin():
            session.execute(update(UserRow).where(UserRow.name == name).values(session_version=_new_session_version()))

    def changes(self, limit: int = 50) -> list[AuditEntry]:
        """The latest account changes, newest first."""
        return recent_entries(self.engine, limit)

    def count(self) -> int:
        with Session(self.engine) as session:
            return session.scalar(select(func.count()).select_from(UserRow))

    @staticmethod
    def _unchanged(session: Session, name: str) -> bool:
        if session.scalar(select(UserRow.id).where(UserRow.name == name)) is None:
            raise UserNotFound(name)
        return False


def _keep_an_admin(session: Session, name: str, role: str, action: AccountAction) -> None:
    """Raise LastAdmin (undoing the transaction) if `name`, an enabled user of `role`, was the last enabled admin."""
    if role != Role.ADMIN:
        return
    # FOR UPDATE (PostgreSQL) makes two admins removing each other wait for one another; SQLite has one writer.
    left = session.scalars(
        select(UserRow.id).where(UserRow.role == str(Role.ADMIN), UserRow.disabled == false()).with_for_update()
    ).first()
    if left is None:
        raise LastAdmin(name, action)


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


def _new_session_version() -> str:
    return secrets.token_urlsafe(16)


def _hash(password: str) -> str:
    if len(password) < MIN_PASSWORD_CHARS:
        raise WeakPassword(len(password))
    return generate_password_hash(password)


@cache
def _unknown_user_hash() -> str:
    return generate_password_hash(secrets.token_hex(16))


def _to_user(row: UserRow) -> User:
    return User(name=row.name, role=Role(row.role), disabled=row.disabled, session_version=row.session_version)
