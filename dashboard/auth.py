"""Login and logout, and what guards every request: the login gate, revocable sessions with idle and absolute
timeouts, roles, CSRF tokens, security headers."""

from __future__ import annotations

import hmac
import math
import re
import secrets
import time
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from itsdangerous import BadData, URLSafeTimedSerializer

from alerts.users import Role, User
from dashboard.context import services, settings
from dashboard.throttle import LoginThrottle, Refusal, Scope, client_network

bp = Blueprint("auth", __name__)

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; media-src 'self'; style-src 'self'; script-src 'self'; "
        "frame-ancestors 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}
STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_NAME_KEY_CHARS = 64
"""Only this much of a typed user name keys the login throttle, so long names cannot bloat it."""

DEVICE_COOKIE = "vigil_device"
"""Signed name of who last logged in from a browser: that browser is spared the throttle's account backoff."""
DEVICE_MAX_AGE_S = 90 * 24 * 3600
SESSION_RECHECK_S = 5.0
"""How often an open live stream asks the database whether its session still counts."""
_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]")

View = TypeVar("View", bound=Callable[..., Any])


def public(view: View) -> View:
    """Mark a view as open to anonymous visitors; every other view needs a login."""
    view.vigil_public = True  # type: ignore[attr-defined]
    return view


def role_required(role: Role) -> Callable[[View], View]:
    """Refuse (403) users whose role ranks below `role` (viewer < operator < admin)."""

    def decorate(view: View) -> View:
        @wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            user: User | None = g.get("user")
            if user is None:
                abort(401)
            if not user.may(role):
                abort(403, description=f"this needs the {role} role; you are {user.role}")
            return view(*args, **kwargs)

        guarded.vigil_role = role  # type: ignore[attr-defined]
        return guarded  # type: ignore[return-value]

    return decorate


def body_limit(max_bytes: Callable[[], int]) -> Callable[[View], View]:
    """Let the view's requests carry up to `max_bytes()` (checked before anything of the body is read)."""

    def decorate(view: View) -> View:
        view.vigil_max_body = max_bytes  # type: ignore[attr-defined]
        return view

    return decorate


def csrf_token() -> str:
    """This session's CSRF token, created on first use; forms send it as `csrf_token`, scripts as `X-CSRF-Token`."""
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(32)
    return session["csrf"]


@bp.before_app_request
def _guard() -> Response | None:
    g.user = _session_user()
    view = current_app.view_functions.get(request.endpoint or "")
    if g.user is None and request.endpoint != "static" and not getattr(view, "vigil_public", False):
        if request.path.startswith("/api/"):
            return jsonify(error="login required"), 401
        target = request.full_path.rstrip("?") if request.method == "GET" else None
        return redirect(url_for("auth.login", next=target))
    required = getattr(view, "vigil_role", None)
    if g.user is not None and required is not None and not g.user.may(required):
        abort(403, description=f"this needs the {required} role; you are {g.user.role}")  # before reading a body
    limit = getattr(view, "vigil_max_body", None)
    if limit is not None:
        request.max_content_length = limit()
        if request.content_length is not None and request.content_length > request.max_content_length:
            abort(413, description=f"the upload is {request.content_length} bytes, over the limit of "
                                   f"{request.max_content_length} bytes (finetune.max_upload_mb per file)")
    if request.method in STATE_CHANGING:
        sent = request.form.get("csrf_token") or request.headers.get("X-CSRF-Token") or ""
        expected = session.get("csrf", "")
        if not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
            abort(400, description="missing or invalid CSRF token: reload the page and try again")
    return None


@bp.after_app_request
def _security_headers(response: Response) -> Response:
    response.headers.update(SECURITY_HEADERS)
    return response


@bp.app_context_processor
def _template_helpers() -> dict[str, Any]:
    return {"current_user": g.get("user"), "csrf_token": csrf_token, "Role": Role}


@bp.route("/login", methods=["GET", "POST"])
@public
def login() -> Any:
    if request.method == "GET":
        return redirect(_next_url()) if g.user else _login_page()
    name = request.form.get("name", "").strip()
    throttle: LoginThrottle = current_app.extensions["vigil.throttle"]
    name_key, device = name[:_NAME_KEY_CHARS], _known_device(name)
    # A known browser counts as its own address: others' failures at this name and address do not hold it back.
    address = f"device:{device}" if device else client_network(request.remote_addr)
    refusal = throttle.attempt(address, name_key, known_device=device is not None)  # before the password
    if refusal is not None:
        seconds = math.ceil(refusal.retry_after_s)
        return _login_page(f"{_refusal_reason(refusal, name)} Try again in {seconds} s.", 429,
                           {"Retry-After": str(seconds)})
    user = services().users.verify(name, request.form.get("password", ""))
    if user is None:
        return _login_page("Wrong user name or password.", 401)
    throttle.succeeded(address, name_key)
    session.clear()  # a fresh session: nothing from before the login carries over
    now = settings().clock()
    session.update(user=user.name, role=str(user.role), login_at=now, seen=now)  # role: see vigil.request_limits
    keep_session(user)
    csrf_token()
    response = redirect(_next_url(), 303)
    known = {"name": user.name, "device": device or secrets.token_hex(8),
             "password": services().users.password_fingerprint(user.name)}
    response.set_cookie(DEVICE_COOKIE, _device_signer().dumps(known), max_age=DEVICE_MAX_AGE_S, httponly=True,
                        samesite="Lax", secure=settings().session_cookie_secure)
    return response


