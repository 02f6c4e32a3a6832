"""Notifications with real receivers: a Mosquitto broker, an HTTP server, Apprise's json:// to a local server."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import sqlite3
import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.parser import BytesParser
from email.policy import HTTP
from pathlib import Path

import pytest
from sqlalchemy.exc import StatementError

from alerts.alert import Alert, AlertEnded, AlertStarted, AlertStatus, Severity
from alerts.arming import RuleArming
from alerts.engine import AlertEngine
from alerts.notify.apprise_sink import AppriseSink
from alerts.notify.commands import CommandHandler
from alerts.notify.discovery import SiteEntities
from alerts.notify.filters import EventFilter, Throttle
from alerts.notify.mqtt import CameraLive, MqttSettings, MqttSink
from alerts.notify.notifier import Notifier
from alerts.notify.outbox import Outbox
from alerts.notify.signature import HEADER, InvalidSignature, verify
from alerts.notify.webhook import WebhookSink
from alerts.presence import PresenceRule
from alerts.rule_base import RuleSettings
from alerts.schedule import WEEKDAYS, Schedule
from alerts.site_shapes import SiteShapes
from alerts.store import AlertStore
from tests.notify_servers import HttpReceiver, Mosquitto, Subscriber, TcpGate
from tests.rtsp import free_port
from vigil.config import load_config
from vigil.notifications import build_notifier
from tests.test_rules import box_at, frame, objects

SECRET = "a-webhook-secret-of-32-characters"


@pytest.fixture
def store(tmp_path: Path):
    store = AlertStore(tmp_path / "vigil.db")
    yield store
    store.close()


def new_alert(n: int, camera: str = "lobby", rule: str = "seen", snapshot: Path | None = None,
              severity: Severity = Severity.WARNING) -> Alert:
    return Alert(camera, rule, "presence", "person", n, 0.5 + n / 100, severity,
                 datetime(2026, 12, 1, 12, 0, tzinfo=UTC) + timedelta(seconds=n), (1, 2, 30, 40),
                 snapshot_path=None if snapshot is None else str(snapshot))


def running(outbox: Outbox, *sinks, targets=None) -> Notifier:
    notifier = Notifier(outbox, list(sinks), targets or {}, first_retry_s=0.05, last_retry_s=0.3)
    notifier.start()
    return notifier


def outbox_rows(store: AlertStore) -> list[tuple[str, str]]:
    with store.engine.connect() as connection:
        return [tuple(row) for row in connection.exec_driver_sql("SELECT kind, key FROM outbox ORDER BY id")]


def test_every_change_writes_its_event_in_its_own_transaction_and_replays_add_nothing(database) -> None:
    store = AlertStore(database)
    alert = new_alert(1)
    alert_id = store.insert(alert)
    store.insert(alert)  # the journal replays a write
    store.update_best(alert_id, 0.9, (1, 2, 3, 4), None, {"peak": 2})
    store.update_best(alert_id, 0.9, (1, 2, 3, 4), None, {"peak": 2})
    store.end(alert_id, datetime.now(UTC))
    store.end(alert_id, datetime.now(UTC))
    store.set_status(alert_id, AlertStatus.ACKNOWLEDGED, "ana", "on it")
    with pytest.raises(StatementError, match="not storable as JSON"):
        store.insert(replace(new_alert(2), details={"bad": float("nan")}))
    rows = outbox_rows(store)
    assert rows[:3] == [("alert.started", f"{alert.key}.started"), ("alert.updated", f"{alert.key}.updated.0.900000"),
                        ("alert.ended", f"{alert.key}.ended")]
    assert [kind for kind, _ in rows[3:]] == ["alert.status"], "the failed insert left no event behind"
    with store.engine.connect() as connection:
        payload = json.loads(connection.exec_driver_sql(
            "SELECT payload FROM outbox WHERE kind = 'alert.status'").scalar_one())
    store.close()
    assert payload["change"] == {"status": "acknowledged", "by": "ana", "note": "on it"}
    assert payload["alert"]["status"] == "acknowledged" and payload["alert"]["id"] == alert_id


def test_on_postgresql_events_commit_in_id_order_so_no_cursor_passes_one(postgres) -> None:
    """Two writers: the second's event waits for the first's transaction, so a sink never sees id 2 before id 1."""
    from sqlalchemy.orm import Session

    from alerts.notify.events import add_test_event

    store = AlertStore(postgres.database())
    outbox = Outbox(store.engine)
    outbox.register({"hook": "webhook"})
    first = Session(store.engine)
    first.begin()
    add_test_event(first, "hook", "first")
    first.flush()  # id 1 is taken, not committed
    second = threading.Thread(target=outbox.add_test, args=("hook", "second"))
    second.start()
    with store.engine.connect() as watcher:
        waiting = "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
        deadline = datetime.now(UTC) + timedelta(seconds=20)
        while not watcher.exec_driver_sql(waiting).scalar_one():
            assert datetime.now(UTC) < deadline, "the second writer never queued behind the first"
            watcher.rollback()
    assert outbox.pending("hook") == [], "nothing is visible while the first transaction is open"
    first.commit()
    first.close()
    second.join()
    assert [event.payload["test"]["requested_by"] for event in outbox.pending("hook")] == ["first", "second"]
    store.close()


def test_webhooks_survive_503s_in_order_signed_with_the_snapshot(store, tmp_path) -> None:
    receiver = HttpReceiver(fail_first=3)
    snapshot = tmp_path / "snap.jpg"
    snapshot.write_bytes(b"\xff\xd8 a jpeg \xff\xd9")
    hook = WebhookSink("hook", f"{receiver.url}/vigil", SECRET, EventFilter(), snapshot=True,
                       dashboard_url="https://vigil.example")
    notifier = running(Outbox(store.engine), hook)
    try:
        ids = [store.insert(new_alert(n, snapshot=snapshot)) for n in range(4)]
        store.set_status(ids[0], AlertStatus.RESOLVED, "ana", "checked")
        received = receiver.take(5)
        assert notifier.drain(10, failing_too=True)
    finally:
        notifier.stop()
        receiver.close()
    assert [status for status, _ in receiver.answered[:3]] == [503, 503, 503], "the receiver was down at first"
    events = []
    for request in received:
        parts = BytesParser(policy=HTTP).parsebytes(
            f"Content-Type: {request.headers['Content-Type']}\r\n\r\n".encode() + request.body)
        if parts.is_multipart():
            fields = {part.get_param("name", header="content-disposition"): part.get_content()
                      for part in parts.iter_parts()}
            body, image = fields["event"], fields["snapshot"]
            body = body if isinstance(body, bytes) else body.encode()
            event = json.loads(body)
            assert event["snapshot"]["sha256"] == hashlib.sha256(image).hexdigest() == hashlib.sha256(
                snapshot.read_bytes()).hexdigest()
        else:
            body = request.body
            event = json.loads(body)
        verify(SECRET, request.headers[HEADER], body)
        with pytest.raises(InvalidSignature):
            verify(SECRET, request.headers[HEADER], body.replace(b'"lobby"', b'"yard"'))
        with pytest.raises(InvalidSignature, match="replay window"):
            verify(SECRET, request.headers[HEADER], body, now=datetime.now(UTC).timestamp() + 400)
        assert request.headers["Idempotency-Key"] == event["id"]
        events.append(event)
    assert [(e["event"], e["alert"]["id"]) for e in events] == [
        *(("alert.started", i) for i in ids), ("alert.status", ids[0])], "all of them, in order"
    assert events[0]["alert"]["url"] == f"https://vigil.example/alerts/{ids[0]}"
    assert events[-1]["change"] == {"status": "resolved", "by": "ana", "note": "checked"}
    deliveries = Outbox(store.engine).deliveries_of_alert(ids[0])
    assert [(d.sink, d.event, str(d.outcome)) for d in deliveries] == [
        ("hook", "alert.started", "delivered"), ("hook", "alert.status", "delivered")]
    assert deliveries[0].attempts == 4, "three 503s, then delivered"


def test_apprise_json_to_a_local_server_holds_the_rate_limit_and_quiet_hours(store, tmp_path) -> None:
    receiver = HttpReceiver()
    snapshot = tmp_path / "snap.jpg"
    snapshot.write_bytes(b"\xff\xd8 a jpeg \xff\xd9")
    now = datetime.now(UTC)
    around_now = Schedule.parse(list(WEEKDAYS), f"{(now - timedelta(hours=2)):%H:%M}",
                                f"{(now + timedelta(hours=2)):%H:%M}", "UTC")
    phone = AppriseSink("phone", f"json://127.0.0.1:{receiver.url.rsplit(':', 1)[1]}/phone", EventFilter(),
                        Throttle(per_min=2), dashboard_url="https://vigil.example")
    asleep = AppriseSink("asleep", f"json://127.0.0.1:{receiver.url.rsplit(':', 1)[1]}/asleep", EventFilter(),
                         Throttle(quiet=around_now))
    notifier = running(Outbox(store.engine), phone, asleep)
    try:
        flapping = [store.insert(new_alert(n, rule="door", snapshot=snapshot)) for n in range(5)]
        other = store.insert(new_alert(9, rule="fence", severity=Severity.CRITICAL))
        assert notifier.drain(20, failing_too=True)
        states = {state.name: state for state in notifier.states()}
    finally:
        notifier.stop()
        receiver.close()
    messages = []
    while not receiver.requests.empty():
        request = receiver.requests.get()
        assert request.path == "/phone", "nothing is sent in quiet hours"
        messages.append(json.loads(request.body))
    assert [m["title"] for m in messages] == ["Vigil: door on lobby (warning)"] * 2 + [
        "Vigil: fence on lobby (critical)"], "two a minute for the flapping rule; the other rule has its own limit"
    assert f"https://vigil.example/alerts/{flapping[0]}" in messages[0]["message"]
    assert base64.b64decode(messages[0]["attachments"][0]["base64"]) == snapshot.read_bytes()
    assert (states["phone"].delivered, states["phone"].skipped) == (3, 3)
    assert (states["asleep"].delivered, states["asleep"].skipped) == (0, 6)
    assert [d.detail for d in Outbox(store.engine).deliveries_of_alert(flapping[4]) if d.sink == "phone"] == [
        "rate limit: 2 a minute for rule door"]
    assert other


def test_a_refused_event_is_failed_for_good_and_a_webhook_url_token_never_shows(store) -> None:
    receiver = HttpReceiver(answers=(400,))
    hook = WebhookSink("hook", f"{receiver.url}/vigil", SECRET, EventFilter())
    token = "T0KEN-in-the-path-0123456789"
    gone = WebhookSink("gone", f"http://127.0.0.1:{free_port()}/services/{token}", SECRET, EventFilter())
    notifier = running(Outbox(store.engine), hook, gone)
    try:
        refused, taken = store.insert(new_alert(1)), store.insert(new_alert(2))
        [request] = receiver.take(1)
        assert not notifier.drain(10), "it returns once only the dead sink has a backlog, and says so"
        states = {state.name: state for state in notifier.states()}
    finally:
        notifier.stop()
        receiver.close()
    assert json.loads(request.body)["alert"]["id"] == taken, "the refused event did not hold the next one back"
    [failed] = Outbox(store.engine).deliveries_of_alert(refused)[:1]
    assert (failed.sink, str(failed.outcome), failed.detail) == ("hook", "failed", "HTTP 400 Bad Request")
    assert (states["hook"].delivered, states["hook"].failed, states["hook"].backlog) == (1, 1, 0)
    assert states["gone"].failing and states["gone"].backlog == 2
    assert states["gone"].last_error.startswith("ConnectionError: ConnectionError posting to http://127.0.0.1:")
    assert token not in states["gone"].last_error


SITE = SiteEntities(("lobby", "yard"), (("lobby", "seen"), ("yard", "seen")), (("lobby", "hall"),))


def mqtt_sink(port: int, store: AlertStore, arming: RuleArming, commands: CommandHandler | None = None) -> MqttSink:
    live = {"lobby": CameraLive("online", 10.0, 5.0, {"hall": 2}), "yard": CameraLive("offline", 0.0, 0.0)}
    return MqttSink("mqtt", MqttSettings("127.0.0.1", port, state_interval_s=0.2, publish_timeout_s=2),
                    EventFilter(), SITE, live=lambda: live, arming=arming, commands=commands)


def test_mqtt_delivers_every_alert_in_order_across_a_broker_kill_and_discovery_is_retained(store, tmp_path) -> None:
    snapshot = tmp_path / "snap.jpg"
    snapshot.write_bytes(b"\xff\xd8 a jpeg \xff\xd9")
    broker = Mosquitto(tmp_path).start()
    gate = TcpGate(broker.port)
    arming = RuleArming(store.engine)
    notifier = running(Outbox(store.engine), mqtt_sink(gate.port, store, arming))
    watcher = Subscriber(broker.port, ("vigil/#",))
    try:
        before = [store.insert(new_alert(n, snapshot=snapshot)) for n in range(3)]
        watcher.wait_for(lambda messages: sum(m.topic == "vigil/events" for m in messages) >= 3)
        broker.kill()
        gate.close()
        during = [store.insert(new_alert(n)) for n in range(3, 8)]
        broker.start()
        watcher.close()
        seen_before_kill = watcher.events()
        watcher = Subscriber(broker.port, ("vigil/#",))
        gate.open()
        watcher.wait_for(lambda messages: len({json.loads(m.payload)["id"] for m in messages
                                               if m.topic == "vigil/events"}) >= 5)
        assert notifier.drain(20, failing_too=True)
        store.end(before[0], datetime.now(UTC))  # seven alerts of the rule are still open on lobby
        assert notifier.drain(20, failing_too=True)
        late = Subscriber(broker.port, ("homeassistant/#", "vigil/availability", "vigil/lobby/#"))
        late.wait_for(lambda messages: any(m.retain and m.topic == "vigil/lobby/zones/hall/count" for m in messages))
    finally:
        notifier.stop()
        broker.kill()
    keys = [store.get(i).key for i in before + during]
    first_seen = list(dict.fromkeys(e["id"] for e in seen_before_kill + watcher.events()
                                    if e["event"] == "alert.started"))
    assert first_seen == [f"{key}.started" for key in keys], "every alert, those stored during the outage too, in order"
    retained = {m.topic: m.payload for m in late.messages if m.retain}  # what a subscriber that comes later gets
    config = json.loads(retained["homeassistant/binary_sensor/vigil_lobby/rule_seen/config"])
    assert config["state_topic"] == "vigil/lobby/seen/state" and config["availability_topic"] == "vigil/availability"
    assert json.loads(retained["homeassistant/sensor/vigil_lobby/zone_hall/config"])["state_topic"] == (
        "vigil/lobby/zones/hall/count")
    assert json.loads(retained["homeassistant/image/vigil_lobby/last_alert/config"])["image_topic"] == (
        "vigil/lobby/snapshot")
    assert retained["vigil/availability"] == b"online"
    assert retained["vigil/lobby/seen/state"] == b"ON", "an alert ended, the others of the rule still run"
    assert retained["vigil/lobby/zones/hall/count"] == b"2"
    assert json.loads(retained["vigil/lobby/state"])["fps_in"] == 10.0


class LogWaiter(logging.Handler):
    """Sets an event when a record holding `text` is logged, from whatever thread."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text
        self.seen = threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if self.text in record.getMessage():
            self.seen.set()


