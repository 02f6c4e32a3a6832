"""A dashboard on a real SQLite file for the dashboard tests: users of every role, alerts with media files."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from alerts import Alert, AlertStore, Severity
from alerts.recordings import RecordingIndex
from alerts.users import Role, UserStore
from dashboard import DashboardServices, DashboardSettings, create_app

PASSWORD = "correct horse battery"
"""Every test user's password; each role has a user of the same name (viewer, operator, admin)."""
ROLES = tuple(role.value for role in Role)
T0 = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)


def users_database(folder: Path) -> Path:
    """A database holding one user per role; hashing is slow, so tests copy it rather than rebuild it."""
    path = folder / "users.db"
    store = AlertStore(path)
    users = UserStore(store.engine)
    for role in Role:
        users.add(role.value, PASSWORD, role)
    store.close()
    return path


@dataclass
class Site:
    app: Flask
    store: AlertStore
    users: UserStore
    media_dir: Path

    def alert(
        self, camera: str = "lobby", started_at: datetime = T0, snapshot: bool = True, clip: bool = False, **fields: Any
    ) -> int:
        """Insert an alert through the store, with a snapshot (and clip) file under the media folder."""
        folder = self.media_dir / "lobby" / started_at.strftime("%Y-%m-%d")
        folder.mkdir(parents=True, exist_ok=True)
        stem = f"{started_at:%H%M%S}-{len(list(folder.iterdir())):04d}"
        if snapshot:
            fields["snapshot_path"] = str(folder / f"{stem}.jpg")
            Path(fields["snapshot_path"]).write_bytes(b"\xff\xd8 snapshot of " + stem.encode())
        if clip:
            fields["clip_path"] = str(folder / f"{stem}.mp4")
            Path(fields["clip_path"]).write_bytes(bytes(range(256)) * 4)
        defaults = dict(
            rule="person-seen", kind="presence", label="person", track_id=4, score=0.81, severity=Severity.INFO
        )
        return self.store.insert(
            Alert(camera=camera, started_at=started_at, box=(10.0, 20.0, 50.0, 120.0), **(defaults | fields))
        )

    def client(self, role: str | None = None, remote_addr: str = "127.0.0.1") -> FlaskClient:
        """A test client, logged in through the login form as the user named `role` unless None."""
        client = self.app.test_client()
        client.environ_base["REMOTE_ADDR"] = remote_addr
        if role is not None:
            response = login(client, role)
            assert response.status_code == 303, response.text
        return client


def build_site(tmp_path: Path, users_db: Path, health=None, metrics=None, scores=None, rule_thresholds=None,
               cameras: tuple[str, ...] = (), recordings_dir: Path | None = None, recorder_status=None,
               **settings: Any) -> Site:
    """The dashboard on a copy of `users_db`; given `recordings_dir`, with the recordings pages on an index there."""
    database = tmp_path / "vigil.db"
    tmp_path.mkdir(parents=True, exist_ok=True)
    shutil.copy(users_db, database)
    store = AlertStore(database)
    users = UserStore(store.engine)
    media_dir = tmp_path / "media"
    media_dir.mkdir()
    app = create_app(
        DashboardSettings(secret_key=b"a test secret key of 32 bytes!!!", media_dir=media_dir, **settings),
        DashboardServices(store=store, users=users, health=health, metrics=metrics, scores=scores,
                          rule_thresholds=rule_thresholds or {}, cameras=cameras,
                          recordings=None if recordings_dir is None else RecordingIndex(store.engine, recordings_dir),
                          recorder_status=recorder_status),
    )
    return Site(app, store, users, media_dir)


def csrf(client: FlaskClient) -> str:
    """The CSRF token of the client's session, creating one as the login page does."""
    client.get("/login")
    with client.session_transaction() as session:
        return session["csrf"]


def login(client: FlaskClient, name: str, password: str = PASSWORD, **form: str):
    return client.post("/login", data={"name": name, "password": password, "csrf_token": csrf(client), **form})
