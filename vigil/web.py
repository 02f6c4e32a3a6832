"""Serves the dashboard with waitress, beside the pipeline or alone."""

from __future__ import annotations

import logging
import os
import resource
import secrets
import socket
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from flask import Flask
from waitress import wasyncore
from waitress.server import create_server

from alerts import AlertStore
from alerts.private_files import restrict_to_owner
from alerts.users import UserStore, ensure_admin
from dashboard import DashboardServices, DashboardSettings, create_app, largest_request_body
from dashboard.live import LiveFrames
from dashboard.live_views import LiveSettings, register_live
from dashboard.models_views import register_models
from dashboard.stream_slots import StreamSlots
from dashboard.uploads_views import register_uploads
from dashboard.zones_views import register_zones
from vigil.config import DashboardConfig, VigilConfig
from vigil.finetune_service import SiteFinetuning
from vigil.request_limits import admin_signed_in, large_body_paths, route_limited_channel
from vigil.zone_editing import ShapeEditor

if TYPE_CHECKING:
    from vigil.cluster.driver import ClusterPipeline
    from vigil.pipeline import Pipeline

log = logging.getLogger(__name__)

_SECRET_KEY_BYTES = 32
_STREAM_BUFFER_BYTES = 1 << 20
"""Output buffered per connection before its thread waits for the client (waitress' 16 MB, times 64 streams, is a
gigabyte for clients that stopped reading)."""
_UNACKNOWLEDGED_LIMIT_MS = 30_000


def _socket_options() -> list[tuple[int, int, int]]:
    """waitress' TCP_NODELAY, and where the kernel takes it TCP_USER_TIMEOUT: a client that vanished without closing
    (Wi-Fi gone, lid shut) acknowledges nothing, and the kernel gives up on it after 30 s rather than TCP's 15
    minutes, so its live stream's thread and slot come back. Probed once: waitress drops every connection whose
    options fail."""
    options = [(socket.SOL_TCP, socket.TCP_NODELAY, 1)]
    timeout = (socket.SOL_TCP, getattr(socket, "TCP_USER_TIMEOUT", None), _UNACKNOWLEDGED_LIMIT_MS)
    if timeout[1] is not None:
        with socket.socket() as probe:
            try:
                probe.setsockopt(*timeout)
                options.append(timeout)
            except OSError:
                log.info("TCP_USER_TIMEOUT is not available: vanished live viewers are dropped by TCP's own timeout")
    return options
_SPARE_FILES = 256
"""Open files kept beyond the dashboard's connections: cameras, the database, models, clips being written."""


def secret_key(path: Path) -> bytes:
    """The dashboard's session-signing key, made once and kept (owner-only) so logins survive restarts.

    A kept key file that others may read is made owner-only, with a warning; alone it forges no login, as a
    session must also carry the user's session version from the database.
    """
    if path.is_file():
        restrict_to_owner(path)
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
    live: LiveFrames | None = None,
    services: DashboardServices | None = None,
    pipeline: Pipeline | ClusterPipeline | None = None,
    finetuning: SiteFinetuning | None = None,
) -> Flask:
    """The dashboard app for the config read from `config_path`; without `live`, the live page says the pipeline
    is not running; zone edits are written to `config_path` and, given `pipeline`, applied to it at once;
    `finetuning` (made from the config when omitted) backs the models page and the retraining trigger."""
    settings = DashboardSettings(
        secret_key=secret_key(config.storage.secret_key), media_dir=Path(config.storage.media_dir),
        trusted_proxies=tuple(config.dashboard.trusted_proxies),
        session_cookie_secure=config.dashboard.secure_cookies,
        session_idle_s=config.dashboard.session_idle_min * 60, session_max_s=config.dashboard.session_max_hours * 3600,
    )
    app = create_app(settings, services or DashboardServices(store, UserStore(store.engine)))
    slots = StreamSlots(config.dashboard.live_max_streams, config.dashboard.live_max_streams_per_user)
    register_live(app, LiveSettings(list(config.cameras), live, config.dashboard.live_max_fps, slots))
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
    """waitress on its own thread; `stop` ends its loop and closes the listening socket.

    Live streams each hold a request thread, so the pool has `page_threads` more than the most streams the
    dashboard lets open: pages and the API always find a thread. Idle and half-open connections cost no thread;
    they are bounded by `connection_limit` and closed after `idle_timeout_s`.
    """

    def __init__(self, app: Flask, settings: DashboardConfig) -> None:
        connection_limit = _connection_limit(settings.connection_limit)
        self._server = create_server(
            app, host=settings.host, port=settings.port,
            threads=settings.page_threads + settings.live_max_streams,
            connection_limit=connection_limit,
            channel_timeout=settings.idle_timeout_s,
            cleanup_interval=max(1, min(settings.idle_timeout_s // 2, 10)),
            channel_request_lookahead=1,  # keeps reading while a stream runs, so a viewer leaving is noticed
            max_request_body_size=largest_request_body(app),
            asyncore_use_poll=True,  # select() cannot watch descriptors numbered past 1024
            outbuf_high_watermark=_STREAM_BUFFER_BYTES,
            clear_untrusted_proxy_headers=False,  # dashboard.proxies.TrustedProxies checks and removes them
            ident="vigil",
        )
        self._server.adj.socket_options = _socket_options()  # not an argument waitress takes; read at each accept
        # Only uploads, and only from an admin's session, may send more than the app-wide limit.
        dashboard = app.extensions["vigil.settings"]
        self._server.channel_class = route_limited_channel(
            large_body_paths(app), app.config["MAX_CONTENT_LENGTH"] + 1,
            admin_signed_in(app, dashboard.session_max_s, dashboard.clock))
        self._thread = threading.Thread(target=self._server.run, name="dashboard", daemon=True)
        self.url = f"http://{settings.host}:{self._server.effective_port}"

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


def _connection_limit(wanted: int) -> int:
    """`wanted`, once the open-files limit is raised to fit it (as far as the hard limit allows), else less."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = wanted + _SPARE_FILES
    if soft != resource.RLIM_INFINITY and soft < needed:
        raised = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (raised, hard))
        soft = raised
    if soft != resource.RLIM_INFINITY and soft < needed:
        log.warning("dashboard.connection_limit %d lowered to %d: the open-files limit is %d (ulimit -n)",
                    wanted, soft - _SPARE_FILES, soft)
        return max(10, soft - _SPARE_FILES)
    return wanted
