"""Recordings: the index of each camera's recorded segments (times, file, size, keyframes, format).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "recordings",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("camera", sa.String(64), nullable=False),
        sa.Column("start_at", sa.DateTime, nullable=False),
        sa.Column("end_at", sa.DateTime, nullable=False),
        sa.Column("path", sa.String(512), nullable=False, unique=True),
        sa.Column("bytes", sa.Integer, nullable=False),
        sa.Column("keyframes", sa.Text, nullable=False),
        sa.Column("codec", sa.String(16), nullable=False),
        sa.Column("width", sa.Integer, nullable=False),
        sa.Column("height", sa.Integer, nullable=False),
    )
    op.create_index("ix_recordings_camera_start", "recordings", ["camera", "start_at"])
    op.create_index("ix_recordings_end_at", "recordings", ["end_at"])


def downgrade() -> None:
    op.drop_table("recordings")
