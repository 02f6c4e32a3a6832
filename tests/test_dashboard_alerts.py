"""Dashboard alert review, cameras, metrics and users: pages and API on a real database."""

from __future__ import annotations

import argparse
import re
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import pytest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.exc import IntegrityError

from alerts import AlertStatus, Severity
from alerts.users import (
    DuplicateUser,
    InvalidUserName,
    Role,
    UnknownRole,
    User,
    UserNotFound,
    UserStore,
    WeakPassword,
    ensure_admin,
)
from dashboard.chart import hourly_chart
from streamer import CameraHealth, CameraState
from tests.dashboard_support import PASSWORD, T0, build_site, csrf
from vigil.users_cli import add_user_commands

MINUTE = timedelta(minutes=1)


def ids(response) -> list[int]:
    return [a["id"] for a in response.json["alerts"]]


def listed(page: str) -> list[int]:
    """The alert ids in the rows of a list page, in order."""
    return [int(i) for i in re.findall(r'<td><a href="/alerts/(\d+)">\d+</a></td>', page)]


def test_list_filters_by_camera_rule_severity_status_and_time(site) -> None:
    a = site.alert("lobby", T0)
    b = site.alert("gate", T0 + MINUTE, rule="crowd", kind="occupancy", severity=Severity.WARNING)
    c = site.alert("gate", T0 + 2 * MINUTE, rule="person-down", severity=Severity.CRITICAL)
    site.store.set_status(c, AlertStatus.RESOLVED, "operator")
    client = site.client("viewer")
    expected = {
        (): [c, b, a],
        (("camera", "gate"),): [c, b],
        (("rule", "crowd"),): [b],
        (("severity", "critical"),): [c],
        (("status", "new"),): [b, a],
        (("since", "2026-11-28T09:01"),): [c, b],
        (("until", "2026-11-28T09:01:00Z"),): [a],
        (("since", "2026-11-28T10:00:30+01:00"), ("until", "2026-11-28T09:02")): [b],
        (("camera", "gate"), ("status", "new"), ("camera", "")): [b],
    }
    for query, wanted in expected.items():
        api = client.get("/api/alerts", query_string=list(query))
        assert ids(api) == wanted and api.json["total"] == len(wanted), query
        page = client.get("/alerts", query_string=list(query)).text
        assert listed(page) == wanted, query
        assert client.get("/api/alerts/count", query_string=list(query)).json == {"count": len(wanted)}


@pytest.mark.parametrize(
    "query, message",
    [
        ({"status": "open"}, "status: unknown value 'open'"),
        ({"severity": "high"}, "severity: unknown value 'high'"),
        ({"since": "yesterday"}, "since: 'yesterday' is not an ISO 8601 time"),
        ({"limit": "0"}, "limit: '0' is not a whole number from 1 to 500"),
        ({"limit": "501"}, "limit"),
        ({"offset": "-1"}, "offset"),
    ],
)
def test_bad_filters_are_a_400_naming_the_argument(site, query, message) -> None:
    client = site.client("viewer")
    response = client.get("/api/alerts", query_string=query)
    assert response.status_code == 400 and message in response.json["error"]
    if "limit" not in query and "offset" not in query:
        page = client.get("/alerts", query_string=query)
        assert page.status_code == 400 and message.replace("'", "&#39;") in page.text


def test_pages_and_offsets_walk_the_list_newest_first(tmp_path, users_db) -> None:
    site = build_site(tmp_path, users_db, page_size=3)
    made = [site.alert(started_at=T0 + i * MINUTE) for i in range(7)]
    site.alert("gate", T0)
    client = site.client("viewer")
    newest_first = made[::-1]
    page = client.get("/alerts", query_string={"camera": "lobby", "page": "2"}).text
    assert listed(page) == newest_first[3:6]
    assert "7 alert(s) · page 2 of 3" in page
    assert 'href="/alerts?camera=lobby&amp;page=1"' in page and 'href="/alerts?camera=lobby&amp;page=3"' in page
    last = client.get("/alerts", query_string={"camera": "lobby", "page": "3"}).text
    assert listed(last) == newest_first[6:] and 'rel="next"' not in last
    assert client.get("/alerts", query_string={"page": "0"}).status_code == 400

    api = client.get("/api/alerts", query_string={"camera": "lobby", "limit": "2", "offset": "4"})
    assert ids(api) == newest_first[4:6] and (api.json["total"], api.json["limit"], api.json["offset"]) == (7, 2, 4)
    assert len(ids(client.get("/api/alerts"))) == 3, "the page size is the default limit"
    site.store.close()


