"""The audit log: who changed which account, or exported which camera's footage, and when; in the database and on
`vigil.audit`."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from alerts.tables import AuditRow

log = logging.getLogger("vigil.audit")


class AccountAction(StrEnum):
    ADD = "add"
    DISABLE = "disable"
    ENABLE = "enable"
    DELETE = "delete"
    PASSWORD = "set-password"
    EXPORT = "export"
    """Footage of a camera downloaded: the target is the camera, the detail the time range."""
    ARM = "arm"
    """A rule armed on a camera by a command: the target is `camera/rule`."""
    DISARM = "disarm"
    ACKNOWLEDGE = "acknowledge"
    """An alert acknowledged by a command: the target is the alert's id."""


_TARGET_KINDS = {AccountAction.EXPORT: "camera", AccountAction.ARM: "rule", AccountAction.DISARM: "rule",
                 AccountAction.ACKNOWLEDGE: "alert"}


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One account change; `detail` adds what the action alone does not say (a new user's role), never a secret.

    Example:
        >>> from datetime import UTC
        >>> AuditEntry(datetime(2026, 12, 14, tzinfo=UTC), "admin", AccountAction.ADD, "ana", "role operator").text()
        'admin: add user ana (role operator)'
    """

    at: datetime
    """Timezone-aware UTC."""
    actor: str
    action: AccountAction
    target: str
    detail: str = ""

    def text(self) -> str:
        what = _TARGET_KINDS.get(self.action, "user")
        return f"{self.actor}: {self.action} {what} {self.target}" + (f" ({self.detail})" if self.detail else "")


def add_entry(session: Session, entry: AuditEntry) -> None:
    """Add `entry` to the transaction that makes the change, so that both are stored or neither."""
    session.add(AuditRow(at=entry.at, actor=entry.actor, action=str(entry.action), target=entry.target,
                         detail=entry.detail))


def record(engine: Engine, entry: AuditEntry) -> None:
    """Store an entry that goes with no other change (an export), then log it."""
    with Session(engine) as session, session.begin():
        add_entry(session, entry)
    announce(entry)


def announce(entry: AuditEntry) -> None:
    """Log a stored change on `vigil.audit`."""
    log.info("%s", entry.text())


def recent_entries(engine: Engine, limit: int) -> list[AuditEntry]:
    """The latest `limit` changes, newest first."""
    with Session(engine) as session:
        rows = session.scalars(select(AuditRow).order_by(AuditRow.id.desc()).limit(limit))
        return [AuditEntry(row.at, row.actor, AccountAction(row.action), row.target, row.detail) for row in rows]
