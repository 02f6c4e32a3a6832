"""The outbox as the delivery workers and the dashboard see it: each sink's pending events, what became of them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from sqlalchemy import Engine, case, delete, func, select, update
from sqlalchemy.orm import Session

from alerts.media_root import MediaRoot
from alerts.notify.events import OutboxEvent, add_test_event, to_event
from alerts.tables import DeliveryRow, OutboxRow, OutboxSinkRow


class Outcome(StrEnum):
    DELIVERED = "delivered"
    SKIPPED = "skipped"
    """The sink's filters, quiet hours or rate limit left the event out."""
    FAILED = "failed"
    """The receiver refused it for good (e.g. HTTP 400): not retried."""


@dataclass(frozen=True, slots=True)
class Delivery:
    """What became of one event at one sink."""

    sink: str
    event: str
    """The event's kind."""
    outcome: Outcome
    at: datetime
    attempts: int
    detail: str


class Outbox:
    """Reads and marks the outbox; every method is its own short transaction.

    A sink is sent the events stored after it was first registered, oldest first, each until it is marked; an event
    for another sink only (a test) is never pending for it. Each sink's cursor is the last event it marked: it
    marks them in order, and ids commit in order (SQLite has one writer, PostgreSQL's take the outbox lock), so
    what is pending is what lies past the cursor.

    Example:
        >>> outbox = Outbox(store.engine)  # doctest: +SKIP
        >>> outbox.register({"mqtt": "mqtt"}); [event] = outbox.pending("mqtt", limit=1)  # doctest: +SKIP
        >>> outbox.mark("mqtt", event.id, Outcome.DELIVERED, attempts=1)  # doctest: +SKIP
    """

    def __init__(self, engine: Engine, media: MediaRoot = MediaRoot()) -> None:
        self.engine = engine
        self._media = media
        """What events' snapshot paths are relative to (the store's)."""

    def register(self, sinks: dict[str, str]) -> None:
        """Make sinks (name → kind) known; one seen for the first time starts after the newest event stored now."""
        with Session(self.engine) as session, session.begin():
            known = set(session.scalars(select(OutboxSinkRow.name)))
            newest = session.scalar(select(func.max(OutboxRow.id))) or 0
            now = datetime.now(UTC)
            session.add_all(OutboxSinkRow(name=name, kind=kind, cursor=newest, added_at=now)
                            for name, kind in sinks.items() if name not in known)

    def pending(self, sink: str, limit: int = 50) -> list[OutboxEvent]:
        """The sink's oldest events not yet marked."""
        with Session(self.engine) as session:
            rows = session.scalars(self._pending(sink).order_by(OutboxRow.id).limit(limit))
            return [to_event(row, self._media) for row in rows]

    def backlog(self, sink: str) -> int:
        with Session(self.engine) as session:
            return session.scalar(select(func.count()).select_from(self._pending(sink).subquery())) or 0

    def mark(self, sink: str, event_id: int, outcome: Outcome, attempts: int, detail: str = "") -> None:
        """Record what became of the event and move the sink's cursor past it; marking it again changes nothing."""
        with Session(self.engine) as session, session.begin():
            marked = session.scalar(select(DeliveryRow.id).where(DeliveryRow.sink == sink,
                                                                 DeliveryRow.event_id == event_id))
            if marked is not None:
                return
            session.add(DeliveryRow(event_id=event_id, sink=sink, outcome=str(outcome), at=datetime.now(UTC),
                                    attempts=attempts, detail=detail[:256]))
            counter = getattr(OutboxSinkRow, str(outcome))
            session.execute(update(OutboxSinkRow).where(OutboxSinkRow.name == sink).values(
                {OutboxSinkRow.cursor: case((OutboxSinkRow.cursor < event_id, event_id), else_=OutboxSinkRow.cursor),
                 counter: counter + 1}))

    def deliveries_of_alert(self, alert_id: int) -> list[Delivery]:
        """Where the events of one alert went, oldest first."""
        query = (select(DeliveryRow, OutboxRow.kind).join(OutboxRow, DeliveryRow.event_id == OutboxRow.id)
                 .where(OutboxRow.alert_id == alert_id).order_by(DeliveryRow.event_id, DeliveryRow.sink))
        with Session(self.engine) as session:
            return [Delivery(row.sink, kind, Outcome(row.outcome), row.at, row.attempts, row.detail)
                    for row, kind in session.execute(query)]

    def counts(self, sink: str) -> dict[Outcome, int]:
        """How many events the sink has had of each outcome."""
        with Session(self.engine) as session:
            row = session.get(OutboxSinkRow, sink)
            return {outcome: 0 if row is None else getattr(row, str(outcome)) for outcome in Outcome}

    def add_test(self, sink: str, actor: str) -> None:
        with Session(self.engine) as session, session.begin():
            add_test_event(session, sink, actor)

    def prune(self, before: datetime, sinks: Iterable[str]) -> int:
        """Delete events stored before `before` that every one of `sinks` (those configured now) has gone past;
        returns how many went."""
        with Session(self.engine) as session, session.begin():
            reached = session.scalar(select(func.min(OutboxSinkRow.cursor)).where(OutboxSinkRow.name.in_(list(sinks))))
            query = delete(OutboxRow).where(OutboxRow.at < before)
            if reached is not None:
                query = query.where(OutboxRow.id <= reached)
            return session.execute(query).rowcount

    @staticmethod
    def _pending(sink: str):
        cursor = select(OutboxSinkRow.cursor).where(OutboxSinkRow.name == sink).scalar_subquery()
        return select(OutboxRow).where(OutboxRow.id > cursor,
                                       (OutboxRow.only_sink.is_(None)) | (OutboxRow.only_sink == sink))