def test_detail_shows_snapshot_clip_facts_and_audit_trail(site) -> None:
    alert_id = site.alert(
        clip=True, rule="loitering", kind="dwell", zone="walkway", line="midline", count=3,
        details={"dwell_s": 8.5}, ended_at=T0 + MINUTE,
    )
    site.store.set_status(alert_id, AlertStatus.ACKNOWLEDGED, "ana", "on it")
    site.store.add_note(alert_id, "bo", "guard sent")
    page = site.client("viewer").get(f"/alerts/{alert_id}").text
    snapshot_url, clip_url = f"/media/alerts/{alert_id}/snapshot", f"/media/alerts/{alert_id}/clip"
    assert f'<img class="snapshot" src="{snapshot_url}"' in page
    assert f'<video class="clip" controls preload="metadata" src="{clip_url}">' in page
    for fact in ("walkway", "midline", "<th>count</th><td>3</td>", "<th>dwell_s</th><td>8.5</td>", "track #4",
                 "2026-11-28T09:00:00Z", "2026-11-28T09:01:00Z", "loitering (dwell)"):
        assert fact in page, fact
    cell = "<td>([^<]*)</td>"
    trail = re.findall(rf'<tr>{cell * 3}<td class="note">([^<]*)</td></tr>', page)
    assert [row[1:] for row in trail] == [("ana", "acknowledged", "on it"), ("bo", "note", "guard sent")]
    assert all(row[0].endswith("Z") for row in trail)

    api = site.client("viewer").get(f"/api/alerts/{alert_id}").json
    assert api["snapshot_url"] == snapshot_url and api["clip_url"] == clip_url and "snapshot_path" not in api
    assert api["started_at"] == "2026-11-28T09:00:00Z" and api["details"] == {"dwell_s": 8.5}
    assert [(a["actor"], a["action"], a["note"]) for a in api["actions"]] == [
        ("ana", "acknowledged", "on it"), ("bo", "note", "guard sent")
    ]
    assert site.client("viewer").get("/alerts/999").status_code == 404
    assert site.client("viewer").get("/api/alerts/999").json == {"error": "no alert with id 999"}


def test_actions_change_the_row_and_record_who_did_them(site) -> None:
    first, second = site.alert(), site.alert()
    operator, admin = site.client("operator"), site.client("admin")
    form_data = {"action": "acknowledged", "note": " checking ", "csrf_token": csrf(operator)}
    form = operator.post(f"/alerts/{first}/actions", data=form_data)
    assert form.status_code == 303 and form.headers["Location"] == f"/alerts/{first}"
    assert f"Alert {first}: acknowledged." in operator.get(form.headers["Location"]).text
    assert site.store.get(first).status == AlertStatus.ACKNOWLEDGED

    token = {"X-CSRF-Token": csrf(admin)}
    note = admin.post(f"/api/alerts/{first}/actions", json={"action": "note", "note": "camera cleaned"}, headers=token)
    assert note.status_code == 200 and note.json["status"] == "acknowledged"
    resolved = admin.post(f"/api/alerts/{first}/actions", json={"action": "resolved"}, headers=token)
    assert resolved.json["status"] == "resolved"
    false_positive = admin.post(
        f"/api/alerts/{second}/actions", json={"action": "false_positive", "note": "a shadow"}, headers=token
    )
    assert false_positive.json["status"] == "false_positive"
    assert [(a.actor, a.action, a.note) for a in site.store.actions(first)] == [
        ("operator", "acknowledged", "checking"), ("admin", "note", "camera cleaned"), ("admin", "resolved", None)
    ]
    assert [(a.actor, a.action, a.note) for a in site.store.actions(second)] == [
        ("admin", "false_positive", "a shadow")
    ]


