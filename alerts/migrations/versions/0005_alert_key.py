"""Alert key: the alert's uuid hex, unique, so writes replayed from the journal are applied once.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("alerts") as alerts:
        alerts.add_column(sa.Column("alert_key", sa.String(32), nullable=True))
    table = sa.table("alerts", sa.column("id", sa.Integer), sa.column("alert_key", sa.String))
    # Alerts from before keys were stored get one no uuid hex can equal.
    op.execute(sa.update(table).values(alert_key="legacy-" + sa.cast(table.c.id, sa.String)))
    with op.batch_alter_table("alerts") as alerts:
        alerts.alter_column("alert_key", existing_type=sa.String(32), nullable=False)
        alerts.create_index("ix_alerts_alert_key", ["alert_key"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("alerts") as alerts:
        alerts.drop_index("ix_alerts_alert_key")
        alerts.drop_column("alert_key")
