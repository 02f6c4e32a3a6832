"""Request-body limits applied by waitress before a body is read: waitress spools a whole body to disk before the
app runs, so the app's own limits come too late to protect the disk."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask
from itsdangerous import BadData
from werkzeug.http import parse_cookie
from waitress.channel import HTTPChannel
from waitress.parser import HTTPRequestParser

SignedIn = Callable[[str], bool]
"""Whether a Cookie header carries a validly signed session allowed to send large bodies."""
ADMIN_ROLE = "admin"
"""Uploads are admins' (dashboard.uploads_views); the session records the role at login."""


class _Adjustments:
    """waitress's settings with another body limit: one request's own."""

    def __init__(self, settings: Any, max_request_body_size: int) -> None:
        self._settings = settings
        self.max_request_body_size = max_request_body_size

    def __getattr__(self, name: str) -> Any:
        return getattr(self._settings, name)


def route_limited_channel(large_paths: frozenset[str], small: int, signed_in: SignedIn) -> type[HTTPChannel]:
    """A waitress channel class whose requests may carry more than `small` bytes only on `large_paths`, and only
    with a session cookie `signed_in` accepts: anyone else's large body is refused (413) before it is spooled."""

    class RouteLimitedParser(HTTPRequestParser):
        def parse_header(self, header_plus: bytes) -> None:
            super().parse_header(header_plus)
            if self.path not in large_paths or not signed_in(self.headers.get("COOKIE", "")):
                self.adj = _Adjustments(self.adj, small)

    class RouteLimitedChannel(HTTPChannel):
        parser_class = RouteLimitedParser

    return RouteLimitedChannel


def admin_signed_in(app: Flask, session_max_s: float, clock: Callable[[], float]) -> SignedIn:
    """Checks a Cookie header the way Flask will (signature), without the database: an admin's session, versioned
    and within its absolute limit. The app checks the rest (the version is current, the user enabled) once the
    body is in; this only keeps everyone else from making the server spool a large one."""
    serializer = app.session_interface.get_signing_serializer(app)
    cookie_name = app.config["SESSION_COOKIE_NAME"]

    def signed_in(header: str) -> bool:
        token = parse_cookie(header).get(cookie_name)  # Werkzeug's parser, as Flask reads it: bad cookies skipped
        try:
            session = serializer.loads(token) if token else None
        except BadData:
            return False
        return (isinstance(session, dict) and session.get("role") == ADMIN_ROLE and bool(session.get("version"))
                and isinstance(session.get("login_at"), float | int) and clock() - session["login_at"] <= session_max_s)

    return signed_in


def large_body_paths(app: Flask) -> frozenset[str]:
    """The URL paths of views that accept more than the app-wide limit (`dashboard.auth.body_limit`)."""
    return frozenset(
        rule.rule for rule in app.url_map.iter_rules()
        if getattr(app.view_functions[rule.endpoint], "vigil_max_body", None) is not None and not rule.arguments
    )
