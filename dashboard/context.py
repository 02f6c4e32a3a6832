"""What the dashboard is built from: its settings and the services it reads and changes."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from flask import current_app

from alerts import AlertStore
from alerts.users import UserStore
from detector.score_profile import ClassScores, RuleThreshold
from streamer import CameraHealth

HealthSource = Callable[[], Mapping[str, CameraHealth] | None]
MetricsSource = Callable[[], Iterable[str] | None]
ScoreSource = Callable[[], Mapping[str, ClassScores]]


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
    login_max_attempts: int = 5
    """Failed logins per (address, user name) within `login_window_s` before further tries are refused."""
    login_window_s: float = 300.0
    page_size: int = 50

    def __post_init__(self) -> None:
        if len(self.secret_key) < 16:
            raise ValueError(f"secret_key of {len(self.secret_key)} bytes is too short: use 32 random bytes")
        if self.page_size < 1:
            raise ValueError(f"page_size {self.page_size} must be at least 1")


@dataclass(frozen=True, slots=True)
class DashboardServices:
    """The parts of Vigil the dashboard works with; `health` and `metrics` are None without a running pipeline."""

    store: AlertStore
    users: UserStore
    health: HealthSource | None = None
    """Each camera's health; None (or returning None) means the pipeline is not running."""
    metrics: MetricsSource | None = None
    """Extra Prometheus text lines (detector batch size, latency, …) appended to /metrics."""
    scores: ScoreSource | None = None
    """The model's recent score distribution per class, over every camera."""
    rule_thresholds: Mapping[str, list[RuleThreshold]] = field(default_factory=dict)
    """Per class, the enabled rules on it and the score each asks for."""

    def camera_health(self) -> Mapping[str, CameraHealth] | None:
        return None if self.health is None else self.health()


def settings() -> DashboardSettings:
    return current_app.extensions["vigil.settings"]


def services() -> DashboardServices:
    return current_app.extensions["vigil.services"]
