"""Notifications in the dashboard, over a real outbox and real webhook sinks posting to a receiver on 127.0.0.1:
the admins' sinks page and its "send test", the API mirror, where an alert went, the Cameras page's line."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from alerts import AlertStore, Severity
from alerts.notify.delivery import Sink
from alerts.notify.filters import EventFilter
from alerts.notify.notifier import Notifier
from alerts.notify.outbox import Outbox
from alerts.notify.webhook import WebhookSink
from alerts.users import UserStore
from dashboard import DashboardServices, DashboardSettings, create_app
from streamer.redaction import redact_url
from tests.dashboard_support import Site, csrf
from tests.notify_servers import HttpReceiver, Received

TOKEN = "url-token-0123456789"
SIGNING_SECRET = "signing-secret-9876543210"
HOSTILE = '<script>alert("pwned")</script>'
WAIT_S = 10.0


@pytest.fixture
def receiver() -> Iterator[HttpReceiver]:
    running = HttpReceiver()
    running.url += f"/hook?token={TOKEN}"
    yield running
    running.close()


def posted(request: Received) -> tuple[str, dict[str, str], dict[str, Any]]:
    """A webhook request as (event kind, headers, JSON body)."""
    return request.headers["X-Vigil-Event"], request.headers, json.loads(request.body)


def build(tmp_path: Path, users_db: Path, sinks: Sequence[Sink], targets: dict[str, str]) -> tuple[Site, Notifier]:
    """The dashboard on a copy of `users_db`, with a notifier (not yet started) over `sinks`."""
    database = tmp_path / "vigil.db"
    shutil.copy(users_db, database)
    store = AlertStore(database)
    users = UserStore(store.engine)
    media_dir = tmp_path / "media"
    media_dir.mkdir()
    notifier = Notifier(Outbox(store.engine), sinks, targets, first_retry_s=0.05, last_retry_s=0.2)
    app = create_app(DashboardSettings(secret_key=b"a test secret key of 32 bytes!!!", media_dir=media_dir),
                     DashboardServices(store=store, users=users, notifier=notifier))
    return Site(app, store, users, media_dir), notifier


@pytest.fixture
def notified(tmp_path: Path, users_db: Path, receiver: HttpReceiver) -> Iterator[tuple[Site, Notifier]]:
    """A dashboard whose running notifier has two webhook sinks posting to `receiver`: `hook`, sent everything,
    and `critical-only`, which skips all but critical alerts."""
    sinks = [WebhookSink("hook", receiver.url, SIGNING_SECRET, EventFilter(), timeout_s=2),
             WebhookSink("critical-only", receiver.url, SIGNING_SECRET, EventFilter(min_severity=Severity.CRITICAL),
                         timeout_s=2)]
    site, notifier = build(tmp_path, users_db, sinks, {sink.name: redact_url(receiver.url) for sink in sinks})
    notifier.start()
    yield site, notifier
    notifier.stop()
    site.store.close()


def sink_row(client, name: str) -> dict[str, Any]:
    response = client.get("/api/notifications")
    assert response.status_code == 200, response.text
    assert response.json["running"] is True
    return next(sink for sink in response.json["sinks"] if sink["name"] == name)


def test_admins_see_each_sink_with_its_target_masked(notified, receiver) -> None:
    site, _ = notified
    admin = site.client("admin")
    page = admin.get("/notifications")
    assert page.status_code == 200
    assert 'data-sink="hook"' in page.text and 'data-sink="critical-only"' in page.text
    assert "token=***" in page.text and "/hook?" in page.text
    assert TOKEN not in page.text and SIGNING_SECRET not in page.text, "nothing of the config but its masked target"
    assert "webhook" in page.text and ">OK<" in page.text and "Send test" in page.text
    assert 'href="/notifications" aria-current="page"' in page.text, "the admins' nav links the page"
    hook = sink_row(admin, "hook")
    assert hook == {"name": "hook", "kind": "webhook", "target": redact_url(receiver.url), "failing": False,
                    "last_error": None, "backlog": 0, "delivered": 0, "skipped": 0, "failed": 0,
                    "attempts_failed": 0, "last_delivered_at": None}
    assert TOKEN not in admin.get("/api/notifications").text
    assert "Notifications</a>:" in admin.get("/cameras").text


@pytest.mark.parametrize("role", ["viewer", "operator"])
def test_only_admins_see_or_test_the_sinks(notified, role) -> None:
    site, notifier = notified
    client = site.client(role)
    token = csrf(client)
    assert client.get("/notifications").status_code == 403
    assert client.post("/notifications/hook/test", data={"csrf_token": token}).status_code == 403
    assert client.get("/api/notifications").status_code == 403
    assert client.post("/api/notifications/hook/test", headers={"X-CSRF-Token": token}).status_code == 403
    assert "/notifications" not in client.get("/alerts").text, "no nav link"
    cameras = client.get("/cameras").text
    assert "Notifications:" in cameras and 'href="/notifications"' not in cameras
    assert notifier.outbox.backlog("hook") == 0 and not any(notifier.outbox.counts("hook").values())


def test_send_test_reaches_the_receiver_and_needs_the_csrf_token(notified, receiver) -> None:
    site, notifier = notified
    admin = site.client("admin")
    assert admin.post("/notifications/hook/test").status_code == 400
    assert admin.post("/api/notifications/hook/test").status_code == 400
    assert notifier.outbox.backlog("hook") == 0, "refused without the token: nothing queued"
    sent = admin.post("/notifications/hook/test", data={"csrf_token": csrf(admin)})
    assert sent.status_code == 303 and sent.location.endswith("/notifications")
    assert "Test message queued for hook" in admin.get("/notifications").text
    [(kind, headers, body)] = map(posted, receiver.wait_for(1))
    assert kind == "test" and body["test"] == {"sink": "hook", "requested_by": "admin"}
    assert headers["X-Vigil-Signature"]
    api = admin.post("/api/notifications/hook/test", headers={"X-CSRF-Token": csrf(admin)})
    assert api.status_code == 202 and api.json == {"queued": True, "sink": "hook"}
    assert posted(receiver.wait_for(2)[1])[0] == "test"
    assert notifier.drain(WAIT_S, failing_too=True)
    assert sink_row(admin, "hook")["delivered"] == 2
    assert sink_row(admin, "critical-only")["delivered"] == 0, "a test goes to its one sink only"
    assert admin.post("/notifications/nope/test", data={"csrf_token": csrf(admin)}).status_code == 404
    missing = admin.post("/api/notifications/nope/test", headers={"X-CSRF-Token": csrf(admin)})
    assert missing.status_code == 404 and "nope" in missing.json["error"]


def test_the_alert_page_lists_where_the_alert_went(notified, receiver) -> None:
    site, notifier = notified
    alert_id = site.alert()
    notifier.wake()
    assert notifier.drain(WAIT_S, failing_too=True)
    [(kind, _, body)] = map(posted, receiver.wait_for(1))
    assert kind == "alert.started" and body["alert"]["id"] == alert_id
    viewer = site.client("viewer")
    page = viewer.get(f"/alerts/{alert_id}").text
    assert "Delivered to" in page and "Not sent to any notification sink yet." not in page
    assert 'data-delivery="hook"' in page and "alert.started" in page and ">delivered<" in page
    assert "skipped: severity info is below critical" in page
    deliveries = viewer.get(f"/api/alerts/{alert_id}").json["deliveries"]
    assert [{k: v for k, v in d.items() if k != "at"} for d in deliveries] == [
        {"sink": "critical-only", "event": "alert.started", "outcome": "skipped", "attempts": 0,
         "detail": "severity info is below critical"},
        {"sink": "hook", "event": "alert.started", "outcome": "delivered", "attempts": 1, "detail": ""},
    ]
    assert all(d["at"].endswith("Z") for d in deliveries)


def test_a_failing_sink_shows_its_escaped_error_and_backlog_then_recovers(notified, receiver) -> None:
    site, notifier = notified
    receiver.answer = 503, HOSTILE
    site.alert()
    notifier.wake()
    receiver.wait_for(2)  # retried: the first attempt's failure is noted
    admin = site.client("admin")
    for page in (admin.get("/notifications").text, admin.get("/cameras").text):
        assert "failing" in page and "HTTP 503 &lt;script&gt;alert(&#34;pwned&#34;)&lt;/script&gt;" in page
        assert "<script>alert" not in page
    assert "hook failing (ConnectionError: HTTP 503 &lt;script&gt;" in admin.get("/cameras").text
    hook = sink_row(admin, "hook")
    assert hook["failing"] and HOSTILE in hook["last_error"] and hook["backlog"] == 1 and hook["attempts_failed"] >= 1
    receiver.answer = None
    assert notifier.drain(WAIT_S, failing_too=True)
    hook = sink_row(admin, "hook")
    assert not hook["failing"] and hook["last_error"] is None and hook["delivered"] == 1 and hook["backlog"] == 0
    assert hook["last_delivered_at"].endswith("Z")
    assert ">OK<" in admin.get("/notifications").text


def test_an_event_refused_for_good_shows_its_escaped_reason_on_the_alert_page(notified, receiver) -> None:
    site, notifier = notified
    receiver.answer = 400, HOSTILE
    alert_id = site.alert()
    notifier.wake()
    assert notifier.drain(WAIT_S, failing_too=True)
    page = site.client("viewer").get(f"/alerts/{alert_id}").text
    assert "failed: HTTP 400 &lt;script&gt;alert(&#34;pwned&#34;)&lt;/script&gt;" in page
    assert "<script>alert" not in page
    assert sink_row(site.client("admin"), "hook")["failed"] == 1


def test_without_a_running_pipeline(site) -> None:
    alert_id = site.alert()
    admin = site.client("admin")
    page = admin.get("/notifications")
    assert page.status_code == 200 and "The pipeline is not running" in page.text
    assert admin.get("/api/notifications").json == {"running": False, "sinks": []}
    assert admin.post("/notifications/hook/test", data={"csrf_token": csrf(admin)}).status_code == 404
    assert "Not sent to any notification sink yet." in admin.get(f"/alerts/{alert_id}").text
    assert admin.get(f"/api/alerts/{alert_id}").json["deliveries"] == []
    assert "Notifications:" not in admin.get("/cameras").text


def test_with_no_sink_configured(tmp_path, users_db) -> None:
    site, _ = build(tmp_path, users_db, [], {})
    admin = site.client("admin")
    page = admin.get("/notifications").text
    assert "No notification sink is configured" in page and "Notifications section of the README" in page
    assert admin.get("/api/notifications").json == {"running": True, "sinks": []}
    assert "Notifications:" not in admin.get("/cameras").text
    site.store.close()
