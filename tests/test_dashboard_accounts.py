"""Accounts: revocable sessions with idle and absolute timeouts, the admins' Users page, `vigil user`, the audit log."""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from alerts import AlertStore
from alerts.audit import AccountAction
from alerts.users import LastAdmin, Role, UserNotFound, UserStore
from tests.conftest import ROOT
from tests.dashboard_support import PASSWORD, build_site, csrf, login
from vigil.users_cli import add_user_commands

COOKIE = "vigil_session"
NEW_PASSWORD = "a brand new passphrase"


def saved_cookie(client) -> str:
    return client.get_cookie(COOKIE).value


def replayed(site, cookie: str):
    """A fresh client presenting a cookie saved earlier, as a thief would."""
    client = site.app.test_client()
    client.set_cookie(COOKIE, cookie)
    return client


def post(client, url: str, **form: str):
    return client.post(url, data={"csrf_token": csrf(client), **form})


def test_logout_ends_the_session_everywhere_even_a_copied_cookie(site) -> None:
    client = site.client("operator")
    other_device = site.client("operator")
    cookie = saved_cookie(client)
    assert replayed(site, cookie).get("/alerts").status_code == 200
    assert post(client, "/logout").status_code == 303
    assert replayed(site, cookie).get("/alerts").status_code == 302
    assert replayed(site, cookie).get("/api/alerts").status_code == 401
    assert other_device.get("/alerts").status_code == 302, "logout ends the user's sessions on every device"
    assert site.client("operator").get("/alerts").status_code == 200, "and a new login works"


@pytest.mark.parametrize("change", ["set_password", "disable"])
def test_a_new_password_or_disabling_ends_saved_sessions(site, change) -> None:
    cookie = saved_cookie(site.client("operator"))
    viewer = site.client("viewer")
    if change == "set_password":
        site.users.set_password("operator", NEW_PASSWORD)
    else:
        site.users.disable("operator")
    assert replayed(site, cookie).get("/alerts").status_code == 302
    assert viewer.get("/alerts").status_code == 200, "other users' sessions go on"
    if change == "set_password":
        assert login(site.client(), "operator", NEW_PASSWORD).status_code == 303
    else:
        site.users.enable("operator")
        assert replayed(site, cookie).get("/alerts").status_code == 302, "enabling again revives no old session"


def test_a_deleted_and_recreated_user_gets_no_old_session_back(site) -> None:
    cookie = saved_cookie(site.client("operator"))
    site.users.delete("operator")
    site.users.add("operator", PASSWORD, Role.ADMIN)
    assert replayed(site, cookie).get("/alerts").status_code == 302


def test_sessions_end_after_the_idle_and_the_absolute_timeout(tmp_path, users_db) -> None:
    now = [1_000_000.0]
    site = build_site(tmp_path, users_db, clock=lambda: now[0], session_idle_s=600, session_max_s=3600)
    client = site.client("viewer")
    for _ in range(5):  # busy: a request every 9 minutes keeps it going…
        now[0] += 540
        assert client.get("/alerts").status_code == 200
    now[0] += 660  # …until 60 min after the login, past which no activity helps
    assert client.get("/alerts").status_code == 302
    page = client.get("/login").text
    assert "Your session has ended: please log in again." in page

    idle = site.client("viewer")
    now[0] += 600
    assert idle.get("/alerts").status_code == 200, "exactly the idle limit is still allowed"
    now[0] += 601
    assert idle.get("/api/alerts").status_code == 401
    site.store.close()


def test_session_lifetime_and_secure_flag_follow_the_settings(tmp_path, users_db) -> None:
    site = build_site(tmp_path, users_db, session_max_s=7200, session_cookie_secure=True)
    assert site.app.permanent_session_lifetime.total_seconds() == 7200, "no signed cookie outlives the limit"
    cookie = login(site.client(), "viewer").headers["Set-Cookie"]
    assert "; Secure" in cookie and "HttpOnly" in cookie
    site.store.close()


def test_config_reaches_the_dashboard_settings(write_config, tmp_path) -> None:
    from vigil.config import load_config
    from vigil.web import build_dashboard

    path = write_config({
        "cameras": {"lobby": {"url": "lobby.mp4"}},
        "storage": {"database": str(tmp_path / "vigil.db"), "media_dir": str(tmp_path / "media")},
        "dashboard": {"session_idle_min": 15, "session_max_hours": 2, "secure_cookies": True},
    })
    store = AlertStore(tmp_path / "vigil.db")
    settings = build_dashboard(load_config(path), path, store).extensions["vigil.settings"]
    assert (settings.session_idle_s, settings.session_max_s, settings.session_cookie_secure) == (900, 7200, True)
    store.close()


