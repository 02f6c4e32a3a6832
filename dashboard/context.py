"""What the dashboard is built from: its settings and the services it reads and changes."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from flask import current_app
from prometheus_client.registry import Collector

from alerts import AlertStore
from alerts.notify.notifier import Notifier
from alerts.recordings import RecordingIndex
from alerts.users import UserStore
from dashboard.proxies import Network
from detector.score_profile import ClassScores, RuleThreshold
from streamer import CameraHealth
from streamer.recorder import RecorderStatus

HealthSource = Callable[[], Mapping[str, CameraHealth] | None]
ScoreSource = Callable[[], Mapping[str, ClassScores]]
RecorderSource = Callable[[], Mapping[str, RecorderStatus]]


@dataclass(frozen=True, slots=True)
class DashboardSettings:
    """How the dashboard behaves; `secret_key` signs session cookies and must stay secret and stable.

    Example:
        >>> DashboardSettings(secret_key=b"0" * 32, media_dir=Path("data/media")).page_size
        50
    """

    secret_key: bytes
    media_dir: Path
    """Snapshots and clips are served from under this folder only."""
    session_cookie_secure: bool = False
    """Send the session cookie over HTTPS only; turn on behind a TLS proxy."""
    session_idle_s: float = 3600.0
    """A session ends after this long without a request,"""
    session_max_s: float = 12 * 3600.0
    """and this long after its login, however busy."""
    login_max_attempts: int = 5
    """Login attempts per (address, user name) within `login_window_s` before further tries are refused; also the
    failures at one name, from any address, after which each further try waits longer (`login_backoff_max_s`)."""
    login_window_s: float = 300.0
    login_address_max_attempts: int = 20
    """Login attempts from one address at any user names within `login_window_s`."""
    login_backoff_max_s: float = 30.0
    """The longest wait between tries at a user name that keeps failing: how long an attacker can lock it out."""
    page_size: int = 50
    trusted_proxies: tuple[Network, ...] = ()
    """Reverse proxies whose `X-Forwarded-For` and `X-Forwarded-Proto` are believed."""
    max_request_bytes: int = 1 << 20
    """Largest request body, except for views that allow more (uploads)."""
    clock: Callable[[], float] = time.time
    """Seconds since the epoch, read by sessions and the login throttle (tests pass their own)."""

    def __post_init__(self) -> None:
        if len(self.secret_key) < 16:
            raise ValueError(f"secret_key of {len(self.secret_key)} bytes is too short: use 32 random bytes")
        if self.session_idle_s <= 0 or self.session_max_s <= 0:
            raise ValueError(f"session_idle_s {self.session_idle_s} and session_max_s {self.session_max_s} "
                             "must be positive")
        if self.page_size < 1:
            raise ValueError(f"page_size {self.page_size} must be at least 1")


@dataclass(frozen=True, slots=True)
class DashboardServices:
    """The parts of Vigil the dashboard works with; `health`, `metrics` and `recorder_status` are None without a
    running pipeline."""

    store: AlertStore
    users: UserStore
    health: HealthSource | None = None
    """Each camera's health; None (or returning None) means the pipeline is not running."""
    metrics: Collector | None = None
    """The running pipeline's Prometheus series (detector, writer, recording, sinks), collected at each scrape."""
    scores: ScoreSource | None = None
    """The model's recent score distribution per class, over every camera."""
    rule_thresholds: Mapping[str, list[RuleThreshold]] = field(default_factory=dict)
    """Per class, the enabled rules on it and the score each asks for."""
    cameras: tuple[str, ...] = ()
    """The configured cameras: their recordings can be browsed whether or not the pipeline runs."""
    recordings: RecordingIndex | None = None
    """The recordings index; None leaves out the recordings pages."""
    recorder_status: RecorderSource | None = None
    """Each recorded camera's recorder, while the pipeline runs."""
    notifier: Notifier | None = None
    """The notification sinks' workers, while the pipeline runs."""

    def camera_health(self) -> Mapping[str, CameraHealth] | None:
        return None if self.health is None else self.health()


def settings() -> DashboardSettings:
    return current_app.extensions["vigil.settings"]


def services() -> DashboardServices:
    return current_app.extensions["vigil.services"]
