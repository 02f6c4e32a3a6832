"""Rules armed or disarmed per camera by an operator's command, kept in the database across restarts."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from alerts.audit import AccountAction, AuditEntry, add_entry, announce
from alerts.tables import RuleArmingRow

log = logging.getLogger(__name__)


class RuleArming:
    """Which (camera, rule) pairs are disarmed; a rule's schedule still applies while it is armed.

    `armed` is read by the camera workers on every frame and takes no lock; `set` stores the change and its audit
    entry in one transaction, then tells the listeners.

    Example:
        >>> arming = RuleArming(store.engine)  # doctest: +SKIP
        >>> arming.set("lobby", "loiter", False, actor="mqtt"); arming.armed("lobby", "loiter")  # doctest: +SKIP
        False
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._lock = threading.Lock()
        self._disarmed: frozenset[tuple[str, str]] = frozenset()
        self.reload()
        self._listeners: list[Callable[[str, str, bool], None]] = []

    def reload(self) -> None:
        """Read the disarmed pairs from the database (changes stored by another process)."""
        with self._lock, Session(self._engine) as session:
            rows = session.scalars(select(RuleArmingRow).where(RuleArmingRow.armed.is_(False)))
            self._disarmed = frozenset((row.camera, row.rule) for row in rows)

    def armed(self, camera: str, rule: str) -> bool:
        return (camera, rule) not in self._disarmed

    def disarmed(self) -> frozenset[tuple[str, str]]:
        return self._disarmed

    def listen(self, listener: Callable[[str, str, bool], None]) -> None:
        """Call `listener(camera, rule, armed)` after each change."""
        self._listeners.append(listener)

    def set(self, camera: str, rule: str, armed: bool, actor: str) -> None:
        """Arm or disarm `rule` on `camera`, recording who did it."""
        now = datetime.now(UTC)
        action = AccountAction.ARM if armed else AccountAction.DISARM
        entry = AuditEntry(now, actor, action, f"{camera}/{rule}")
        with self._lock:
            with Session(self._engine) as session, session.begin():
                session.merge(RuleArmingRow(camera=camera, rule=rule, armed=armed, by=actor, at=now))
                add_entry(session, entry)
            self._remember(camera, rule, armed)
        announce(entry)
        for listener in self._listeners:
            listener(camera, rule, armed)

    def changed_elsewhere(self, camera: str, rule: str, armed: bool) -> None:
        """Take in a change another process has stored (a cluster's driver), and tell the listeners."""
        with self._lock:
            self._remember(camera, rule, armed)
        for listener in self._listeners:
            listener(camera, rule, armed)

    def _remember(self, camera: str, rule: str, armed: bool) -> None:
        pair = {(camera, rule)}
        self._disarmed = self._disarmed - pair if armed else self._disarmed | pair