def test_the_secret_key_file_is_made_and_kept_owner_only(tmp_path, caplog) -> None:
    from vigil.web import secret_key

    path = tmp_path / "keys" / "dashboard-secret.key"
    key = secret_key(path)
    assert len(key) == 32 and path.stat().st_mode & 0o777 == 0o600
    path.chmod(0o644)
    with caplog.at_level(logging.WARNING):
        assert secret_key(path) == key
    assert path.stat().st_mode & 0o777 == 0o600 and "open to other users (mode 0644)" in caplog.text


# The Users page


def test_only_admins_reach_the_users_page_and_its_link(site) -> None:
    admin = site.client("admin")
    page = admin.get("/users")
    assert page.status_code == 200
    assert 'href="/users"' in page.text and 'data-user="operator"' in page.text
    for role in ("operator", "viewer"):
        client = site.client(role)
        assert 'href="/users"' not in client.get("/alerts").text
        assert client.get("/users").status_code == 403
        assert post(client, "/users/viewer/disable").status_code == 403
        assert post(client, "/users", name="eve", role="admin", password=PASSWORD, again=PASSWORD).status_code == 403
    assert not site.users.get("viewer").disabled and site.users.get("eve") is None


def test_admins_add_disable_enable_reset_and_delete_users_with_an_audit_trail(site, caplog) -> None:
    admin = site.client("admin")
    with caplog.at_level(logging.INFO, logger="vigil.audit"):
        assert post(admin, "/users", name="ana", role="operator", password=PASSWORD, again=PASSWORD).status_code == 303
        assert "User ana added." in admin.get("/users").text
        assert site.users.verify("ana", PASSWORD).role == Role.OPERATOR

        ana = site.client("ana")
        post(admin, "/users/ana/disable")
        assert site.users.get("ana").disabled and ana.get("/alerts").status_code == 302
        post(admin, "/users/ana/enable")
        assert site.users.verify("ana", PASSWORD) is not None

        ana = site.client("ana")
        response = post(admin, "/users/ana/password", password=NEW_PASSWORD, again=NEW_PASSWORD)
        assert response.status_code == 303 and "New password set for ana" in admin.get("/users").text
        assert ana.get("/alerts").status_code == 302 and site.users.verify("ana", NEW_PASSWORD) is not None

        post(admin, "/users/ana/delete")
        assert site.users.get("ana") is None
    page = admin.get("/users").text
    expected = [("admin", AccountAction.DELETE, "ana"), ("admin", AccountAction.PASSWORD, "ana"),
                ("admin", AccountAction.ENABLE, "ana"), ("admin", AccountAction.DISABLE, "ana"),
                ("admin", AccountAction.ADD, "ana")]
    assert [(c.actor, c.action, c.target) for c in site.users.changes(5)] == expected
    assert site.users.changes(5)[-1].detail == "role operator"
    for _, action, _ in expected:
        assert f"<td>{action}</td>" in page
    audit_lines = [record.getMessage() for record in caplog.records if record.name == "vigil.audit"]
    assert audit_lines == ["admin: add user ana (role operator)", "admin: disable user ana",
                               "admin: enable user ana", "admin: set-password user ana", "admin: delete user ana"]
    assert PASSWORD not in caplog.text and NEW_PASSWORD not in caplog.text and PASSWORD not in page


def test_the_page_refuses_bad_changes_with_the_reason(site) -> None:
    admin = site.client("admin")
    before = site.users.changes()
    post(admin, "/users", name="ana", role="operator", password=PASSWORD, again="something else")
    assert "the two passwords differ" in admin.get("/users").text and site.users.get("ana") is None
    post(admin, "/users", name="Bad Name", role="viewer", password=PASSWORD, again=PASSWORD)
    assert "invalid user name &#39;Bad Name&#39;" in admin.get("/users").text
    post(admin, "/users", name="ana", role="root", password=PASSWORD, again=PASSWORD)
    assert "unknown role &#39;root&#39;" in admin.get("/users").text
    post(admin, "/users/viewer/password", password="short", again="short")
    assert "5 characters is too short" in admin.get("/users").text
    post(admin, "/users/nobody/disable")
    assert "no user &#39;nobody&#39;" in admin.get("/users").text
    assert post(admin, "/users/admin/delete").status_code == 303
    assert "cannot delete &#39;admin&#39;: it is the last enabled admin" in admin.get("/users").text
    assert post(admin, "/users/viewer/disable", csrf_token="forged").status_code == 400
    assert site.users.get("admin") is not None and not site.users.get("viewer").disabled
    assert site.users.changes() == before, "refused changes leave no audit line"


def test_an_admin_who_changes_their_own_password_stays_logged_in_here_only(site) -> None:
    admin = site.client("admin")
    elsewhere = site.client("admin")
    post(admin, "/users/admin/password", password=NEW_PASSWORD, again=NEW_PASSWORD)
    assert admin.get("/users").status_code == 200 and elsewhere.get("/users").status_code == 302


