"""Serves the dashboard with waitress, beside the pipeline or alone."""

from __future__ import annotations

import logging
import os
import secrets
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from flask import Flask
from waitress import wasyncore
from waitress.server import create_server

from alerts import AlertStore
from alerts.users import UserStore, ensure_admin
from dashboard import DashboardServices, DashboardSettings, create_app
from dashboard.live import LiveHub
from dashboard.live_views import register_live
from dashboard.models_views import register_models
from dashboard.uploads_views import register_uploads
from dashboard.zones_views import register_zones
from vigil.config import VigilConfig
from vigil.finetune_service import SiteFinetuning
from vigil.zone_editing import ShapeEditor

if TYPE_CHECKING:
    from vigil.pipeline import Pipeline

log = logging.getLogger(__name__)

_SECRET_KEY_BYTES = 32
_SERVER_THREADS = 16
"""Each open live stream holds one thread."""


def secret_key(path: Path) -> bytes:
    """The dashboard's session-signing key, made once and kept (owner-only) so logins survive restarts."""
    if path.is_file():
        return path.read_bytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_bytes(_SECRET_KEY_BYTES)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        file.write(key)
    return key


def build_dashboard(
    config: VigilConfig,
    config_path: Path,
    store: AlertStore,
    live: LiveHub | None = None,
    services: DashboardServices | None = None,
    pipeline: Pipeline | None = None,
    finetuning: SiteFinetuning | None = None,
) -> Flask:
    """The dashboard app for the config read from `config_path`; without `live`, the live page says the pipeline
    is not running; zone edits are written to `config_path` and, given `pipeline`, applied to it at once;
    `finetuning` (made from the config when omitted) backs the models page and the retraining trigger."""
    database = Path(config.storage.database)
    settings = DashboardSettings(
        secret_key=secret_key(database.with_name("dashboard-secret.key")), media_dir=Path(config.storage.media_dir)
    )
    app = create_app(settings, services or DashboardServices(store, UserStore(store.engine)))
    register_live(app, list(config.cameras), live, max_fps=config.dashboard.live_max_fps)
    register_zones(app, ShapeEditor(config_path, pipeline), live)
    finetuning = finetuning or SiteFinetuning(config, store)
    register_models(app, finetuning)
    register_uploads(app, finetuning.uploads(config_path))
    return app


def announce_first_admin(store: AlertStore) -> None:
    """On the very first start, create `admin` and print its password once (to the terminal, never to the log)."""
    password = ensure_admin(UserStore(store.engine))
    if password is not None:
        print(f"\nVigil dashboard: created user 'admin' with password: {password}\n"
              "Write it down now: it is not shown again (`vigil user add` makes more users).\n", flush=True)


class DashboardServer:
    """waitress on its own thread; `stop` ends its loop and closes the listening socket."""

    def __init__(self, app: Flask, host: str, port: int) -> None:
        self._server = create_server(app, host=host, port=port, threads=_SERVER_THREADS)
        self._thread = threading.Thread(target=self._server.run, name="dashboard", daemon=True)
        self.url = f"http://{host}:{self._server.effective_port}"

    def start(self) -> None:
        self._thread.start()
        log.info("dashboard on %s", self.url)

    def stop(self) -> None:
        """Close every channel from inside waitress' loop (closing them under its select would fail): with nothing
        left to watch the loop returns; then stop the request threads."""
        channels = self._server._map  # waitress keeps no public handle on it
        self._server.trigger.pull_trigger(lambda: wasyncore.close_all(channels))
        self._thread.join(timeout=10)
        self._server.task_dispatcher.shutdown()
