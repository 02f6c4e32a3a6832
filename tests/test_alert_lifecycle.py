"""An alert's life in the store: status changes with an audit trail, forced closes, retention, migration."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine
from sqlalchemy.exc import IntegrityError

import alerts
from alerts import Alert, AlertStatus, AlertStore, Severity
from alerts.store import AlertNotFound, InvalidTransition

NEW, ACKNOWLEDGED, RESOLVED, FALSE_POSITIVE = (
    AlertStatus.NEW,
    AlertStatus.ACKNOWLEDGED,
    AlertStatus.RESOLVED,
    AlertStatus.FALSE_POSITIVE,
)
T0 = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)


def alert(camera: str = "lobby", started_at: datetime = T0, **fields) -> Alert:
    return Alert(
        camera=camera,
        rule="person-seen",
        kind="presence",
        label="person",
        track_id=4,
        score=0.81,
        severity=Severity.WARNING,
        started_at=started_at,
        box=(10.0, 20.0, 50.0, 120.0),
        **fields,
    )


@pytest.fixture
def store(tmp_path) -> Iterator[AlertStore]:
    store = AlertStore(tmp_path / "vigil.db")
    yield store
    store.close()


def with_status(store: AlertStore, status: AlertStatus, **fields) -> int:
    alert_id = store.insert(alert(**fields))
    path = {NEW: [], ACKNOWLEDGED: [ACKNOWLEDGED], RESOLVED: [RESOLVED], FALSE_POSITIVE: [FALSE_POSITIVE]}[status]
    for step in path:
        store.set_status(alert_id, step, "setup")
    return alert_id


@pytest.mark.parametrize(
    ("start", "target"),
    [
        (NEW, ACKNOWLEDGED),
        (NEW, RESOLVED),
        (ACKNOWLEDGED, RESOLVED),
        (NEW, FALSE_POSITIVE),
        (ACKNOWLEDGED, FALSE_POSITIVE),
        (RESOLVED, FALSE_POSITIVE),
    ],
)
def test_allowed_transitions_change_the_status_and_write_one_action(store, start, target) -> None:
    alert_id = with_status(store, start)
    before = len(store.actions(alert_id))
    store.set_status(alert_id, target, "ana", "checked the feed")
    assert store.get(alert_id).status == target
    actions = store.actions(alert_id)
    assert len(actions) == before + 1
    assert (actions[-1].actor, actions[-1].action, actions[-1].note) == ("ana", str(target), "checked the feed")


@pytest.mark.parametrize(
    ("start", "target"),
    [
        (ACKNOWLEDGED, NEW),
        (RESOLVED, NEW),
        (RESOLVED, ACKNOWLEDGED),
        (FALSE_POSITIVE, NEW),
        (FALSE_POSITIVE, ACKNOWLEDGED),
        (FALSE_POSITIVE, RESOLVED),
    ],
)
def test_refused_transitions_name_the_alert_and_both_statuses_and_change_nothing(store, start, target) -> None:
    alert_id = with_status(store, start)
    before = store.actions(alert_id)
    with pytest.raises(InvalidTransition, match=f"alert {alert_id}: cannot go from {start} to {target}"):
        store.set_status(alert_id, target, "ana")
    assert store.get(alert_id).status == start
    assert store.actions(alert_id) == before


@pytest.mark.parametrize("status", list(AlertStatus))
def test_setting_the_current_status_again_records_nothing(store, status) -> None:
    alert_id = with_status(store, status)
    before = store.actions(alert_id)
    store.set_status(alert_id, status, "ana", "again")
    assert store.get(alert_id).status == status
    assert store.actions(alert_id) == before


def test_status_and_its_action_share_one_transaction(store) -> None:
    alert_id = store.insert(alert())
    with pytest.raises(IntegrityError):
        store.set_status(alert_id, ACKNOWLEDGED, None)  # type: ignore[arg-type]  # actor is NOT NULL
    assert store.get(alert_id).status == NEW, "the status change was rolled back with the failed action"
    assert store.actions(alert_id) == []


def test_unknown_alerts_are_reported(store) -> None:
    for call in (
        lambda: store.set_status(7, ACKNOWLEDGED, "ana"),
        lambda: store.add_note(7, "ana", "hello"),
        lambda: store.actions(7),
    ):
        with pytest.raises(AlertNotFound, match="no alert with id 7"):
            call()


def test_audit_trail_records_actor_time_and_note_oldest_first(store) -> None:
    alert_id = store.insert(alert())
    other_id = store.insert(alert(camera="gate"))
    before = datetime.now(UTC)
    store.set_status(alert_id, ACKNOWLEDGED, "ana")
    store.add_note(alert_id, "bo", "guard sent, line 1\nline 2")
    store.set_status(alert_id, RESOLVED, "bo", "visitor left")
    store.add_note(other_id, "ana", "not this one")
    after = datetime.now(UTC)
    actions = store.actions(alert_id)
    assert [(a.alert_id, a.actor, a.action, a.note) for a in actions] == [
        (alert_id, "ana", "acknowledged", None),
        (alert_id, "bo", "note", "guard sent, line 1\nline 2"),
        (alert_id, "bo", "resolved", "visitor left"),
    ]
    assert all(a.at.tzinfo is UTC for a in actions)
    assert before <= actions[0].at <= actions[1].at <= actions[2].at <= after
    with pytest.raises(ValueError, match="empty note"):
        store.add_note(alert_id, "ana", "  ")


def test_close_open_ends_only_open_alerts_and_notes_why(store) -> None:
    finished_at = T0 + timedelta(minutes=1)
    finished = store.insert(alert())
    store.end(finished, finished_at)
    open_ids = {store.insert(alert()), store.insert(alert(camera="gate"))}
    restart = T0 + timedelta(hours=2)
    assert store.close_open(restart, "vigil restarted after a crash") == 2
    for alert_id in open_ids:
        assert store.get(alert_id).ended_at == restart
        [closed] = store.actions(alert_id)
        assert (closed.actor, closed.action, closed.note) == ("system", "closed", "vigil restarted after a crash")
    assert store.get(finished).ended_at == finished_at
    assert store.actions(finished) == []
    assert store.close_open(restart, "again", actor="ops") == 0


def test_delete_before_returns_old_finished_alerts_and_drops_their_actions(store, tmp_path) -> None:
    cutoff = T0 + timedelta(days=30)
    old_resolved = with_status(store, RESOLVED, snapshot_path="/m/a.jpg", clip_path="/m/a.mp4")
    old_false = with_status(store, FALSE_POSITIVE, snapshot_path="/m/b.jpg")
    old_open = with_status(store, ACKNOWLEDGED)
    recent = with_status(store, RESOLVED, started_at=cutoff)
    store.add_note(old_resolved, "ana", "kept until retention")
    deleted = store.delete_before(cutoff)
    assert {a.id for a in deleted} == {old_resolved, old_false}
    by_id = {a.id: a for a in deleted}
    assert (by_id[old_resolved].snapshot_path, by_id[old_resolved].clip_path) == ("/m/a.jpg", "/m/a.mp4")
    assert by_id[old_false].status == FALSE_POSITIVE
    assert {a.id for a in store.list_alerts(limit=None)} == {old_open, recent}
    with sqlite3.connect(tmp_path / "vigil.db") as db:
        orphans = db.execute(
            "SELECT count(*) FROM alert_actions WHERE alert_id IN (?, ?)", (old_resolved, old_false)
        ).fetchone()
        assert orphans == (0,)
        assert db.execute("SELECT count(*) FROM alert_actions").fetchone() == (2,), "old_open's and recent's"
    assert [a.id for a in store.delete_before(cutoff, statuses=(ACKNOWLEDGED,))] == [old_open]


def test_filter_values_are_data_not_sql(store) -> None:
    store.insert(alert())
    store.insert(alert(camera="lobby' OR '1'='1"))
    injected = "lobby' OR '1'='1"
    assert [a.camera for a in store.list_alerts(camera=injected)] == [injected]
    assert store.list_alerts(camera="nowhere' OR '1'='1") == []
    assert store.list_alerts(rule="x' OR 1=1 --") == []
    assert len(store.list_alerts()) == 2


def test_database_stays_consistent_after_a_busy_life(store, tmp_path) -> None:
    ids = [store.insert(alert(started_at=T0 + timedelta(minutes=i))) for i in range(5)]
    store.set_status(ids[0], RESOLVED, "ana")
    store.set_status(ids[1], FALSE_POSITIVE, "ana", "shadow")
    store.add_note(ids[2], "bo", "watching")
    store.close_open(T0 + timedelta(hours=1), "shutdown")
    store.delete_before(T0 + timedelta(days=1))
    with sqlite3.connect(tmp_path / "vigil.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert db.execute("PRAGMA foreign_key_check").fetchall() == []
        assert db.execute("SELECT count(*) FROM alerts").fetchone() == (3,)


def test_a_0001_database_keeps_its_rows_through_the_upgrade(tmp_path) -> None:
    path = tmp_path / "old.db"
    config = Config()
    config.set_main_option("script_location", str(Path(alerts.__file__).parent / "migrations"))
    engine = create_engine(f"sqlite:///{path}")
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0001")
    engine.dispose()
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT version_num FROM alembic_version").fetchall() == [("0001",)]
        db.execute(
            "INSERT INTO alerts (camera, rule, kind, label, track_id, score, severity, started_at, ended_at, status,"
            " snapshot_path, box) VALUES ('lobby', 'person-seen', 'presence', 'person', 4, 0.81, 'info',"
            " '2026-11-28 09:30:00.000000', NULL, 'acknowledged', '/m/old.jpg', '10.0,20.0,50.0,120.0')"
        )
    store = AlertStore(path)
    [old] = store.list_alerts()
    assert (old.camera, old.status, old.snapshot_path, old.box) == (
        "lobby",
        ACKNOWLEDGED,
        "/m/old.jpg",
        (10.0, 20.0, 50.0, 120.0),
    )
    assert old.started_at == datetime(2026, 11, 28, 9, 30, tzinfo=UTC)
    assert (old.details, old.zone, old.line, old.count, old.clip_path) == ({}, None, None, None, None)
    store.set_status(old.id, RESOLVED, "ana", "after the upgrade")
    assert [a.action for a in store.actions(old.id)] == ["resolved"]
    store.close()
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT version_num FROM alembic_version").fetchall() == [("0009",)]
