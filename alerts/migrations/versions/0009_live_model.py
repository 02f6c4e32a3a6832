"""The model registry's live pointer and its log in the database (they were live.json in the models folder); where
a training job runs (host) and when it last showed it was alive.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    live_model = op.create_table(
        "live_model",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("live", sa.String(32), nullable=False),
        sa.Column("previous", sa.JSON, nullable=False),
    )
    op.bulk_insert(live_model, [{"id": 1, "live": "base", "previous": []}])
    op.create_table(
        "model_promotions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("at", sa.DateTime, nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("from_version", sa.String(32), nullable=False),
        sa.Column("to_version", sa.String(32), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
    )
    op.add_column("training_jobs", sa.Column("host", sa.String(255), nullable=True))
    op.add_column("training_jobs", sa.Column("alive_at", sa.DateTime, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("training_jobs") as jobs:
        jobs.drop_column("alive_at")
        jobs.drop_column("host")
    op.drop_table("model_promotions")
    op.drop_table("live_model")