def waiting_for(text: str) -> LogWaiter:
    waiter = LogWaiter(text)
    logging.getLogger().addHandler(waiter)
    return waiter


def started_on(events) -> list[str]:
    return [e.alert.camera for e in events if isinstance(e, AlertStarted)]


def test_mqtt_commands_disarm_a_rule_acknowledge_an_alert_and_ignore_topics_outside_the_acl(store, tmp_path,
                                                                                          caplog) -> None:
    caplog.set_level(logging.INFO)
    broker = Mosquitto(tmp_path).start()
    arming = RuleArming(store.engine)
    commands = CommandHandler("vigil", ["vigil/lobby/+/armed/set", "vigil/alerts/+/acknowledge"], arming, store,
                              SITE.rules)
    refused = waiting_for("MQTT command on vigil/yard/seen/armed/set ignored: not allowed by notify.mqtt.command_acl")
    disarmed = waiting_for("mqtt: disarm rule lobby/seen")
    acknowledged = waiting_for("mqtt: acknowledge alert")
    notifier = running(Outbox(store.engine), mqtt_sink(broker.port, store, arming, commands))
    engine = AlertEngine([PresenceRule(RuleSettings("seen", ["person"], cooldown_s=0), min_duration_s=0.2)],
                         SiteShapes(), arming)

    def see(track: int, times: tuple[float, ...]) -> list:
        person = objects((track, "person", 0.9, box_at(50, 50)))
        return [e for t in times for camera in ("lobby", "yard") for e in engine.process(frame(t, camera), person)]

    try:
        commander = Subscriber(broker.port, ("vigil/lobby/seen/armed",))
        commander.wait_for(lambda messages: [m.payload for m in messages] == [b"ON"])
        before = see(1, (0.0, 0.2, 0.4))
        alert_id = store.insert(next(e.alert for e in before if isinstance(e, AlertStarted)))
        commander.publish("vigil/yard/seen/armed/set", "OFF")
        assert refused.seen.wait(10)
        commander.publish("vigil/lobby/seen/armed/set", "OFF")
        assert disarmed.seen.wait(10)
        commander.wait_for(lambda messages: messages[-1].payload == b"OFF")
        commander.publish(f"vigil/alerts/{alert_id}/acknowledge", json.dumps({"note": "guard sent"}))
        assert acknowledged.seen.wait(10)
        after = see(2, (0.6, 0.8, 1.0))
    finally:
        for waiter in (refused, disarmed, acknowledged):
            logging.getLogger().removeHandler(waiter)
        notifier.stop()
        broker.kill()
    assert sorted(started_on(before)) == ["lobby", "yard"]
    assert started_on(after) == ["yard"], "the disarmed rule raises nothing on lobby; yard's command was refused"
    opened_on_lobby = [e.alert.key for e in before if isinstance(e, AlertStarted) and e.alert.camera == "lobby"]
    assert [e.key for e in after if isinstance(e, AlertEnded)] == opened_on_lobby, (
        "disarming ended the rule's open alert on lobby")
    assert not RuleArming(store.engine).armed("lobby", "seen"), "kept across a restart"
    assert store.get(alert_id).status is AlertStatus.ACKNOWLEDGED
    assert [(a.actor, a.action, a.note) for a in store.actions(alert_id)] == [("mqtt", "acknowledged", "guard sent")]
    with sqlite3.connect(store.engine.url.database) as db:
        audit = db.execute("SELECT actor, action, target FROM audit_log ORDER BY id").fetchall()
    assert audit == [("mqtt", "disarm", "lobby/seen"), ("mqtt", "acknowledge", str(alert_id))]