def test_refused_actions_say_why_and_change_nothing(site) -> None:
    alert_id = site.alert()
    site.store.set_status(alert_id, AlertStatus.RESOLVED, "operator")
    client = site.client("operator")
    token = {"X-CSRF-Token": csrf(client)}
    url = f"/api/alerts/{alert_id}/actions"
    conflict = client.post(url, json={"action": "acknowledged"}, headers=token)
    assert conflict.status_code == 409
    assert conflict.json == {"error": f"alert {alert_id}: cannot go from resolved to acknowledged"}
    for body, status, message in [
        ({"action": "escalate"}, 400, "unknown action 'escalate'"),
        ({"action": "note", "note": "   "}, 400, "a note needs some text"),
        ({"action": "note", "note": 5}, 400, "note must be text"),
        ({"action": "note", "note": "x" * 2001}, 400, "too long"),
        (["acknowledged"], 400, "expected a JSON object"),
    ]:
        response = client.post(url, json=body, headers=token)
        assert response.status_code == status and message in response.json["error"], body
    missing = client.post("/api/alerts/999/actions", json={"action": "note", "note": "x"}, headers=token)
    assert missing.status_code == 404

    form_data = {"action": "acknowledged", "csrf_token": token["X-CSRF-Token"]}
    form = client.post(f"/alerts/{alert_id}/actions", data=form_data)
    assert "cannot go from resolved to acknowledged" in client.get(form.headers["Location"]).text
    assert site.store.get(alert_id).status == AlertStatus.RESOLVED
    assert [a.action for a in site.store.actions(alert_id)] == ["resolved"]


def test_bulk_acknowledge_acknowledges_the_new_ones_and_counts_the_rest(site) -> None:
    fresh = [site.alert(), site.alert(), site.alert()]
    done = site.alert()
    untouched = site.alert()
    site.store.set_status(done, AlertStatus.RESOLVED, "operator")
    client = site.client("operator")
    selected = [str(i) for i in [*fresh, done, 999]]
    response = client.post(
        "/alerts/acknowledge", data={"ids": selected, "back": "camera=lobby&status=new", "csrf_token": csrf(client)}
    )
    assert response.status_code == 303 and response.headers["Location"] == "/alerts?camera=lobby&status=new"
    page = client.get(response.headers["Location"]).text
    assert "3 alert(s) acknowledged, 2 skipped" in page
    assert [site.store.get(i).status for i in fresh] == [AlertStatus.ACKNOWLEDGED] * 3
    assert all(site.store.actions(i)[-1].actor == "operator" for i in fresh)
    assert site.store.get(done).status == AlertStatus.RESOLVED and site.store.get(untouched).status == AlertStatus.NEW
    assert client.post("/alerts/acknowledge", data={"ids": ["1 OR 1=1"], "csrf_token": csrf(client)}).status_code == 400
    for back in ("//evil.example", "x=1&next=https://evil.example"):
        response = client.post("/alerts/acknowledge", data={"back": back, "csrf_token": csrf(client)})
        location = response.headers["Location"]
        assert urlsplit(location).path == "/alerts" and not urlsplit(location).netloc, back


def test_new_alert_count_is_in_the_header_and_the_api(site) -> None:
    site.alert()
    site.store.set_status(site.alert(), AlertStatus.ACKNOWLEDGED, "operator")
    site.alert("gate")
    client = site.client("viewer")
    assert client.get("/api/alerts/count", query_string={"status": "new"}).json == {"count": 2}
    assert client.get("/api/alerts/count", query_string={"status": "new", "camera": "gate"}).json == {"count": 1}
    header = client.get("/cameras").text
    assert 'data-count-url="/api/alerts/count?status=new"><span data-count>2</span> new' in header
    assert '<script src="/static/vigil.js" defer></script>' in header
    script = client.get("/static/vigil.js")
    assert script.status_code == 200 and "javascript" in script.headers["Content-Type"]


