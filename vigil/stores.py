"""The alert store a config names: its database, with media paths relative to its media folder."""

from __future__ import annotations

from alerts import AlertStore
from vigil.config import VigilConfig


def open_store(config: VigilConfig) -> AlertStore:
    """`storage.database` (a SQLite file or a PostgreSQL URL), brought up to date, paths kept under `media_dir`."""
    return AlertStore(config.storage.database, media_dir=config.storage.media_dir)