def test_the_last_enabled_admin_can_be_neither_disabled_nor_deleted(site) -> None:
    users = site.users
    with pytest.raises(LastAdmin, match="cannot disable 'admin': it is the last enabled admin"):
        users.disable("admin")
    with pytest.raises(LastAdmin, match="cannot delete 'admin'"):
        users.delete("admin")
    users.add("root2", PASSWORD, Role.ADMIN)
    assert users.disable("admin") is True and users.disable("admin") is False
    with pytest.raises(LastAdmin):
        users.delete("root2")
    users.delete("admin")  # a disabled admin does not count
    assert [u.name for u in users.list()] == ["operator", "root2", "viewer"]
    with pytest.raises(UserNotFound):
        users.enable("admin")


# `vigil user`


def _vigil_user(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="vigil")
    add_user_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.handler(args)


@pytest.fixture
def config(write_config, tmp_path) -> str:
    path = write_config({"cameras": {"lobby": {"url": "lobby.mp4"}}, "storage": {"database": "db/vigil.db"}})
    store = AlertStore(tmp_path / "db" / "vigil.db")
    users = UserStore(store.engine)
    users.add("root", PASSWORD, Role.ADMIN)
    users.add("ana", PASSWORD, Role.OPERATOR)
    store.close()
    return str(path)


def _users(tmp_path) -> tuple[AlertStore, UserStore]:
    store = AlertStore(tmp_path / "db" / "vigil.db")
    return store, UserStore(store.engine)


def test_vigil_user_disable_enable_delete(config, tmp_path, capsys) -> None:
    assert _vigil_user(["user", "disable", "ana", "-c", config]) == 0
    assert _vigil_user(["user", "disable", "ana", "-c", config]) == 0
    assert _vigil_user(["user", "list", "-c", config]) == 0
    assert _vigil_user(["user", "enable", "ana", "-c", config]) == 0
    assert _vigil_user(["user", "disable", "root", "-c", config]) == 1
    assert _vigil_user(["user", "delete", "root", "-c", config]) == 1
    assert _vigil_user(["user", "delete", "nobody", "-c", config]) == 1
    assert _vigil_user(["user", "delete", "ana", "-c", config]) == 0
    out, err = capsys.readouterr()
    assert out.splitlines() == [
        "user ana disabled; their dashboard sessions have ended", "user ana was already disabled",
        "ana  operator  disabled", "root  admin", "user ana enabled", "user ana deleted",
    ]
    assert err.splitlines() == [
        "vigil user disable: cannot disable 'root': it is the last enabled admin; make another admin first",
        "vigil user delete: cannot delete 'root': it is the last enabled admin; make another admin first",
        "vigil user delete: no user 'nobody'",
    ]
    store, users = _users(tmp_path)
    changes = users.changes()
    store.close()
    assert [(c.action, c.target) for c in changes] == [
        (AccountAction.DELETE, "ana"), (AccountAction.ENABLE, "ana"), (AccountAction.DISABLE, "ana"),
        (AccountAction.ADD, "ana"), (AccountAction.ADD, "root"),
    ]
    assert changes[0].actor.startswith("cli:") and changes[-1].actor == "system"


def test_vigil_user_passwd_prompts_twice_and_names_unknown_users_before_asking(config, monkeypatch, capsys) -> None:
    monkeypatch.delenv("VIGIL_PASSWORD", raising=False)
    typed = iter(["new password 1", "new password 2", NEW_PASSWORD, NEW_PASSWORD])
    monkeypatch.setattr("getpass.getpass", lambda prompt: next(typed))
    assert _vigil_user(["user", "passwd", "nobody", "-c", config]) == 1
    assert _vigil_user(["user", "passwd", "ana", "-c", config]) == 1
    assert _vigil_user(["user", "passwd", "ana", "-c", config]) == 0
    out, err = capsys.readouterr()
    assert err.splitlines() == ["vigil user passwd: no user 'nobody'", "vigil user passwd: the two passwords differ"]
    assert out == "new password set for ana; their dashboard sessions have ended\n"


def test_vigil_user_passwd_as_a_real_command_reads_the_environment(config, tmp_path) -> None:
    env = {**os.environ, "VIGIL_PASSWORD": NEW_PASSWORD}
    done = subprocess.run(
        [sys.executable, "-m", "vigil", "user", "passwd", "ana", "-c", config], cwd=ROOT, env=env,
        capture_output=True, text=True, timeout=120,
    )
    assert (done.returncode, done.stdout) == (0, "new password set for ana; their dashboard sessions have ended\n")
    assert NEW_PASSWORD not in done.stdout + done.stderr
    store, users = _users(tmp_path)
    assert users.verify("ana", NEW_PASSWORD) is not None and users.verify("ana", PASSWORD) is None
    assert users.changes(1)[0].action == AccountAction.PASSWORD
    store.close()
    assert Path(tmp_path / "db" / "vigil.db").stat().st_mode & 0o777 == 0o600
