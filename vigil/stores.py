"""The alert store a config names (its database, with media paths relative to its media folder), and the model
registry whose live pointer is in it."""

from __future__ import annotations

from alerts import AlertStore
from finetune.registry import ModelRegistry
from vigil.config import VigilConfig


def open_store(config: VigilConfig) -> AlertStore:
    """`storage.database` (a SQLite file or a PostgreSQL URL), brought up to date, paths kept under `media_dir`."""
    return AlertStore(config.storage.database, media_dir=config.storage.media_dir)


def site_registry(config: VigilConfig, store: AlertStore) -> ModelRegistry:
    """The model versions in `finetune.models_dir`, `detector.model` as `base`, the live pointer in `store`."""
    return ModelRegistry(config.finetune.models_dir, config.detector.model, store.engine)