def test_chart_draws_one_series_per_rule_over_the_last_24_hours(site) -> None:
    now = datetime.now(UTC)
    for started in (now, now - timedelta(hours=1), now - timedelta(hours=1)):
        site.alert(started_at=started, rule="crowd")
    site.alert(started_at=now, rule="loitering")
    site.alert(started_at=now - timedelta(hours=30), rule="old-rule")
    page = site.client("viewer").get("/alerts").text
    svg = page[page.index("<svg viewBox"):page.index("</svg>")]
    assert re.findall(r'<g class="series" data-rule="([^"]+)">', svg) == ["crowd", "loitering"]
    titles = re.findall(r"<title>([^<]+)</title>", svg)
    assert [re.sub(r"\d\d:00Z", "HH:00Z", t) for t in titles] == [
        "crowd, HH:00Z: 2", "crowd, HH:00Z: 1", "loitering, HH:00Z: 1"
    ]
    figure = page[page.index('<figure class="chart">'):page.index("</figure>")]
    assert svg.count("<polyline") == 2 and "old-rule" not in figure and "crowd (3)" in figure


def test_hourly_chart_buckets_by_hour_and_scales_to_the_peak() -> None:
    now = datetime(2026, 11, 28, 9, 30, tzinfo=UTC)
    hours = timedelta(hours=1)
    starts = [("a", now), ("a", now.replace(minute=0)), ("b", now - 23 * hours), ("a", now - 24 * hours)]
    chart = hourly_chart(starts, now)
    assert chart.start == datetime(2026, 11, 27, 10, 0, tzinfo=UTC) and chart.peak == 2
    series = {s.rule: s for s in chart.series}
    assert [p.count for p in series["a"].points] == [0] * 23 + [2]
    assert [p.count for p in series["b"].points] == [1] + [0] * 23
    assert series["a"].points[-1].y == chart.top and series["a"].points[0].y == chart.bottom
    assert series["b"].points[0].x == chart.left and series["a"].points[-1].x == chart.right
    assert hourly_chart([], now).series == () and hourly_chart([], now).peak == 0


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a /metrics text, read by prometheus_client's own parser."""
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


class _DetectorSeries:
    """A pipeline's collector, as far as the dashboard knows one."""

    def collect(self):
        yield GaugeMetricFamily("vigil_detector_batch_size", "Frames per batch.", value=4)


def test_metrics_are_prometheus_text_with_alert_totals_and_camera_health(tmp_path, users_db) -> None:
    health = {
        "lobby": CameraHealth("lobby", CameraState.STREAMING, fps_in=10.0, fps_out=4.5, dropped=3, reconnects=0),
        'odd "cam"\\': CameraHealth('odd "cam"\\', CameraState.RECONNECTING, dropped=0, reconnects=7),
    }
    site = build_site(tmp_path, users_db, health=lambda: health, metrics=_DetectorSeries())
    for rule in ("crowd", "crowd", "loitering"):
        site.alert(rule=rule)
    site.store.set_status(site.alert(rule="crowd"), AlertStatus.FALSE_POSITIVE, "operator")
    response = site.client("viewer").get("/metrics")
    assert response.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    samples = _samples(response.text)
    assert samples["vigil_alerts_total", (("rule", "crowd"), ("status", "new"))] == 2
    assert samples["vigil_alerts_total", (("rule", "crowd"), ("status", "false_positive"))] == 1
    assert samples["vigil_alerts_total", (("rule", "loitering"), ("status", "new"))] == 1
    lobby, odd = (("camera", "lobby"),), (("camera", 'odd "cam"\\'),)
    assert samples["vigil_camera_fps_in", lobby] == 10.0 and samples["vigil_camera_fps_out", lobby] == 4.5
    assert samples["vigil_camera_dropped_total", lobby] == 3 and samples["vigil_camera_up", lobby] == 1
    assert samples["vigil_camera_reconnects_total", odd] == 7 and samples["vigil_camera_up", odd] == 0
    assert 'camera="odd \\"cam\\"\\\\"' in response.text, "label values are escaped"
    assert samples["vigil_detector_batch_size", ()] == 4
    assert "# TYPE vigil_camera_dropped_total counter" in response.text
    assert samples["process_resident_memory_bytes", ()] > 0, "the process's own series"
    site.store.close()