def test_mqtt_5_over_tls_with_a_password_from_the_environment(store, tmp_path, write_config, monkeypatch,
                                                              caplog) -> None:
    broker = Mosquitto(tmp_path, users={"vigil": "broker-pass-42", "watcher": "watcher-pass"}, tls=True).start()
    monkeypatch.setenv("MQTT_PASSWORD", "broker-pass-42")
    mqtt = {"url": f"mqtts://vigil:${{MQTT_PASSWORD}}@127.0.0.1:{broker.port}", "protocol": "5",
            "tls": {"ca_file": str(broker.ca_file)}}
    config = load_config(write_config({"cameras": {"lobby": {"url": "rtsp://cam/1"}}, "notify": {"mqtt": mqtt}}))
    arming = RuleArming(store.engine)
    notifier = build_notifier(config, store, arming, SiteEntities(("lobby",), (), ()), health=dict, zone_counts=dict)
    watcher = Subscriber(broker.port, ("vigil/events",), user=("watcher", "watcher-pass"), ca_file=broker.ca_file)
    monkeypatch.setenv("MQTT_PASSWORD", "wrong-password")
    wrong = load_config(write_config({"cameras": {"lobby": {"url": "rtsp://cam/1"}}, "notify": {"mqtt": {
        **mqtt, "name": "wrong", "client_id": "vigil-wrong"}}}, name="wrong.yaml"))
    refused = build_notifier(wrong, store, arming, SiteEntities(("lobby",), (), ()), health=dict, zone_counts=dict)
    notifier.start()
    refused.start()
    try:
        alert_id = store.insert(new_alert(1))
        watcher.wait_for(lambda messages: bool(messages))
        assert notifier.drain(10) and not refused.drain(1.0)
        [state] = refused.states()
    finally:
        notifier.stop()
        refused.stop()
        broker.kill()
    assert json.loads(watcher.messages[0].payload)["alert"]["id"] == alert_id
    assert state.failing and state.backlog == 1
    assert state.last_error.endswith(f"not connected to the broker 127.0.0.1:{broker.port}: it refused the connection "
                                     "(Not authorized)")
    assert caplog.text.count(f"MQTT broker 127.0.0.1:{broker.port}: it refused the connection (Not authorized)") == 1, (
        "said once, not at every retry")
    assert state.target == f"mqtts://vigil:***@127.0.0.1:{broker.port}"
    assert "wrong-password" not in caplog.text and "broker-pass-42" not in caplog.text
