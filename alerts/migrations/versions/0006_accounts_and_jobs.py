"""Revocable sessions (users.session_version), the audit log of account changes, and fine-tuning jobs that know
their process's start time and of which at most one is queued or running.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

import secrets

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_ACTIVE = "status IN ('queued', 'running')"


def upgrade() -> None:
    with op.batch_alter_table("users") as users:
        users.add_column(sa.Column("session_version", sa.String(32), nullable=False, server_default=""))
    # A random version per user: sessions from before carry none, so they end (everyone logs in once more), and a
    # cookie forged with a leaked key cannot guess it.
    users_table = sa.table("users", sa.column("name", sa.String), sa.column("session_version", sa.String))
    connection = op.get_bind()
    for (name,) in connection.execute(sa.select(users_table.c.name)).all():
        connection.execute(users_table.update().where(users_table.c.name == name)
                           .values(session_version=secrets.token_hex(16)))
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("at", sa.DateTime, nullable=False, index=True),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("target", sa.String(64), nullable=False),
        sa.Column("detail", sa.String(256), nullable=False, server_default=""),
    )
    with op.batch_alter_table("training_jobs") as jobs:
        jobs.add_column(sa.Column("pid_started_at", sa.Float, nullable=True))
    table = sa.table(
        "training_jobs", sa.column("id", sa.Integer), sa.column("status", sa.String), sa.column("error", sa.Text)
    )
    # Two requests may have raced past the old check: keep the newest active job, so the index below can be made.
    newest = sa.select(sa.func.max(table.c.id)).where(sa.text(_ACTIVE)).scalar_subquery()
    op.execute(
        sa.update(table).where(sa.text(_ACTIVE), table.c.id != newest)
        .values(status="failed", error="another job was active at the same time")
    )
    op.create_index(
        "uq_training_jobs_one_active", "training_jobs", [sa.text(f"({_ACTIVE})")], unique=True,
        sqlite_where=sa.text(_ACTIVE), postgresql_where=sa.text(_ACTIVE),
    )


def downgrade() -> None:
    op.drop_index("uq_training_jobs_one_active", "training_jobs")
    with op.batch_alter_table("training_jobs") as jobs:
        jobs.drop_column("pid_started_at")
    op.drop_table("audit_log")
    with op.batch_alter_table("users") as users:
        users.drop_column("session_version")
