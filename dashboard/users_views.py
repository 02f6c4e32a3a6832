"""The Users page, for admins only: every account with its role and state, the changes admins make to them, and
the latest of those changes."""

from __future__ import annotations

from collections.abc import Callable

from flask import Blueprint, Response, flash, g, redirect, render_template, request, url_for

from alerts.users import Role, UserError
from dashboard.auth import keep_session, role_required
from dashboard.context import services

bp = Blueprint("users", __name__)
RECENT_CHANGES = 50


@bp.get("/users")
@role_required(Role.ADMIN)
def user_list() -> str:
    users = services().users
    return render_template("users.html", users=users.list(), changes=users.changes(RECENT_CHANGES), roles=list(Role))


@bp.post("/users")
@role_required(Role.ADMIN)
def add_user() -> Response:
    name = request.form.get("name", "").strip()
    password = _typed_password()
    if password is not None:
        _change(f"User {name} added.", lambda: services().users.add(name, password, request.form.get("role", ""),
                                                                   actor=g.user.name))
    return _back()


@bp.post("/users/<name>/disable")
@role_required(Role.ADMIN)
def disable_user(name: str) -> Response:
    _change(f"User {name} disabled: their sessions have ended.",
            lambda: services().users.disable(name, actor=g.user.name))
    return _back()


@bp.post("/users/<name>/enable")
@role_required(Role.ADMIN)
def enable_user(name: str) -> Response:
    _change(f"User {name} enabled.", lambda: services().users.enable(name, actor=g.user.name))
    return _back()


@bp.post("/users/<name>/delete")
@role_required(Role.ADMIN)
def delete_user(name: str) -> Response:
    _change(f"User {name} deleted.", lambda: services().users.delete(name, actor=g.user.name))
    return _back()


@bp.post("/users/<name>/password")
@role_required(Role.ADMIN)
def set_password(name: str) -> Response:
    password = _typed_password()
    if password is not None and _change(f"New password set for {name}: their sessions have ended.",
                                        lambda: services().users.set_password(name, password, actor=g.user.name)):
        if name == g.user.name:  # every session of the admin ended, but this one is still theirs
            keep_session(services().users.get(name))
    return _back()


def _typed_password() -> str | None:
    """The form's password if both fields agree; else None, with the reason flashed."""
    password = request.form.get("password", "")
    if password != request.form.get("again", ""):
        flash("Not changed: the two passwords differ.", "error")
        return None
    return password


def _change(done: str, change: Callable[[], object]) -> bool:
    """Make an account change, flashing what happened or why it was refused; whether it was made."""
    try:
        change()
    except UserError as error:
        flash(f"Not changed: {error}.", "error")
        return False
    flash(done, "info")
    return True


def _back() -> Response:
    return redirect(url_for("users.user_list"), 303)