def _device_signer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.secret_key, salt="vigil.known-device")


def _known_device(name: str) -> str | None:
    """This browser's device id if `name` logged in from it within DEVICE_MAX_AGE_S with the password they still
    have (a new password, or the user deleted and made again, forgets every device), else None."""
    token = request.cookies.get(DEVICE_COOKIE)
    if not token:
        return None
    try:
        known = _device_signer().loads(token, max_age=DEVICE_MAX_AGE_S)
    except BadData:
        return None
    if not isinstance(known, dict) or known.get("name") != name or not isinstance(known.get("device"), str):
        return None
    current = services().users.password_fingerprint(name)
    return known["device"] if current is not None and known.get("password") == current else None


@bp.post("/logout")
def logout() -> Response:
    """End the user's sessions everywhere, not just this one: a copied cookie stops working too."""
    services().users.end_sessions(g.user.name)
    session.clear()
    return redirect(url_for("auth.login"), 303)


def keep_session(user: User) -> None:
    """Make this session carry `user`'s current session version: at login, or after they ended all their sessions
    from this one (a new password of their own) and keep this one."""
    session["version"] = user.session_version


def _refusal_reason(refusal: Refusal, name: str) -> str:
    if refusal.scope == Scope.ADDRESS:
        return "Too many login attempts from your address."
    if refusal.scope == Scope.ACCOUNT:
        return f"Too many failed logins as {name!r} lately."
    return f"Too many failed logins as {name!r} from your address."


def _session_user() -> User | None:
    """The logged-in user, read afresh so that a disabled or deleted account loses access at once.

    A session counts only while it carries the user's current session version (a logout, a new password or
    disabling the user replaces it) and has been neither idle nor open for too long.
    """
    name = session.get("user")
    if name is None:
        return None
    user = services().users.get(name)
    now = settings().clock()
    if user is None or user.disabled or not _session_current(user, now):
        session.clear()
        flash("Your session has ended: please log in again.", "info")
        return None
    session["seen"] = now
    return user


def session_ended_check() -> Callable[[], bool]:
    """For a response that outlives its request (a live stream): a callable, safe on any thread, telling whether
    this request's session has since ended (logout, new password, disabled, deleted, past its absolute limit).

    The database is asked at most once per SESSION_RECHECK_S, however often the stream calls it.
    """
    users, limits, name, recheck_s = services().users, settings(), g.user.name, SESSION_RECHECK_S
    version, login_at = session.get("version"), session.get("login_at", -math.inf)
    state = {"ended": False, "checked_at": time.monotonic()}

    def ended() -> bool:
        if not state["ended"] and time.monotonic() - state["checked_at"] >= recheck_s:
            state["checked_at"] = time.monotonic()
            user = users.get(name)
            state["ended"] = (user is None or user.disabled or user.session_version != version
                              or limits.clock() - login_at > limits.session_max_s)
        return state["ended"]

    return ended


def _session_current(user: User, now: float) -> bool:
    limits = settings()
    return (
        bool(user.session_version) and session.get("version") == user.session_version
        and now - session.get("seen", -math.inf) <= limits.session_idle_s
        and now - session.get("login_at", -math.inf) <= limits.session_max_s
    )


def _next_url() -> str:
    """Where to go after login: the `next` argument if it is a path on this site, else the home page.

    Control characters are stripped first, as browsers strip them, so `/\t/evil.example` is seen as what a
    browser would follow (and refused) and CR/LF never reach the Location header.
    """
    target = _CONTROL_CHARS.sub("", request.values.get("next", ""))
    parts = urlsplit(target)
    if target.startswith("/") and not target.startswith("//") and "\\" not in target and not parts.netloc:
        return target
    return "/"


def _login_page(error: str | None = None, status: int = 200, headers: dict[str, str] | None = None) -> Any:
    page = render_template("login.html", error=error, next=request.values.get("next", ""))
    return page, status, headers or {}
