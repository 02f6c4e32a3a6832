"""Alert zone, line, count, clip and details; the alert_actions audit trail.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("alerts") as alerts:
        alerts.add_column(sa.Column("zone", sa.String(64), nullable=True))
        alerts.add_column(sa.Column("line", sa.String(64), nullable=True))
        alerts.add_column(sa.Column("count", sa.Integer, nullable=True))
        alerts.add_column(sa.Column("clip_path", sa.String(512), nullable=True))
        alerts.add_column(sa.Column("details", sa.Text, nullable=False, server_default="{}"))
    op.create_table(
        "alert_actions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("alert_id", sa.Integer, sa.ForeignKey("alerts.id", ondelete="CASCADE"), nullable=False, index=True),
        sa.Column("at", sa.DateTime, nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("note", sa.Text, nullable=True),
    )


def downgrade() -> None:
    op.drop_table("alert_actions")
    with op.batch_alter_table("alerts") as alerts:
        for column in ("details", "clip_path", "count", "line", "zone"):
            alerts.drop_column(column)
