"""Login and logout, and what guards every request: the login gate, roles, CSRF tokens, security headers."""

from __future__ import annotations

import hmac
import math
import secrets
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)

from alerts.users import Role, User
from dashboard.context import services
from dashboard.throttle import LoginThrottle

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
    key = (request.remote_addr, name[:_NAME_KEY_CHARS])
    wait = throttle.retry_after(key)
    if wait is not None:
        seconds = math.ceil(wait)
        message = f"Too many failed logins as {name!r} from your address. Try again in {seconds} s."
        return _login_page(message, 429, {"Retry-After": str(seconds)})
    user = services().users.verify(name, request.form.get("password", ""))
    if user is None:
        throttle.fail(key)
        return _login_page("Wrong user name or password.", 401)
    throttle.reset(key)
    session.clear()  # a fresh session: nothing from before the login carries over
    session["user"] = user.name
    csrf_token()
    return redirect(_next_url(), 303)


@bp.post("/logout")
def logout() -> Response:
    session.clear()
    return redirect(url_for("auth.login"), 303)


def _session_user() -> User | None:
    """The logged-in user, read afresh so that a disabled or deleted account loses access at once."""
    name = session.get("user")
    if name is None:
        return None
    user = services().users.get(name)
    if user is None or user.disabled:
        session.clear()
        return None
    return user


def _next_url() -> str:
    """Where to go after login: the `next` argument if it is a path on this site, else the home page."""
    target = request.values.get("next", "")
    parts = urlsplit(target)
    if target.startswith("/") and not target.startswith("//") and "\\" not in target and not parts.netloc:
        return target
    return "/"


def _login_page(error: str | None = None, status: int = 200, headers: dict[str, str] | None = None) -> Any:
    page = render_template("login.html", error=error, next=request.values.get("next", ""))
    return page, status, headers or {}