def test_metrics_without_a_pipeline_have_alerts_only(site, tmp_path, users_db) -> None:
    site.alert()
    names = {name for name, _ in _samples(site.client("viewer").get("/metrics").text)}
    assert {name for name in names if name.startswith("vigil_")} == {"vigil_alerts_total"}
    other = build_site(tmp_path / "other", users_db, metrics=_DetectorSeries())
    assert "vigil_detector_batch_size" in other.client("viewer").get("/metrics").text
    assert "vigil_detector_batch_size" not in site.client("viewer").get("/metrics").text, "each app its own registry"
    other.store.close()


def test_cameras_page_and_api_show_health_or_say_the_pipeline_is_stopped(tmp_path, users_db) -> None:
    now = time.time()
    health = {
        "lobby": CameraHealth(
            "lobby", CameraState.STREAMING, fps_in=10.0, fps_out=5.0, dropped=2, last_frame_time=now - 1.5
        ),
        "gate": CameraHealth("gate", CameraState.FAILED, reconnects=4, last_error="connection refused"),
    }
    site = build_site(tmp_path, users_db, health=lambda: health)
    client = site.client("viewer")
    page = client.get("/cameras").text
    rows = re.findall(r"<tr>\s*<td>(\w+)</td>\s*<td><span class=\"badge state-(\w+)\">", page)
    assert rows == [("gate", "failed"), ("lobby", "streaming")]
    assert "connection refused" in page and "never" in page and re.search(r"1\.\d s ago", page)
    api = client.get("/api/cameras").json
    assert api["running"] is True
    gate, lobby = api["cameras"]
    assert (gate["state"], gate["reconnects"], gate["last_error"], gate["last_frame_age_s"]) == (
        "failed", 4, "connection refused", None
    )
    assert (lobby["fps_in"], lobby["fps_out"], lobby["dropped"]) == (10.0, 5.0, 2)
    assert 1.5 <= lobby["last_frame_age_s"] < 5
    site.store.close()

    stopped = build_site(tmp_path / "stopped", users_db)
    stopped_client = stopped.client("viewer")
    assert "The pipeline is not running" in stopped_client.get("/cameras").text
    assert stopped_client.get("/api/cameras").json == {"running": False, "cameras": []}
    stopped.store.close()

    returning_none = build_site(tmp_path / "none", users_db, health=lambda: None)
    assert "The pipeline is not running" in returning_none.client("viewer").get("/cameras").text
    returning_none.store.close()


def test_home_redirects_to_the_alert_list(site) -> None:
    assert site.client("viewer").get("/").headers["Location"] == "/alerts"


def test_user_store_rejects_bad_users_with_specific_errors(site) -> None:
    users = site.users
    with pytest.raises(DuplicateUser, match="'viewer' already exists"):
        users.add("viewer", PASSWORD, Role.VIEWER)
    for name in ("", "Ana", "9lives", "a b", "a" * 65, "<b>"):
        with pytest.raises(InvalidUserName, match="invalid user name"):
            users.add(name, PASSWORD, Role.VIEWER)
    with pytest.raises(UnknownRole, match="unknown role 'root'; expected one of viewer, operator, admin"):
        users.add("ana", PASSWORD, "root")
    with pytest.raises(WeakPassword, match="7 characters is too short"):
        users.add("ana", "1234567", Role.VIEWER)
    with pytest.raises(UserNotFound):
        users.set_password("nobody", PASSWORD)
    assert users.count() == 3 and users.get("ana") is None


def test_the_users_table_itself_refuses_unknown_roles_and_duplicate_names(site) -> None:
    insert = "INSERT INTO users (name, password_hash, role, created_at) VALUES (?, 'x', ?, '2026-11-28 09:00:00')"
    for name, role in (("eve", "root"), ("viewer", "viewer")):
        with pytest.raises(IntegrityError), site.store.engine.begin() as connection:
            connection.exec_driver_sql(insert, (name, role))
    assert site.users.count() == 3


