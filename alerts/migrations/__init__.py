"""Alembic migrations of the alert store; applied automatically when the store opens."""
