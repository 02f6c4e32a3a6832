"""Dashboard security: the login gate, roles, CSRF, login throttling, headers, cookies, escaping, media paths."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from alerts import AlertStatus
from dashboard.auth import SECURITY_HEADERS
from dashboard.throttle import LoginThrottle
from streamer import CameraHealth, CameraState
from tests.dashboard_support import PASSWORD, ROLES, T0, build_site, csrf, login

PUBLIC = {"auth.login", "api.healthz", "static"}
OPERATOR_ROLES = {"operator", "admin"}


def _url(rule, alert_id: int) -> str:
    values = {"alert_id": alert_id, "name": "lobby/2026-11-28/090000-0000.jpg", "filename": "vigil.css"}
    return rule.build({arg: values[arg] for arg in rule.arguments})[1]


def test_anonymous_requests_are_refused_on_every_route_but_login_healthz_and_static(site) -> None:
    alert_id = site.alert()
    client = site.client()
    checked = set()
    for rule in site.app.url_map.iter_rules():
        if rule.endpoint in PUBLIC:
            continue
        url = _url(rule, alert_id)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            response = client.open(url, method=method)
            if url.startswith("/api/"):
                assert (response.status_code, response.json) == (401, {"error": "login required"}), (method, url)
            else:
                assert response.status_code == 302, (method, url)
                assert response.headers["Location"].startswith("/login"), (method, url)
            checked.add(rule.endpoint)
    reached = {"alerts.alert_list", "alerts.alert_action", "media.media_file", "api.alert_action", "api.metrics"}
    assert reached <= checked, "the walk reached the state-changing and file-serving routes"
    assert site.store.get(alert_id).status == AlertStatus.NEW and site.store.actions(alert_id) == []

    assert client.get("/login").status_code == 200
    assert (client.get("/healthz").status_code, client.get("/healthz").json) == (200, {"status": "ok"})
    assert client.get("/static/vigil.css").status_code == 200


def test_login_returns_to_the_page_asked_for_but_never_off_site(site) -> None:
    client = site.client()
    response = client.get("/alerts?camera=lobby")
    assert response.headers["Location"] == "/login?next=/alerts?camera%3Dlobby"
    assert login(client, "viewer", next="/alerts?camera=lobby").headers["Location"] == "/alerts?camera=lobby"
    for target in ("//evil.example/x", "https://evil.example/", "/\\evil.example", "javascript:alert(1)"):
        assert login(site.client(), "viewer", next=target).headers["Location"] == "/", target


def test_wrong_password_is_refused_and_logs_nobody_in(site) -> None:
    client = site.client()
    response = login(client, "operator", "not the password")
    assert response.status_code == 401 and "Wrong user name or password" in response.text
    assert login(client, "nobody", PASSWORD).status_code == 401
    assert client.get("/alerts").status_code == 302


def test_a_disabled_user_is_logged_out_at_the_next_request(site) -> None:
    client = site.client("operator")
    assert client.get("/alerts").status_code == 200
    with site.store.engine.begin() as connection:
        connection.exec_driver_sql("UPDATE users SET disabled = 1 WHERE name = 'operator'")
    assert client.get("/alerts").status_code == 302
    assert client.get("/api/alerts").status_code == 401
    assert login(site.client(), "operator").status_code == 401


READS = [
    "/alerts", "/alerts/{id}", "/cameras", "/api/alerts", "/api/alerts/{id}", "/api/alerts/count", "/api/cameras",
    "/metrics", "/media/{snapshot}",
]


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("path", READS)
def test_every_role_can_read(site, role, path) -> None:
    alert_id = site.alert()
    snapshot = site.store.get(alert_id).snapshot_path.split("/media/", 1)[1]
    response = site.client(role).get(path.format(id=alert_id, snapshot=snapshot))
    assert response.status_code == 200


def _json_note(client, alert_id):
    body = {"action": "note", "note": "seen"}
    return client.post(f"/api/alerts/{alert_id}/actions", json=body, headers={"X-CSRF-Token": csrf(client)})


def _form_acknowledge(client, alert_id):
    return client.post(f"/alerts/{alert_id}/actions", data={"action": "acknowledged", "csrf_token": csrf(client)})


def _bulk_acknowledge(client, alert_id):
    return client.post("/alerts/acknowledge", data={"ids": [str(alert_id)], "csrf_token": csrf(client)})


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(
    "act, allowed_status, changed",
    [
        (_json_note, 200, lambda store, i: [a.action for a in store.actions(i)] == ["note"]),
        (_form_acknowledge, 303, lambda store, i: store.get(i).status == AlertStatus.ACKNOWLEDGED),
        (_bulk_acknowledge, 303, lambda store, i: store.get(i).status == AlertStatus.ACKNOWLEDGED),
    ],
    ids=["api-note", "form-acknowledge", "bulk-acknowledge"],
)
def test_only_operators_and_admins_can_act_on_alerts(site, role, act, allowed_status, changed) -> None:
    alert_id = site.alert()
    response = act(site.client(role), alert_id)
    if role in OPERATOR_ROLES:
        assert response.status_code == allowed_status
        assert changed(site.store, alert_id)
        assert site.store.actions(alert_id)[-1].actor == role
    else:
        assert response.status_code == 403
        assert site.store.get(alert_id).status == AlertStatus.NEW and site.store.actions(alert_id) == []


@pytest.mark.parametrize("role", ROLES)
def test_action_controls_are_shown_only_to_those_who_may_use_them(site, role) -> None:
    alert_id = site.alert()
    client = site.client(role)
    detail, listing = client.get(f"/alerts/{alert_id}").text, client.get("/alerts").text
    may_act = role in OPERATOR_ROLES
    assert ('value="acknowledged"' in detail) is may_act
    assert ('name="ids"' in listing) is may_act
    assert "Audit trail" in detail


def test_state_changing_requests_need_the_sessions_csrf_token(site) -> None:
    alert_id = site.alert()
    client = site.client("operator")
    assert client.post(f"/alerts/{alert_id}/actions", data={"action": "acknowledged"}).status_code == 400
    wrong = client.post(f"/alerts/{alert_id}/actions", data={"action": "acknowledged", "csrf_token": "forged"})
    assert wrong.status_code == 400 and "CSRF" in wrong.text
    api = f"/api/alerts/{alert_id}/actions"
    no_token = client.post(api, json={"action": "acknowledged"})
    assert no_token.status_code == 400 and "CSRF" in no_token.json["error"]
    assert client.post(api, json={"action": "acknowledged"}, headers={"X-CSRF-Token": "forged"}).status_code == 400
    other_session = csrf(site.client("admin"))
    assert client.post(api, json={"action": "acknowledged"}, headers={"X-CSRF-Token": other_session}).status_code == 400
    assert site.store.get(alert_id).status == AlertStatus.NEW and site.store.actions(alert_id) == []

    assert client.post("/logout").status_code == 400
    assert client.get("/alerts").status_code == 200, "still logged in"
    anonymous = site.client()
    anonymous.get("/login")
    assert anonymous.post("/login", data={"name": "operator", "password": PASSWORD}).status_code == 400

    assert client.post(api, json={"action": "acknowledged"}, headers={"X-CSRF-Token": csrf(client)}).status_code == 200
    assert client.post("/logout", data={"csrf_token": csrf(client)}).status_code == 303
    assert client.get("/alerts").status_code == 302


def test_login_is_throttled_per_address_and_user_name(tmp_path, users_db) -> None:
    site = build_site(tmp_path, users_db, login_max_attempts=3)
    client = site.client(remote_addr="10.0.0.1")
    for _ in range(2):
        assert login(client, "operator", "wrong password").status_code == 401
    assert login(client, "operator").status_code == 303, "a success before the limit is allowed"
    assert login(client, "operator", "wrong password").status_code == 401, "and it cleared the count"

    attacker = site.client(remote_addr="10.0.0.66")
    for _ in range(3):
        assert login(attacker, "admin", "guess").status_code == 401
    refused = login(attacker, "admin")
    assert refused.status_code == 429
    assert "Too many failed logins" in refused.text and 0 < int(refused.headers["Retry-After"]) <= 300
    assert attacker.get("/alerts").status_code == 302, "the right password within the window logs nobody in"
    assert login(attacker, "viewer").status_code == 303, "other user names from that address are unaffected"
    assert login(site.client(remote_addr="10.0.0.2"), "admin").status_code == 303, "so are other addresses"
    site.store.close()


def test_throttle_lets_a_key_try_again_once_its_failures_leave_the_window() -> None:
    now = [0.0]
    throttle = LoginThrottle(max_attempts=2, window_s=60, clock=lambda: now[0])
    throttle.fail("k")
    now[0] = 10.0
    throttle.fail("k")
    assert throttle.retry_after("k") == 50.0 and throttle.retry_after("other") is None
    now[0] = 60.0
    assert throttle.retry_after("k") is None, "the first failure has left the window"
    throttle.fail("k")
    assert throttle.retry_after("k") == 10.0
    throttle.reset("k")
    assert throttle.retry_after("k") is None


@pytest.mark.parametrize(
    "path, role", [("/login", None), ("/alerts", "viewer"), ("/api/alerts", "viewer"), ("/static/vigil.js", None),
                   ("/alerts/999", "viewer"), ("/api/alerts/999", "viewer"), ("/alerts", None), ("/healthz", None)]
)
def test_security_headers_are_on_every_response(site, path, role) -> None:
    response = site.client(role).get(path)
    for name, value in SECURITY_HEADERS.items():
        assert response.headers[name] == value, (path, name)
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]


@pytest.mark.parametrize("secure", [False, True])
def test_session_cookie_is_http_only_lax_and_regenerated_at_login(tmp_path, users_db, secure) -> None:
    site = build_site(tmp_path, users_db, session_cookie_secure=secure)
    client = site.client()
    before = csrf(client)
    with client.session_transaction() as session:
        session["planted"] = "by an attacker"
    response = login(client, "viewer")
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert ("; Secure" in cookie) is secure
    with client.session_transaction() as session:
        assert "planted" not in session and session["user"] == "viewer"
        assert session["csrf"] != before
    site.store.close()


HOSTILE = {
    "camera": '<script>alert("camera")</script>',
    "rule": '"><b>rule</b>',
    "label": "<img src=x onerror=alert(1)>",
}


def test_html_special_characters_come_back_escaped(tmp_path, users_db) -> None:
    health = {HOSTILE["camera"]: CameraHealth(HOSTILE["camera"], CameraState.FAILED, last_error="<i>timeout</i>")}
    site = build_site(tmp_path, users_db, health=lambda: health)
    alert_id = site.alert(started_at=datetime.now(UTC), details={"direction": "<u>in</u>"}, **HOSTILE)
    site.store.add_note(alert_id, "operator", "<script>alert('note')</script>")
    client = site.client("operator")
    pages = {
        "list": client.get("/alerts").text,
        "detail": client.get(f"/alerts/{alert_id}").text,
        "cameras": client.get("/cameras").text,
        "filtered": client.get("/alerts", query_string={"camera": HOSTILE["camera"]}).text,
    }
    for name in ("list", "detail", "filtered"):
        assert "<script>alert" not in pages[name] and "<b>rule" not in pages[name] and "<img src=x" not in pages[name]
        assert "&lt;script&gt;alert(&#34;camera&#34;)&lt;/script&gt;" in pages[name], name
        assert "&lt;img src=x onerror=alert(1)&gt;" in pages[name], name
    assert "&#34;&gt;&lt;b&gt;rule&lt;/b&gt;" in pages["list"], "the chart legend and the table"
    assert "&lt;script&gt;alert(&#39;note&#39;)&lt;/script&gt;" in pages["detail"]
    assert "&lt;u&gt;in&lt;/u&gt;" in pages["detail"]
    assert "<script>alert" not in pages["cameras"] and "<i>timeout" not in pages["cameras"]
    assert "&lt;i&gt;timeout&lt;/i&gt;" in pages["cameras"]
    site.store.close()


@pytest.mark.parametrize("payload", ["lobby' OR '1'='1", "lobby\" OR 1=1 --", "lob%", "*"])
def test_sql_like_filter_values_are_plain_text(site, payload) -> None:
    site.alert(camera="lobby")
    site.alert(camera="gate", rule="crowd")
    client = site.client("viewer")
    assert client.get("/api/alerts", query_string={"camera": "lobby"}).json["total"] == 1, "the filter works"
    for field in ("camera", "rule"):
        api = client.get("/api/alerts", query_string={field: payload})
        assert api.status_code == 200 and api.json["alerts"] == [] and api.json["total"] == 0
        assert client.get("/api/alerts/count", query_string={field: payload}).json == {"count": 0}
        page = client.get("/alerts", query_string={field: payload})
        assert page.status_code == 200 and "No alert matches these filters" in page.text
    assert site.store.list_alerts(limit=None) and len(site.store.list_alerts(limit=None)) == 2


@pytest.mark.parametrize(
    "path",
    [
        "/media/../vigil.db",
        "/media/..%2fvigil.db",
        "/media/%2e%2e/vigil.db",
        "/media/%2e%2e%2fvigil.db",
        "/media/lobby/../../vigil.db",
        "/media/lobby/%2e%2e/%2e%2e/vigil.db",
        "/media/..%5cvigil.db",
        "/media//etc/passwd",
        "/media/%2fetc%2fpasswd",
        "/media/missing.jpg",
    ],
)
def test_media_outside_the_media_folder_is_not_found(site, path) -> None:
    assert (site.media_dir.parent / "vigil.db").is_file()
    response = site.client("viewer").get(path, follow_redirects=True)  # `//` is merged by a redirect first
    assert response.status_code == 404
    assert b"SQLite" not in response.data and b"root:" not in response.data


def test_media_serves_snapshots_and_seekable_clips(site) -> None:
    alert = site.store.get(site.alert(clip=True, started_at=T0))
    client = site.client("viewer")
    snapshot = client.get("/media/" + alert.snapshot_path.split("/media/", 1)[1])
    assert snapshot.status_code == 200 and snapshot.data.startswith(b"\xff\xd8 snapshot")
    clip_url = "/media/" + alert.clip_path.split("/media/", 1)[1]
    part = client.get(clip_url, headers={"Range": "bytes=10-19"})
    assert part.status_code == 206
    assert part.data == bytes(range(10, 20)) and part.headers["Content-Range"] == "bytes 10-19/1024"
    assert part.headers["Accept-Ranges"] == "bytes"
