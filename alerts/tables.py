"""SQLAlchemy table definitions of the alert store."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    JSON,
    String,
    Text,
    TypeDecorator,
    false,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class UTCDateTime(TypeDecorator[datetime]):
    """Stores aware datetimes as UTC and gives them back aware (SQLite keeps no zone)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: alert times must be timezone-aware")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


class JSONObject(TypeDecorator[dict[str, Any]]):
    """Stores a dict as strict JSON text (no NaN or infinity, which browsers cannot parse)."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: dict[str, Any] | None, dialect) -> str:
        if not isinstance(value, dict):
            raise ValueError(f"details {value!r} must be a dict")
        try:
            return json.dumps(value, allow_nan=False, ensure_ascii=False)
        except (TypeError, ValueError) as error:
            raise ValueError(f"details {value!r} are not storable as JSON: {error}") from None

    def process_result_value(self, value: str | None, dialect) -> dict[str, Any]:
        return json.loads(value) if value else {}


class Base(DeclarativeBase):
    pass


class AlertRow(Base):
    __tablename__ = "alerts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    camera: Mapped[str] = mapped_column(String(64), index=True)
    rule: Mapped[str] = mapped_column(String(128), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    label: Mapped[str] = mapped_column(String(64))
    track_id: Mapped[int] = mapped_column(Integer)
    score: Mapped[float] = mapped_column(Float)
    severity: Mapped[str] = mapped_column(String(16))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    status: Mapped[str] = mapped_column(String(16), index=True, default="new")
    snapshot_path: Mapped[str | None] = mapped_column(String(512), nullable=True)
    box: Mapped[str] = mapped_column(String(128))
    """xyxy pixels, comma-separated."""
    zone: Mapped[str | None] = mapped_column(String(64), nullable=True)
    line: Mapped[str | None] = mapped_column(String(64), nullable=True)
    count: Mapped[int | None] = mapped_column(Integer, nullable=True)
    clip_path: Mapped[str | None] = mapped_column(String(512), nullable=True)
    details: Mapped[dict[str, Any]] = mapped_column(JSONObject, server_default="{}")
    alert_key: Mapped[str] = mapped_column(String(32), unique=True, index=True)
    """`Alert.key`: a write replayed from the journal finds its alert by it."""


class AlertActionRow(Base):
    """One entry of an alert's audit trail: a status change, a note, a forced close."""

    __tablename__ = "alert_actions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(32))
    note: Mapped[str | None] = mapped_column(Text, nullable=True)