def test_user_store_verifies_passwords_and_roles(site) -> None:
    users = site.users
    users.add("ana.b-2", "12345678", "operator")
    assert users.verify("ana.b-2", "12345678") == User("ana.b-2", Role.OPERATOR, False)
    assert users.verify("ana.b-2", "1234567") is None and users.verify("nobody", "12345678") is None
    users.set_password("ana.b-2", "new password")
    assert users.verify("ana.b-2", "12345678") is None and users.verify("ana.b-2", "new password") is not None
    with site.store.engine.begin() as connection:
        stored = connection.exec_driver_sql("SELECT password_hash FROM users WHERE name = 'ana.b-2'").scalar()
        connection.exec_driver_sql("UPDATE users SET disabled = 1 WHERE name = 'ana.b-2'")
    assert "new password" not in stored and stored.startswith("scrypt:")
    assert users.verify("ana.b-2", "new password") is None and users.get("ana.b-2").disabled
    assert [u.name for u in users.list()] == ["admin", "ana.b-2", "operator", "viewer"]
    viewer, operator, admin = (users.get(name) for name in ("viewer", "operator", "admin"))
    assert not viewer.may(Role.OPERATOR) and viewer.may(Role.VIEWER)
    assert operator.may(Role.OPERATOR) and not operator.may(Role.ADMIN) and admin.may(Role.ADMIN)


def test_ensure_admin_creates_admin_only_in_an_empty_database(tmp_path, site) -> None:
    from alerts import AlertStore

    store = AlertStore(tmp_path / "empty.db")
    users = UserStore(store.engine)
    password = ensure_admin(users)
    assert password is not None and len(password) >= 16
    assert users.verify("admin", password) == User("admin", Role.ADMIN, False)
    assert ensure_admin(users) is None and users.count() == 1
    store.close()
    assert ensure_admin(site.users) is None, "a database with users gets no extra admin"


def _vigil_user(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="vigil")
    add_user_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.handler(args)


def test_vigil_user_add_and_list(write_config, tmp_path, monkeypatch, capsys) -> None:
    config = str(write_config({"cameras": {"lobby": {"url": "lobby.mp4"}}, "storage": {"database": "db/vigil.db"}}))
    monkeypatch.setenv("VIGIL_PASSWORD", "s3cret password")
    assert _vigil_user(["user", "add", "ana", "--role", "operator", "-c", config]) == 0
    assert _vigil_user(["user", "add", "bo", "--role", "admin", "-c", config]) == 0
    assert _vigil_user(["user", "add", "ana", "--role", "viewer", "-c", config]) == 1
    monkeypatch.setenv("VIGIL_PASSWORD", "short")
    assert _vigil_user(["user", "add", "cy", "--role", "viewer", "-c", config]) == 1
    out, err = capsys.readouterr()
    assert "user ana added with role operator" in out
    assert "vigil user add: user 'ana' already exists" in err and "5 characters is too short" in err
    assert "s3cret" not in out + err and "short" not in out

    assert _vigil_user(["user", "list", "-c", config]) == 0
    assert capsys.readouterr().out.splitlines() == ["ana  operator", "bo  admin"]
    with pytest.raises(SystemExit):
        _vigil_user(["user", "add", "dee", "--role", "root", "-c", config])

    from alerts import AlertStore

    store = AlertStore(tmp_path / "db" / "vigil.db")
    assert UserStore(store.engine).verify("ana", "s3cret password") is not None
    store.close()


def test_vigil_user_add_prompts_twice_without_the_environment(write_config, monkeypatch, capsys) -> None:
    config = str(write_config({"cameras": {"lobby": {"url": "lobby.mp4"}}}))
    monkeypatch.delenv("VIGIL_PASSWORD", raising=False)
    typed = iter(["first password", "other password", "same password", "same password"])
    prompts = []
    monkeypatch.setattr("getpass.getpass", lambda prompt: prompts.append(prompt) or next(typed))
    assert _vigil_user(["user", "add", "ana", "--role", "viewer", "-c", config]) == 1
    assert "the two passwords differ" in capsys.readouterr().err
    assert _vigil_user(["user", "add", "ana", "--role", "viewer", "-c", config]) == 0
    assert prompts == ["password for ana: ", "again: "] * 2
    assert _vigil_user(["user", "list", "-c", "/nonexistent/config.yaml"]) == 2
