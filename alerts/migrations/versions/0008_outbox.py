"""Notifications: the outbox of alert and camera events, the sinks it serves, what each delivered; rule arming.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("key", sa.String(128), nullable=False, unique=True),
        sa.Column("at", sa.DateTime, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("camera", sa.String(64), nullable=True),
        sa.Column("rule", sa.String(128), nullable=True),
        sa.Column("severity", sa.String(16), nullable=True),
        sa.Column("alert_id", sa.Integer, nullable=True),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("snapshot_path", sa.String(512), nullable=True),
        sa.Column("only_sink", sa.String(64), nullable=True),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_outbox_at", "outbox", ["at"])
    op.create_index("ix_outbox_alert_id", "outbox", ["alert_id"])
    op.create_table(
        "outbox_sinks",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("cursor", sa.Integer, nullable=False),
        sa.Column("added_at", sa.DateTime, nullable=False),
        sa.Column("delivered", sa.Integer, nullable=False, server_default="0"),
        sa.Column("skipped", sa.Integer, nullable=False, server_default="0"),
        sa.Column("failed", sa.Integer, nullable=False, server_default="0"),
    )
    op.create_table(
        "outbox_deliveries",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("event_id", sa.Integer, sa.ForeignKey("outbox.id", ondelete="CASCADE"), nullable=False),
        sa.Column("sink", sa.String(64), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("at", sa.DateTime, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("detail", sa.String(256), nullable=False, server_default=""),
    )
    op.create_index("ix_outbox_deliveries_event_id", "outbox_deliveries", ["event_id"])
    op.create_index("uq_outbox_deliveries_sink_event", "outbox_deliveries", ["sink", "event_id"], unique=True)
    op.create_table(
        "rule_arming",
        sa.Column("camera", sa.String(64), primary_key=True),
        sa.Column("rule", sa.String(128), primary_key=True),
        sa.Column("armed", sa.Boolean, nullable=False),
        sa.Column("by", sa.String(128), nullable=False),
        sa.Column("at", sa.DateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("rule_arming")
    op.drop_table("outbox_deliveries")
    op.drop_table("outbox_sinks")
    op.drop_table("outbox")