class UserRow(Base):
    """A dashboard account; the password is kept only as a salted hash."""

    __tablename__ = "users"
    __table_args__ = (CheckConstraint("role IN ('admin', 'operator', 'viewer')", name="ck_users_role"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(256))
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    disabled: Mapped[bool] = mapped_column(Boolean, server_default=false())
    session_version: Mapped[str] = mapped_column(String(32), server_default="")
    """Random, replaced to end every session of the user (logout, new password, disabled): a session is valid
    only while it carries the current value. Random rather than a counter, so a re-created user's is new too."""


class AuditRow(Base):
    """One change to the dashboard's accounts: who did what to whom, when."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    actor: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(32))
    target: Mapped[str] = mapped_column(String(64))
    detail: Mapped[str] = mapped_column(String(256), server_default="")


ACTIVE_JOB = "status IN ('queued', 'running')"
"""SQL true of a job that is queued or running: at most one row may be (the index below)."""


class TrainingJobRow(Base):
    """A fine-tuning job: what was asked, how far it got, what came out (written by the job's own process)."""

    __tablename__ = "training_jobs"
    __table_args__ = (
        CheckConstraint("status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')", name="ck_jobs_status"),
        # A unique index on a value every active row shares, over active rows only: a second one cannot be inserted.
        Index(
            "uq_training_jobs_one_active", text(f"({ACTIVE_JOB})"), unique=True,
            sqlite_where=text(ACTIVE_JOB), postgresql_where=text(ACTIVE_JOB),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dataset: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), index=True)
    requested_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    pid: Mapped[int | None] = mapped_column(Integer, nullable=True)
    pid_started_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    """When the process `pid` started (seconds since the epoch): tells it from a later one given the same pid."""
    host: Mapped[str | None] = mapped_column(String(255), nullable=True)
    """The machine the process runs on (a cluster node for a job run as a Ray task)."""
    alive_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    """When the job's process last showed it was alive: how a job on another machine is known to be dead."""
    spec: Mapped[dict[str, Any]] = mapped_column(JSONObject)
    progress: Mapped[dict[str, Any]] = mapped_column(JSONObject, server_default="{}")
    result: Mapped[dict[str, Any]] = mapped_column(JSONObject, server_default="{}")
    error: Mapped[str | None] = mapped_column(Text, nullable=True)


class RecordingRow(Base):
    """One recorded segment of a camera's main stream: a file of its own packets, starting on a keyframe."""

    __tablename__ = "recordings"
    __table_args__ = (Index("ix_recordings_camera_start", "camera", "start_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    camera: Mapped[str] = mapped_column(String(64))
    start_at: Mapped[datetime] = mapped_column(UTCDateTime)
    end_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    path: Mapped[str] = mapped_column(String(512), unique=True)
    """Relative to the recordings folder."""
    bytes: Mapped[int] = mapped_column(Integer)
    keyframes: Mapped[str] = mapped_column(Text)
    """Seconds from `start_at` of each keyframe, as a JSON list."""
    codec: Mapped[str] = mapped_column(String(16))
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)


class OutboxRow(Base):
    """One event for the notification sinks, written in the transaction of the change it tells of."""

    __tablename__ = "outbox"
    __table_args__ = {"sqlite_autoincrement": True}  # an id is never used twice, even once the newest are pruned

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    """Delivery order: SQLite commits them in order (one writer at a time)."""
    key: Mapped[str] = mapped_column(String(128), unique=True)
    """Idempotency key: the same for every delivery of the event, and for a write replayed from the journal."""
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    kind: Mapped[str] = mapped_column(String(32))
    camera: Mapped[str | None] = mapped_column(String(64), nullable=True)
    rule: Mapped[str | None] = mapped_column(String(128), nullable=True)
    severity: Mapped[str | None] = mapped_column(String(16), nullable=True)
    alert_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    """No foreign key: the event outlives an alert deleted by retention."""
    payload: Mapped[dict[str, Any]] = mapped_column(JSONObject)
    snapshot_path: Mapped[str | None] = mapped_column(String(512), nullable=True)
    only_sink: Mapped[str | None] = mapped_column(String(64), nullable=True)
    """A test message for this sink alone."""


class OutboxSinkRow(Base):
    """A sink the outbox has known: how far it got, and its counts."""

    __tablename__ = "outbox_sinks"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    cursor: Mapped[int] = mapped_column(Integer)
    """The last event it marked (events are marked in order); at first, the newest event when it was added, so a
    new sink is not sent the history."""
    added_at: Mapped[datetime] = mapped_column(UTCDateTime)
    delivered: Mapped[int] = mapped_column(Integer, server_default="0")
    skipped: Mapped[int] = mapped_column(Integer, server_default="0")
    failed: Mapped[int] = mapped_column(Integer, server_default="0")


class DeliveryRow(Base):
    """What became of one outbox event at one sink: delivered, skipped by its filters, or refused for good."""

    __tablename__ = "outbox_deliveries"
    __table_args__ = (Index("uq_outbox_deliveries_sink_event", "sink", "event_id", unique=True),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("outbox.id", ondelete="CASCADE"), index=True)
    sink: Mapped[str] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer)
    detail: Mapped[str] = mapped_column(String(256), server_default="")


class RuleArmingRow(Base):
    """A rule disarmed or re-armed on one camera by a command; rules without a row are armed."""

    __tablename__ = "rule_arming"

    camera: Mapped[str] = mapped_column(String(64), primary_key=True)
    rule: Mapped[str] = mapped_column(String(128), primary_key=True)
    armed: Mapped[bool] = mapped_column(Boolean)
    by: Mapped[str] = mapped_column(String(128))
    at: Mapped[datetime] = mapped_column(UTCDateTime)


LIVE_MODEL_ROW = 1
"""The id of the one row of `live_model`."""


class LiveModelRow(Base):
    """The model registry's live pointer (one row): the version detectors run and those it replaced, newest last."""

    __tablename__ = "live_model"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    live: Mapped[str] = mapped_column(String(32))
    previous: Mapped[list[str]] = mapped_column(JSON)
    """What `rollback` goes back to, last first."""


class ModelPromotionRow(Base):
    """One change of the live pointer: a promotion or a rollback, when, from and to what, and why."""

    __tablename__ = "model_promotions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    action: Mapped[str] = mapped_column(String(16))
    from_version: Mapped[str] = mapped_column(String(32))
    to_version: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(Text, default="")
