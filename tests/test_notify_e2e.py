"""`vigil run` on the sample video with every kind of sink, killed with SIGKILL while a webhook is down, restarted:
every alert in the database reaches MQTT, the webhook and the phone, once per idempotency key."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import threading
from collections import defaultdict
from pathlib import Path

import pytest

from alerts.notify.signature import HEADER, verify
from tests.notify_servers import HttpReceiver, Mosquitto, Subscriber
from tests.test_end_to_end import demo_config, vigil_command

pytestmark = pytest.mark.slow

SECRET = "e2e-webhook-secret-0123456789"


def stored(database: Path) -> tuple[list[tuple[int, str]], list[str]]:
    """The alerts (id, key), and the keys of the outbox's events in their order."""
    with sqlite3.connect(database) as db:
        alerts = db.execute("SELECT id, alert_key FROM alerts ORDER BY id").fetchall()
        events = [key for (key,) in db.execute("SELECT key FROM outbox ORDER BY id")]
    return alerts, events


def test_a_kill_mid_delivery_loses_nothing_and_sends_nothing_twice(sample_video, write_config, tmp_path) -> None:
    broker = Mosquitto(tmp_path).start()
    hook = HttpReceiver(fail_first=10**6)
    phone = HttpReceiver()
    config = demo_config(sample_video, tmp_path)
    config["cameras"]["lobby"]["loop"] = False
    config["notify"] = {
        "mqtt": {"url": broker.url, "topic_prefix": "vigil"},
        "webhooks": [{"url": f"{hook.url}/hook", "secret": "${HOOK_SECRET}", "events": ["alert.started",
                                                                                         "alert.ended"]}],
        "apprise": [{"url": f"json://127.0.0.1:{phone.url.rsplit(':', 1)[1]}/phone", "name": "phone"}],
        "dashboard_url": "https://vigil.example",
    }
    path = write_config(config)
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "HOOK_SECRET": SECRET}
    watcher = Subscriber(broker.port, ("vigil/events",))
    try:
        first = subprocess.Popen(vigil_command(path), stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
                                 env=env)
        log: list[str] = []
        threading.Thread(target=lambda: log.extend(first.stderr), daemon=True).start()
        watcher.wait_for(lambda messages: sum(json.loads(m.payload)["event"] == "alert.started"
                                              for m in messages) >= 2, timeout_s=120)
        first.send_signal(signal.SIGKILL)
        first.wait(30)
        refused = len(hook.answered)
        assert refused and all(status == 503 for status, _ in hook.answered), "the webhook was down before the kill"
        assert "Traceback" not in "".join(log)
        hook.fail_first = 0
        second = subprocess.run(vigil_command(path, "--duration", "8"), capture_output=True, text=True, timeout=180,
                                env=env)
        assert second.returncode == 0, second.stderr[-3000:]
        assert "Traceback" not in second.stderr
    finally:
        broker.kill()
        hook.close()
        phone.close()
    alerts, outbox = stored(tmp_path / "vigil.db")
    assert len(alerts) >= 2
    started = [f"{key}.started" for _, key in alerts]

    by_key: dict[str, list[bytes]] = defaultdict(list)
    for message in watcher.messages:
        by_key[json.loads(message.payload)["id"]].append(message.payload)
    assert set(started) <= set(by_key), "every alert in the database reached MQTT"
    assert all(len(set(copies)) == 1 for copies in by_key.values()), "a message sent twice is the same message"

    delivered = [request for status, request in hook.answered if status == 200]
    for request in delivered:
        verify(SECRET, request.headers[HEADER], request.body)
    keys = [json.loads(request.body)["id"] for request in delivered]
    assert len(keys) == len(set(keys)), "the restarted run sent each webhook event once"
    expected = [key for key in outbox if key.endswith((".started", ".ended"))]
    assert keys == expected, "every alert started and ended, in the outbox's order"
    assert all(f"{key}.ended" in keys for _, key in alerts), "alerts the kill left open were closed, and told of"

    messages = [json.loads(request.body) for _, request in phone.answered]
    assert len(messages) == len(alerts), "one message per alert on the phone"
    assert all(f"https://vigil.example/alerts/{alert_id}" in message["message"]
               for (alert_id, _), message in zip(alerts, messages, strict=True))
    assert all(message["attachments"] for message in messages), "each with its snapshot"
